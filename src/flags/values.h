// Internal to src/flags: the value types constraints compare (numbers, dates, semantic
// versions, IP networks), MurmurHash3 as a stream (so the "groupId:" prefix is hashed once
// at load), and a small string set. Parsers return nullopt on anything invalid: Unleash
// evaluates an unparsable value as "no match", never as an error.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace belay::flags::detail {

// MurmurHash3 x86_32 fed in pieces: update("group:"), copy, update(value), finish().
class Murmur3 {
 public:
  explicit Murmur3(uint32_t seed = 0) : h_(seed) {}
  void update(std::string_view bytes) {
    auto p = reinterpret_cast<const unsigned char*>(bytes.data());
    size_t n = bytes.size();
    len_ += static_cast<uint32_t>(n);
    while (tail_n_ != 0 && n != 0) {  // complete a block left over from the last piece
      tail_ |= uint32_t{*p++} << (8 * tail_n_);
      --n;
      if (++tail_n_ == 4) { mix(tail_); tail_ = 0; tail_n_ = 0; }
    }
    for (; n >= 4; p += 4, n -= 4) mix(load32(p));
    while (n != 0) { tail_ |= uint32_t{*p++} << (8 * tail_n_++); --n; }
  }
  // finish() of a copy updated with `bytes`: what every rollout and variant bucket
  // computes. The stream is the pending tail then `bytes`, so block i > 0 starts at byte
  // 4i - pending of `bytes` and is one unaligned load; only block 0 joins the two.
  [[gnu::always_inline]] uint32_t finish_with(std::string_view bytes) const {
    auto p = reinterpret_cast<const unsigned char*>(bytes.data());
    const size_t n = bytes.size(), t = tail_n_, total = t + n, blocks = total / 4;
    uint32_t h = h_, k = tail_;
    if (blocks != 0) {
      size_t i = 0;
      if (t != 0) {  // n >= 4 - t here; bytes past the block shift out of the word
        const size_t need = 4 - t;
        const uint32_t w = n >= 4 ? load32(p)
                                  : uint32_t{p[0]} | (need > 1 ? uint32_t{p[1]} << 8 : 0) | (need > 2 ? uint32_t{p[2]} << 16 : 0);
        h = mix(h, k | w << (8 * t));
        i = 1;
      }
      for (; i < blocks; ++i) h = mix(h, load32(p + (4 * i - t)));
      const unsigned char* e = p + (4 * blocks - t);
      k = 0;
      switch (total & 3) {
        case 3: k |= uint32_t{e[2]} << 16; [[fallthrough]];
        case 2: k |= uint32_t{e[1]} << 8; [[fallthrough]];
        case 1: k |= e[0];
      }
    } else {
      for (size_t j = 0; j < n; ++j) k |= uint32_t{p[j]} << (8 * (t + j));
    }
    if ((total & 3) != 0) h ^= scramble(k);
    return fmix(h ^ (len_ + static_cast<uint32_t>(n)));
  }

  uint32_t finish() const { return finish_with({}); }

 private:
  static uint32_t load32(const unsigned char* p) {  // little-endian whatever the host; one load on x86
    return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
  }
  static uint32_t rotl(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }
  static uint32_t scramble(uint32_t k) { k *= 0xcc9e2d51u; k = rotl(k, 15); return k * 0x1b873593u; }
  static uint32_t mix(uint32_t h, uint32_t k) { h ^= scramble(k); h = rotl(h, 13); return h * 5 + 0xe6546b64u; }
  static uint32_t fmix(uint32_t h) {
    h ^= h >> 16; h *= 0x85ebca6bu; h ^= h >> 13; h *= 0xc2b2ae35u; h ^= h >> 16;
    return h;
  }
  void mix(uint32_t k) { h_ = mix(h_, k); }
  uint32_t h_;
  uint32_t tail_ = 0, tail_n_ = 0, len_ = 0;
};

// JavaScript's Number(text): trims whitespace, "" is 0, 0x/0o/0b prefixes, Infinity;
// nullopt where JavaScript gives NaN.
std::optional<double> parse_js_number(std::string_view s);

// ISO 8601 / RFC 3339 date or date-time ("2022-01-29", "2022-01-29T13:00:00.000Z",
// "...+02:00"; no offset = UTC) to milliseconds since the epoch.
std::optional<int64_t> parse_date_ms(std::string_view s);
int64_t now_ms();

// Semantic Versioning 2.0.0 as npm's semver reads it: surrounding whitespace and one
// leading "v" allowed, no leading zeros, numbers up to 2^53-1. (A context value starting
// with "v" is refused by the caller, as Unleash does.) The prerelease view points into the
// parsed text.
struct SemVer {
  uint64_t major = 0, minor = 0, patch = 0;
  std::string_view pre;
};
std::optional<SemVer> parse_semver(std::string_view s);
int compare(const SemVer& a, const SemVer& b);  // <0, 0, >0 by precedence (build ignored)

// An IPv4 or IPv6 address, or a network "addr/prefix" (a bare address is a /32 or /128).
// IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) count as IPv4.
struct IpNet {
  bool v6 = false;
  unsigned char addr[16] = {};
  int prefix = 0;
  bool contains(const IpNet& ip) const;
};
std::optional<IpNet> parse_ip_or_cidr(std::string_view s);

