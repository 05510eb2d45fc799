// policy-per-row-auth-call: auth.uid() etc. evaluated once per row.
#include <fmt/format.h>

#include "lint/rule.h"

namespace belay::lint {
using namespace tree;

const Rule& rule_policy_per_row_auth_call() {
  static const Rule r{
      {"policy-per-row-auth-call", "security", Severity::warning,
       "auth.uid() / auth.jwt() / current_setting() in a policy, not wrapped in (select ...)",
       "A function call in a policy is evaluated for every row the query touches; on large tables\n"
       "that turns index scans into slow per-row checks. Wrapped in a scalar sub-select,\n"
       "(select auth.uid()), PostgreSQL evaluates it once per statement (an initPlan). Supabase's\n"
       "own advisor reports the same (auth_rls_initplan)."},
      {{true, {"create policy own on t for select using (auth.uid() = user_id);"}},
       {true, {"create policy own on t for select using (user_id = current_setting('app.user')::uuid);"}},
       {false, {"create policy own on t for select using ((select auth.uid()) = user_id);"}},
       {false, {"create policy own on t for select using (user_id = (select current_setting('app.user'))::uuid);"}}},
      [](const StmtCtx& c) {
        if (c.kind != "CreatePolicyStmt" && c.kind != "AlterPolicyStmt") return;
        static const std::vector<std::string> calls = {"auth.uid", "auth.jwt", "auth.role", "auth.email",
                                                       "current_setting", "pg_catalog.current_setting"};
        for (const char* part : {"qual", "with_check"}) {
          const json* f = find_call(at(c.node, part), calls, true);
          if (!f) continue;
          std::string name = call_name(*f);
          c.flag(location(*f), fmt::format("{}() in policy {} is evaluated for every row", name, str(c.node, "policy_name")),
                 relation(at(c.node, "table")), fmt::format("wrap it: (select {}())", name));
          return;
        }
      },
      nullptr};
  return r;
}

}  // namespace belay::lint
