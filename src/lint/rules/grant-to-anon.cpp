// grant-to-anon: table privileges for the anonymous API role.
#include <fmt/format.h>

#include "lint/rule.h"

namespace belay::lint {
using namespace tree;

const Rule& rule_grant_to_anon() {
  static const Rule r{
      {"grant-to-anon", "security", Severity::error,
       "GRANT on tables to anon (or PUBLIC)",
       "anon is the role of every request made with the public anon key, i.e. anyone on the\n"
       "internet. A table grant to anon (or PUBLIC, which includes it) leaves RLS as the only\n"
       "barrier, and a write privilege makes a missing policy a data-loss incident. Grant to\n"
       "authenticated, or to anon only SELECT on tables meant to be public, with RLS on."},
      {{true, {"grant all on table notes to anon;"}},
       {true, {"grant insert, update on all tables in schema public to anon;"}},
       {true, {"grant select on notes to public;"}},
       {false, {"grant select on notes to authenticated;"}},
       {false, {"revoke all on notes from anon;"}},
       {false, {"grant execute on function f() to anon;"}}},
      [](const StmtCtx& c) {
        if (c.kind != "GrantStmt" || !flag(c.node, "is_grant") || str(c.node, "objtype") != "OBJECT_TABLE") return;
        const json& grantees = at(c.node, "grantees");
        if (!grantees.is_array()) return;
        for (const json& g : grantees) {
          std::string role = role_name(g);
          if (role != "anon" && role != "public") continue;
          std::string privs;
          const json& p = at(c.node, "privileges");
          if (p.is_array())
            for (const json& x : p) privs += (privs.empty() ? "" : ", ") + str(at(x, "AccessPriv"), "priv_name");
          if (privs.empty()) privs = "all";
          std::string target;
          if (str(c.node, "targtype") == "ACL_TARGET_ALL_IN_SCHEMA") target = "every table in the schema";
          else if (at(c.node, "objects").is_array())
            for (const json& o : at(c.node, "objects"))
              target += (target.empty() ? "" : ", ") + relation(at(o, "RangeVar"));
          c.flag(location(at(g, "RoleSpec")),
                 fmt::format("{} on {} granted to {}: anyone with the anon key holds it", privs, target, role), target,
                 "grant to authenticated; give anon at most SELECT on public tables, with RLS on");
        }
      },
      nullptr};
  return r;
}

}  // namespace belay::lint