// ASCII lower case (what caseInsensitive folds; see docs in flags.h).
std::string ascii_lower(std::string_view s);
// Folds s into buf when it fits, else into spill; returns the folded view.
std::string_view ascii_lower(std::string_view s, char* buf, size_t cap, std::string& spill);

// Split "a, b ,c" on commas with surrounding whitespace, as Unleash's /\s*,\s*/.
std::vector<std::string> split_list(std::string_view s);

// An open-addressed table of strings -> int32, for the flag index, the interned IN values
// and small sets. A slot is 32 bytes and holds a key of up to 20 bytes itself (longer ones
// sit in an arena), so a lookup that hits reads one cache line: evaluation does two per
// call, and a second dependent load was most of their cost.
class StringTable {
 public:
  bool insert(std::string_view key, int32_t value);  // false when the key is already there
  int32_t find(std::string_view key) const;          // -1 when absent
  bool contains(std::string_view key) const { return find(key) >= 0; }
  size_t size() const { return count_; }

 private:
  static constexpr uint32_t kEmpty = 0xffffffffu;
  static constexpr size_t kInline = 20;
  struct alignas(32) Slot {
    uint32_t hash = 0;
    uint32_t len = kEmpty;             // kEmpty: a free slot
    int32_t value = 0;
    char key[kInline] = {};            // the key, or (longer) its offset in arena_
  };
  const char* key_of(const Slot& s) const {
    if (s.len <= kInline) return s.key;
    uint32_t off;
    std::memcpy(&off, s.key, 4);
    return arena_.data() + off;
  }
  void grow();
  std::vector<char> arena_;
  std::vector<Slot> slots_;  // size is a power of two, at most half full
  size_t mask_ = 0;          // slots_.size() - 1; 0 while there are none
  size_t count_ = 0;
};

// Membership of exact strings (IN values, user ids, override values).
class StringSet {
 public:
  void build(const std::vector<std::string>& items) {
    for (const auto& i : items) t_.insert(i, 0);
  }
  bool contains(std::string_view s) const { return t_.contains(s); }
  size_t size() const { return t_.size(); }

 private:
  StringTable t_;
};

using NameIndex = StringTable;

// A fast 32-bit hash for the tables (not the bucketing hash: that is MurmurHash3). Inline,
// with find(), because every evaluation does two lookups (flag name, IN value).
namespace table_bytes {
inline uint64_t load64(const unsigned char* p) { uint64_t v; std::memcpy(&v, p, 8); return v; }
inline uint64_t load32(const unsigned char* p) { uint32_t v; std::memcpy(&v, p, 4); return v; }
// 64x64 -> 128 multiply, folded: the mixing step of wyhash.
inline uint64_t fold(uint64_t a, uint64_t b) {
  __uint128_t r = static_cast<__uint128_t>(a) * b;
  return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
}
// Equality of n bytes without a call into libc: keys here are short (names, ids).
inline bool same(const unsigned char* a, const unsigned char* b, size_t n) {
  if (n >= 8) {
    for (size_t i = 0; i + 8 < n; i += 8)
      if (load64(a + i) != load64(b + i)) return false;
    return load64(a + n - 8) == load64(b + n - 8);
  }
  if (n >= 4) return load32(a) == load32(b) && load32(a + n - 4) == load32(b + n - 4);
  for (size_t i = 0; i < n; ++i)
    if (a[i] != b[i]) return false;
  return true;
}
constexpr uint64_t kP0 = 0xa0761d6478bd642full, kP1 = 0xe7037ed1a0b428dbull, kP2 = 0x8ebc6af09c88c6e3ull;
}  // namespace table_bytes

inline uint32_t table_hash(std::string_view s) {
  using namespace table_bytes;
  auto p = reinterpret_cast<const unsigned char*>(s.data());
  size_t n = s.size();
  uint64_t seed = kP0 ^ n, a = 0, b = 0;
  if (n <= 16) {
    if (n >= 8) { a = load64(p); b = load64(p + n - 8); }
    else if (n >= 4) { a = load32(p); b = load32(p + n - 4); }
    else if (n > 0) { a = uint64_t{p[0]} << 16 | uint64_t{p[n >> 1]} << 8 | p[n - 1]; }
  } else {
    size_t i = n;
    for (; i > 16; i -= 16, p += 16) seed = fold(load64(p) ^ kP1, load64(p + 8) ^ seed);
    a = load64(p + i - 16);
    b = load64(p + i - 8);
  }
  return static_cast<uint32_t>(fold(a ^ kP1, b ^ seed ^ kP2));
}

[[gnu::always_inline]] inline int32_t StringTable::find(std::string_view key) const {
  if (mask_ == 0) return -1;  // no slots yet
  const uint32_t h = table_hash(key);
  const Slot* slots = slots_.data();
  for (size_t at = h & mask_;; at = (at + 1) & mask_) {
    const Slot& s = slots[at];
    if (s.len == kEmpty) return -1;
    if (s.hash == h && s.len == key.size() &&
        table_bytes::same(reinterpret_cast<const unsigned char*>(key_of(s)),
                          reinterpret_cast<const unsigned char*>(key.data()), key.size()))
      return s.value;
  }
}

}  // namespace belay::flags::detail
