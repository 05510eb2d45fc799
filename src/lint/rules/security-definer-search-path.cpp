// security-definer-search-path: a SECURITY DEFINER function without a fixed search_path.
#include <fmt/format.h>

#include "lint/rule.h"

namespace belay::lint {
using namespace tree;

const Rule& rule_security_definer_search_path() {
  static const Rule r{
      {"security-definer-search-path", "security", Severity::error,
       "SECURITY DEFINER function without SET search_path",
       "A SECURITY DEFINER function runs with its owner's rights but resolves unqualified names\n"
       "through the caller's search_path: a caller who can create objects in a schema on it can\n"
       "put a function or table there that the definer then uses with elevated rights. Pin it:\n"
       "SET search_path = '' (and qualify names) or a fixed list of trusted schemas."},
      {{true, {"create function f() returns int language sql security definer as 'select 1';"}},
       {true, {"create function f() returns int language sql as 'select 1';", "alter function f() security definer;"}},
       {false, {"create function f() returns int language sql security definer set search_path = '' as 'select 1';"}},
       {false, {"create function f() returns int language sql security definer as 'select 1';\n"
                "alter function f() set search_path = pg_catalog, public;"}},
       {false, {"create function f() returns int language sql as 'select 1';"}}},
      nullptr,
      [](const State& s, const Options&, std::vector<EndHit>& out) {
        for (auto& [name, f] : s.functions) {
          if (!f.security_definer || f.search_path) continue;
          out.push_back(EndHit{f.at, fmt::format("SECURITY DEFINER function {} has no fixed search_path", name), name,
                               "SET search_path = '' (and schema-qualify every name in the body)"});
        }
      }};
  return r;
}

}  // namespace belay::lint
