#include "backfill/convert.h"

#include <cctype>
#include <charconv>
#include <optional>

#include <fmt/format.h>

namespace belay::backfill {
namespace {

using K = JsonDoc::Kind;

bool digit(char c) { return c >= '0' && c <= '9'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// "-12", "12.000" (integral): the integer part; nullopt otherwise.
std::optional<std::string_view> integral(std::string_view s) {
  size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
  size_t digits_from = i;
  while (i < s.size() && digit(s[i])) ++i;
  if (i == digits_from) return std::nullopt;
  size_t end = i;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && s[i] == '0') ++i;
  }
  if (i != s.size()) return std::nullopt;
  return s.substr(0, end);
}

bool numeric_text(std::string_view s) {
  size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
  size_t d0 = i;
  while (i < s.size() && digit(s[i])) ++i;
  size_t int_digits = i - d0, frac_digits = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    size_t f0 = i;
    while (i < s.size() && digit(s[i])) ++i;
    frac_digits = i - f0;
  }
  if (int_digits + frac_digits == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    size_t e0 = i;
    while (i < s.size() && digit(s[i])) ++i;
    if (i == e0) return false;
  }
  return i == s.size();
}

bool has_nul(const JsonDoc& d, JsonDoc::Ref r) {
  auto k = d.kind(r);
  if (k == K::string) return d.text(r).find('\0') != std::string_view::npos;
  if (k == K::array || k == K::object) {
    for (uint32_t i = 0; i < d.size(r); ++i) {
      auto c = d.child(r, i);
      if (k == K::object && d.key(c).find('\0') != std::string_view::npos) return true;
      if (has_nul(d, c)) return true;
    }
  }
  return false;
}

Converted bad(std::string why) {
  Converted c;
  c.kind = Converted::Kind::bad;
  c.why = std::move(why);
  return c;
}

Converted value(bool coerced = false) {
  Converted c;
  c.kind = Converted::Kind::value;
  c.coerced = coerced;
  return c;
}

Converted expected(Type t, const JsonDoc& d, JsonDoc::Ref r) {
  std::string got = JsonDoc::kind_name(d.kind(r));
  auto k = d.kind(r);
  if (k == K::string || k == K::integer || k == K::number) {
    auto txt = d.text(r);
    got += fmt::format(" {}", k == K::string ? fmt::format("\"{}\"", clip(txt, 40)) : clip(txt, 40));
  }
  return bad(fmt::format("expected {}, got {}", type_name(t), got));
}

Converted to_int(std::string_view digits, const IntBounds& b, bool coerced, std::string& out) {
  if (!digits.empty() && digits[0] == '+') digits.remove_prefix(1);
  int64_t v = 0;
  auto res = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (res.ec != std::errc() || res.ptr != digits.data() + digits.size() || v < b.min || v > b.max)
    return bad(fmt::format("{} is out of range for the column ({}..{})", digits, b.min, b.max));
  out += digits;
  return value(coerced);
}

}  // namespace

std::string clip(std::string_view s, size_t max) {
  std::string out;
  if (s.size() <= max) {
    out = s;
  } else {
    size_t n = max > 3 ? max - 3 : 0;
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;  // not inside a character
    out = std::string(s.substr(0, n)) + "...";
  }
  for (auto& c : out)  // control characters (NUL included) never reach a message
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  return out;
}

void copy_escape(std::string& out, std::string_view s) {
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    const char* rep = nullptr;
    switch (c) {
      case '\\': rep = "\\\\"; break;
      case '\n': rep = "\\n"; break;
      case '\r': rep = "\\r"; break;
      case '\t': rep = "\\t"; break;
      default: continue;
    }
    out.append(s.data() + start, i - start);
    out += rep;
    start = i + 1;
  }
  out.append(s.data() + start, s.size() - start);
}

bool valid_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < 36; ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-') return false;
    } else if (!std::isxdigit(static_cast<unsigned char>(s[i]))) {
      return false;
    }
  }
  return true;
}

