#include "flags/values.h"

#include <arpa/inet.h>

#include <charconv>
#include <chrono>
#include <cmath>

namespace belay::flags::detail {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Reads digits [0-9]{min,max} as a number.
bool read_int(std::string_view& s, int digits, int& out) {
  if (s.size() < static_cast<size_t>(digits)) return false;
  int v = 0;
  for (int i = 0; i < digits; ++i) {
    if (!is_digit(s[i])) return false;
    v = v * 10 + (s[i] - '0');
  }
  s.remove_prefix(digits);
  out = v;
  return true;
}

bool eat(std::string_view& s, char c) {
  if (s.empty() || s.front() != c) return false;
  s.remove_prefix(1);
  return true;
}

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

bool leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

}  // namespace

std::optional<double> parse_js_number(std::string_view s) {
  s = trim(s);
  if (s.empty()) return 0.0;
  bool neg = false;
  std::string_view body = s;
  if (body.front() == '+' || body.front() == '-') {
    neg = body.front() == '-';
    body.remove_prefix(1);
  }
  if (body == "Infinity") return neg ? -HUGE_VAL : HUGE_VAL;
  // 0x / 0o / 0b integers: JavaScript accepts them only without a sign.
  if (body.size() > 2 && body[0] == '0' && (body[1] == 'x' || body[1] == 'X' || body[1] == 'o' ||
                                            body[1] == 'O' || body[1] == 'b' || body[1] == 'B')) {
    if (body.size() != s.size()) return std::nullopt;
    int base = (body[1] == 'x' || body[1] == 'X') ? 16 : (body[1] == 'o' || body[1] == 'O') ? 8 : 2;
    double v = 0;
    for (char c : body.substr(2)) {
      int d = is_digit(c) ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : 99;
      if (d >= base) return std::nullopt;
      v = v * base + d;
    }
    return v;
  }
  // Decimal literal: digits [. digits] [e[+-]digits], at least one digit in the mantissa.
  size_t i = 0, mant = 0;
  while (i < body.size() && is_digit(body[i])) ++i, ++mant;
  if (i < body.size() && body[i] == '.') {
    ++i;
    while (i < body.size() && is_digit(body[i])) ++i, ++mant;
  }
  if (mant == 0) return std::nullopt;
  if (i < body.size() && (body[i] == 'e' || body[i] == 'E')) {
    ++i;
    if (i < body.size() && (body[i] == '+' || body[i] == '-')) ++i;
    size_t exp = 0;
    while (i < body.size() && is_digit(body[i])) ++i, ++exp;
    if (exp == 0) return std::nullopt;
  }
  if (i != body.size()) return std::nullopt;
  double v = 0;
  auto r = std::from_chars(body.data(), body.data() + body.size(), v);
  if (r.ec == std::errc::result_out_of_range) {
    // Overflow is Infinity in JavaScript, underflow 0.
    bool tiny = body.find("e-") != std::string_view::npos || body.find("E-") != std::string_view::npos;
    v = tiny ? 0.0 : HUGE_VAL;
  } else if (r.ec != std::errc{}) {
    return std::nullopt;
  }
  return neg ? -v : v;
}

std::optional<int64_t> parse_date_ms(std::string_view s) {
  s = trim(s);
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (!read_int(s, 4, y) || !eat(s, '-') || !read_int(s, 2, mo) || !eat(s, '-') || !read_int(s, 2, d))
    return std::nullopt;
  static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap(y) ? 1 : 0)) return std::nullopt;
  int64_t ms = 0, offset_min = 0;
  if (!s.empty()) {
    if (!(eat(s, 'T') || eat(s, 't') || eat(s, ' '))) return std::nullopt;
    if (!read_int(s, 2, h) || !eat(s, ':') || !read_int(s, 2, mi)) return std::nullopt;
    if (eat(s, ':')) {
      if (!read_int(s, 2, sec)) return std::nullopt;
      if (eat(s, '.') || eat(s, ',')) {  // fraction: milliseconds kept, like JavaScript
        int digits = 0;
        int64_t frac = 0;
        while (!s.empty() && is_digit(s.front())) {
          if (digits < 3) frac = frac * 10 + (s.front() - '0');
          ++digits;
          s.remove_prefix(1);
        }
        if (digits == 0) return std::nullopt;
        for (int k = digits; k < 3; ++k) frac *= 10;
        ms = frac;
      }
    }
    if (h > 23 || mi > 59 || sec > 59) return std::nullopt;
    if (eat(s, 'Z') || eat(s, 'z')) {
    } else if (!s.empty() && (s.front() == '+' || s.front() == '-')) {
      int sign = s.front() == '-' ? -1 : 1;
      s.remove_prefix(1);
      int oh = 0, om = 0;
      if (!read_int(s, 2, oh)) return std::nullopt;
      eat(s, ':');
      if (!read_int(s, 2, om) || oh > 23 || om > 59) return std::nullopt;
      offset_min = sign * (oh * 60 + om);
    }
    if (!s.empty()) return std::nullopt;
  }
  int64_t days = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - offset_min * 60;
  return secs * 1000 + ms;
}

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

