// policy-user-metadata: user_metadata is editable by the user.
#include <fmt/format.h>

#include "lint/rule.h"

namespace belay::lint {
using namespace tree;

const Rule& rule_policy_user_metadata() {
  static const Rule r{
      {"policy-user-metadata", "security", Severity::error,
       "A policy that reads user_metadata (users can edit it)",
       "Supabase users can change their own user_metadata (auth.updateUser), so a policy that\n"
       "trusts auth.jwt() -> 'user_metadata' (or raw_user_meta_data) lets anyone grant\n"
       "themselves the role or tenant it checks. Authorisation data belongs in app_metadata\n"
       "(only the server can write it) or in a table of your own."},
      {{true, {"create policy admin on t using ((select auth.jwt()) -> 'user_metadata' ->> 'role' = 'admin');"}},
       {false, {"create policy admin on t using ((select auth.jwt()) -> 'app_metadata' ->> 'role' = 'admin');"}}},
      [](const StmtCtx& c) {
        if (c.kind != "CreatePolicyStmt" && c.kind != "AlterPolicyStmt") return;
        bool found = false;
        int at_loc = -1;
        for (const char* part : {"qual", "with_check"})
          walk(at(c.node, part), [&](const json& j) {
            if (found) return;
            const json& a = at(j, "A_Const");
            std::string s = str(at(a, "sval"), "sval");
            const json& cr = at(j, "ColumnRef");
            for (auto& f : strings(at(cr, "fields"))) s += " " + f;
            if (s.find("user_metadata") != std::string::npos || s.find("raw_user_meta_data") != std::string::npos) {
              found = true;
              at_loc = location(a.is_object() ? a : cr);
            }
          });
        if (!found) return;
        c.flag(at_loc, fmt::format("policy {} trusts user_metadata, which every user can edit", str(c.node, "policy_name")),
               relation(at(c.node, "table")), "check app_metadata (server-only) or a table you control");
      },
      nullptr};
  return r;
}

}  // namespace belay::lint
