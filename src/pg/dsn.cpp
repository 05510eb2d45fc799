// DSN handling that must never leak a password.
#include <libpq-fe.h>

#include <cctype>
#include <regex>

#include "pg/pg.h"

namespace belay::pg {
namespace {

// Position and length of the password inside a URL's userinfo, or npos.
std::pair<size_t, size_t> url_userinfo_password(std::string_view dsn) {
  auto scheme = dsn.find("://");
  if (scheme == std::string_view::npos) return {std::string_view::npos, 0};
  size_t start = scheme + 3;
  size_t end = dsn.find_first_of("/?", start);
  if (end == std::string_view::npos) end = dsn.size();
  auto at = dsn.rfind('@', end);
  if (at == std::string_view::npos || at < start) return {std::string_view::npos, 0};
  auto colon = dsn.find(':', start);
  if (colon == std::string_view::npos || colon > at) return {std::string_view::npos, 0};
  return {colon + 1, at - colon - 1};
}

const std::regex& url_param_re() {
  static const std::regex re(R"(([?&]password=)([^&#]*))", std::regex::icase);
  return re;
}
const std::regex& kv_re() {
  // Unquoted values may hold backslash escapes ("a\ b" is "a b" to libpq).
  static const std::regex re(R"((^|\s)(password\s*=\s*)('(?:[^'\\]|\\.)*'|(?:[^\s\\]|\\.)*))", std::regex::icase);
  return re;
}

// A non-empty password written in the DSN, found without libpq (which refuses the whole
// DSN when, say, a URL has an unknown query parameter).
bool written_password(const std::string& dsn) {
  if (dsn.rfind("postgres://", 0) == 0 || dsn.rfind("postgresql://", 0) == 0) {
    auto [pos, len] = url_userinfo_password(dsn);
    if (pos != std::string::npos && len > 0) return true;
    for (auto it = std::sregex_iterator(dsn.begin(), dsn.end(), url_param_re()); it != std::sregex_iterator(); ++it)
      if ((*it)[2].length() > 0) return true;
    return false;
  }
  for (auto it = std::sregex_iterator(dsn.begin(), dsn.end(), kv_re()); it != std::sregex_iterator(); ++it)
    if ((*it)[3].length() > 0 && (*it)[3].str() != "''") return true;
  return false;
}

}  // namespace

bool is_url(std::string_view s) {
  return s.rfind("postgres://", 0) == 0 || s.rfind("postgresql://", 0) == 0;
}

std::string password_of(std::string_view dsn) {
  // libpq's own parser knows every form (URL, key=value, quoting, percent-encoding).
  std::string d(dsn);
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(d.c_str(), &err);
  if (err) PQfreemem(err);
  std::string pw;
  if (opts) {
    for (auto* o = opts; o->keyword; ++o)
      if (std::string_view(o->keyword) == "password" && o->val) pw = o->val;
    PQconninfoFree(opts);
  }
  return pw;
}

bool has_password(std::string_view dsn) {
  return !password_of(dsn).empty() || written_password(std::string(dsn));
}

std::string redact(std::string_view dsn) {
  std::string out(dsn);
  if (is_url(out)) {
    auto [pos, len] = url_userinfo_password(out);
    if (pos != std::string::npos) out.replace(pos, len, "****");
    out = std::regex_replace(out, url_param_re(), "$1****");
  } else {
    out = std::regex_replace(out, kv_re(), "$1$2****");
  }
  return scrub(std::move(out), password_of(dsn));
}

std::string scrub(std::string text, std::string_view secret) {
  if (secret.empty()) return text;
  size_t pos = 0;
  while ((pos = text.find(secret, pos)) != std::string::npos) {
    text.replace(pos, secret.size(), "****");
    pos += 4;
  }
  return text;
}

}  // namespace belay::pg