namespace {

// A numeric identifier without leading zeros, fitting in 64 bits.
// A numeric identifier without leading zeros, at most JavaScript's MAX_SAFE_INTEGER (as
// npm's semver requires).
bool read_numeric(std::string_view s, uint64_t& out) {
  if (s.empty() || (s.size() > 1 && s[0] == '0')) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc{} && r.ptr == s.data() + s.size() && out <= 9007199254740991ull;
}

bool all_digits(std::string_view s) {
  for (char c : s) if (!is_digit(c)) return false;
  return !s.empty();
}

bool ident_char(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
}

// Dot-separated non-empty identifiers of [0-9A-Za-z-]; numeric ones without leading zeros
// when `numeric_rule` (prerelease; build metadata allows them).
bool valid_idents(std::string_view s, bool numeric_rule) {
  if (s.empty()) return false;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    std::string_view id = s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (id.empty()) return false;
    for (char c : id) if (!ident_char(c)) return false;
    if (numeric_rule && all_digits(id) && id.size() > 1 && id[0] == '0') return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

}  // namespace

std::optional<SemVer> parse_semver(std::string_view s) {
  if (s.size() > 256) return std::nullopt;
  s = trim(s);
  if (!s.empty() && s.front() == 'v') s.remove_prefix(1);
  size_t plus = s.find('+');
  if (plus != std::string_view::npos) {
    if (!valid_idents(s.substr(plus + 1), false)) return std::nullopt;
    s = s.substr(0, plus);
  }
  SemVer v;
  size_t dash = s.find('-');
  if (dash != std::string_view::npos) {
    v.pre = s.substr(dash + 1);
    if (!valid_idents(v.pre, true)) return std::nullopt;
    s = s.substr(0, dash);
  }
  size_t d1 = s.find('.');
  if (d1 == std::string_view::npos) return std::nullopt;
  size_t d2 = s.find('.', d1 + 1);
  if (d2 == std::string_view::npos) return std::nullopt;
  if (!read_numeric(s.substr(0, d1), v.major) || !read_numeric(s.substr(d1 + 1, d2 - d1 - 1), v.minor) ||
      !read_numeric(s.substr(d2 + 1), v.patch))
    return std::nullopt;
  return v;
}

int compare(const SemVer& a, const SemVer& b) {
  if (a.major != b.major) return a.major < b.major ? -1 : 1;
  if (a.minor != b.minor) return a.minor < b.minor ? -1 : 1;
  if (a.patch != b.patch) return a.patch < b.patch ? -1 : 1;
  if (a.pre.empty() || b.pre.empty()) {  // a release outranks its prereleases
    if (a.pre.empty() && b.pre.empty()) return 0;
    return a.pre.empty() ? 1 : -1;
  }
  std::string_view x = a.pre, y = b.pre;
  while (true) {
    size_t dx = x.find('.'), dy = y.find('.');
    std::string_view ix = x.substr(0, dx), iy = y.substr(0, dy);
    bool nx = all_digits(ix), ny = all_digits(iy);
    int c = 0;
    if (nx && ny) {
      // No leading zeros: the longer number is the larger.
      c = ix.size() != iy.size() ? (ix.size() < iy.size() ? -1 : 1) : ix.compare(iy);
    } else if (nx != ny) {
      c = nx ? -1 : 1;  // numeric identifiers have lower precedence
    } else {
      c = ix.compare(iy);
    }
    if (c != 0) return c < 0 ? -1 : 1;
    bool ex = dx == std::string_view::npos, ey = dy == std::string_view::npos;
    if (ex || ey) return ex == ey ? 0 : (ex ? -1 : 1);
    x = x.substr(dx + 1);
    y = y.substr(dy + 1);
  }
}

bool IpNet::contains(const IpNet& ip) const {
  if (ip.v6 != v6) return false;
  int full = prefix / 8, rest = prefix % 8;
  if (std::memcmp(addr, ip.addr, static_cast<size_t>(full)) != 0) return false;
  if (rest == 0) return true;
  unsigned mask = (0xffu << (8 - rest)) & 0xffu;
  return (addr[full] & mask) == (ip.addr[full] & mask);
}

std::optional<IpNet> parse_ip_or_cidr(std::string_view s) {
  s = trim(s);
  std::string_view host = s;
  int prefix = -1;
  size_t slash = s.find('/');
  if (slash != std::string_view::npos) {
    host = s.substr(0, slash);
    std::string_view p = s.substr(slash + 1);
    if (p.empty() || p.size() > 3 || !all_digits(p)) return std::nullopt;
    prefix = 0;
    for (char c : p) prefix = prefix * 10 + (c - '0');
  }
  char buf[64];
  if (host.empty() || host.size() >= sizeof buf) return std::nullopt;
  std::memcpy(buf, host.data(), host.size());
  buf[host.size()] = '\0';
  IpNet n;
  if (inet_pton(AF_INET, buf, n.addr) == 1) {
    n.v6 = false;
    if (prefix > 32) return std::nullopt;
    n.prefix = prefix < 0 ? 32 : prefix;
  } else if (inet_pton(AF_INET6, buf, n.addr) == 1) {
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (prefix > 128) return std::nullopt;
    n.v6 = true;
    n.prefix = prefix < 0 ? 128 : prefix;
    if (std::memcmp(n.addr, mapped, 12) == 0 && n.prefix >= 96) {
      std::memmove(n.addr, n.addr + 12, 4);
      std::memset(n.addr + 4, 0, 12);
      n.v6 = false;
      n.prefix -= 96;
    }
  } else {
    return std::nullopt;
  }
  // Clear host bits so two spellings of one network compare equal.
  for (int bit = n.prefix; bit < (n.v6 ? 128 : 32); ++bit) n.addr[bit / 8] &= static_cast<unsigned char>(~(0x80u >> (bit % 8)));
  return n;
}

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string_view ascii_lower(std::string_view s, char* buf, size_t cap, std::string& spill) {
  char* out = buf;
  if (s.size() > cap) {
    spill.assign(s);
    out = spill.data();
  }
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    out[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  return {out, s.size()};
}

std::vector<std::string> split_list(std::string_view s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t comma = s.find(',', start);
    std::string_view part = s.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    // /\s*,\s*/ eats whitespace beside commas only, not at the ends of the whole list.
    if (start != 0) while (!part.empty() && is_space(part.front())) part.remove_prefix(1);
    if (comma != std::string_view::npos) while (!part.empty() && is_space(part.back())) part.remove_suffix(1);
    out.emplace_back(part);
    if (comma == std::string_view::npos) return out;
    start = comma + 1;
  }
}

void StringTable::grow() {
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(old.empty() ? 8 : old.size() * 2, Slot{});
  const size_t mask = mask_ = slots_.size() - 1;
  for (const auto& s : old) {
    if (s.len == kEmpty) continue;
    size_t at = s.hash & mask;
    while (slots_[at].len != kEmpty) at = (at + 1) & mask;
    slots_[at] = s;
  }
}

bool StringTable::insert(std::string_view key, int32_t value) {
  if (value < 0 || key.size() >= kEmpty || find(key) >= 0) return false;
  if ((count_ + 1) * 2 > slots_.size()) grow();
  Slot slot;
  slot.hash = table_hash(key);
  slot.len = static_cast<uint32_t>(key.size());
  slot.value = value;
  if (key.size() <= kInline) {
    std::memcpy(slot.key, key.data(), key.size());
  } else {
    const uint32_t off = static_cast<uint32_t>(arena_.size());
    std::memcpy(slot.key, &off, 4);
    arena_.insert(arena_.end(), key.begin(), key.end());
  }
  size_t mask = slots_.size() - 1;
  size_t at = slot.hash & mask;
  while (slots_[at].len != kEmpty) at = (at + 1) & mask;
  slots_[at] = slot;
  ++count_;
  return true;
}


}  // namespace belay::flags::detail