bool valid_timestamp(std::string_view s) {
  auto num = [&](size_t& i, size_t n, int& v) {
    if (i + n > s.size()) return false;
    v = 0;
    for (size_t k = 0; k < n; ++k) {
      if (!digit(s[i + k])) return false;
      v = v * 10 + (s[i + k] - '0');
    }
    i += n;
    return true;
  };
  size_t i = 0;
  int y, mo, d, h = 0, mi = 0, sec = 0;
  if (!num(i, 4, y) || i >= s.size() || s[i++] != '-' || !num(i, 2, mo) || i >= s.size() || s[i++] != '-' ||
      !num(i, 2, d))
    return false;
  if (y < 1 || mo < 1 || mo > 12) return false;
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  int maxd = days[mo - 1] + (mo == 2 && leap ? 1 : 0);
  if (d < 1 || d > maxd) return false;
  if (i == s.size()) return true;
  if (s[i] != 'T' && s[i] != 't' && s[i] != ' ') return false;
  ++i;
  if (!num(i, 2, h) || i >= s.size() || s[i++] != ':' || !num(i, 2, mi)) return false;
  if (h > 23 || mi > 59) return false;
  if (i < s.size() && s[i] == ':') {
    ++i;
    if (!num(i, 2, sec) || sec > 59) return false;
    if (i < s.size() && s[i] == '.') {
      ++i;
      size_t f0 = i;
      while (i < s.size() && digit(s[i])) ++i;
      if (i == f0) return false;
    }
  }
  if (i == s.size()) return true;
  if (s[i] == 'Z' || s[i] == 'z') return i + 1 == s.size();
  if (s[i] != '+' && s[i] != '-') return false;
  ++i;
  int oh, om = 0;
  if (!num(i, 2, oh) || oh > 15) return false;
  if (i < s.size() && s[i] == ':') ++i;
  if (i < s.size() && (!num(i, 2, om) || om > 59)) return false;
  return i == s.size();
}

Converted convert(const JsonDoc& d, JsonDoc::Ref r, Type t, bool coerce, const IntBounds& bounds, std::string& out) {
  if (r == JsonDoc::npos || d.kind(r) == K::null) return Converted{};
  auto k = d.kind(r);
  switch (t) {
    case Type::text:
      if (k == K::string) {
        auto s = d.text(r);
        if (s.find('\0') != std::string_view::npos)
          return bad("contains \\u0000, which PostgreSQL text cannot store");
        copy_escape(out, s);
        return value();
      }
      if (coerce && (k == K::integer || k == K::number)) {
        out += d.text(r);
        return value(true);
      }
      if (coerce && k == K::boolean) {
        out += d.node(r).b ? "true" : "false";
        return value(true);
      }
      return expected(t, d, r);
    case Type::int_: {
      if (k == K::integer) return to_int(d.text(r), bounds, false, out);
      if (!coerce || (k != K::number && k != K::string)) return expected(t, d, r);
      auto txt = k == K::string ? trim(d.text(r)) : d.text(r);
      auto whole = integral(txt);
      if (!whole) return expected(t, d, r);
      return to_int(*whole, bounds, true, out);
    }
    case Type::numeric:
      if (k == K::integer || k == K::number) {
        out += d.text(r);
        return value();
      }
      if (coerce && k == K::string) {
        auto txt = trim(d.text(r));
        if (!numeric_text(txt)) return expected(t, d, r);
        out += txt;
        return value(true);
      }
      return expected(t, d, r);
    case Type::boolean:
      if (k == K::boolean) {
        out += d.node(r).b ? 't' : 'f';
        return value();
      }
      if (coerce && k == K::integer && (d.text(r) == "0" || d.text(r) == "1")) {
        out += d.text(r) == "1" ? 't' : 'f';
        return value(true);
      }
      if (coerce && k == K::string) {
        std::string v(trim(d.text(r)));
        for (auto& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (v == "true" || v == "t" || v == "yes" || v == "y" || v == "on" || v == "1") {
          out += 't';
          return value(true);
        }
        if (v == "false" || v == "f" || v == "no" || v == "n" || v == "off" || v == "0") {
          out += 'f';
          return value(true);
        }
      }
      return expected(t, d, r);
    case Type::timestamptz:
      if (k == K::string && valid_timestamp(d.text(r))) {
        out += d.text(r);
        return value();
      }
      if (k == K::string) return bad(fmt::format("\"{}\" is not an ISO 8601 timestamp", clip(d.text(r), 40)));
      return expected(t, d, r);
    case Type::uuid:
      if (k == K::string && valid_uuid(d.text(r))) {
        out += d.text(r);
        return value();
      }
      return expected(t, d, r);
    case Type::jsonb:
      if (has_nul(d, r)) return bad("contains \\u0000, which PostgreSQL jsonb cannot store");
      copy_escape(out, d.dump(r));
      return value();
  }
  return expected(t, d, r);
}

}  // namespace belay::backfill
