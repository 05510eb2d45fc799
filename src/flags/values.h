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
    for (; n >= 4; p += 4, n -= 4)
      mix(uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24);
    while (n != 0) { tail_ |= uint32_t{*p++} << (8 * tail_n_++); --n; }
  }
  uint32_t finish() const {
    uint32_t h = h_;
    if (tail_n_ != 0) h ^= scramble(tail_);
    h ^= len_;
    h ^= h >> 16; h *= 0x85ebca6bu; h ^= h >> 13; h *= 0xc2b2ae35u; h ^= h >> 16;
    return h;
  }

 private:
  static uint32_t rotl(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }
  static uint32_t scramble(uint32_t k) { k *= 0xcc9e2d51u; k = rotl(k, 15); return k * 0x1b873593u; }
  void mix(uint32_t k) { h_ ^= scramble(k); h_ = rotl(h_, 13); h_ = h_ * 5 + 0xe6546b64u; }
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

// An open-addressed table of strings -> int32, for the flag index and constraint value
// sets. Slots are 8 bytes (hash, offset) so a 50-value IN set is 1 KB; the arena holds
// value, length and bytes of each key, read only on a hash match.
class StringTable {
 public:
  bool insert(std::string_view key, int32_t value);  // false when the key is already there
  int32_t find(std::string_view key) const;          // -1 when absent
  bool contains(std::string_view key) const { return find(key) >= 0; }
  size_t size() const { return count_; }

 private:
  static constexpr uint32_t kEmpty = 0xffffffffu;
  struct Slot { uint32_t hash = 0, off = kEmpty; };
  void grow();
  std::vector<char> arena_;
  std::vector<Slot> slots_;  // size is a power of two, at most half full
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

// A fast 32-bit hash for the tables (not the bucketing hash: that is MurmurHash3).
uint32_t table_hash(std::string_view s);

}  // namespace belay::flags::detail
