// policy-always-true: a write policy that lets anyone through.
#include <fmt/format.h>

#include "lint/rule.h"

namespace belay::lint {
using namespace tree;

const Rule& rule_policy_always_true() {
  static const Rule r{
      {"policy-always-true", "security", Severity::error,
       "INSERT / UPDATE / DELETE / ALL policy whose USING or WITH CHECK is always true",
       "USING (true) or WITH CHECK (true) on a write policy lets every role it applies to (anon\n"
       "and authenticated by default) change every row. Compare with the caller instead, e.g.\n"
       "USING ((select auth.uid()) = user_id). Read-only (SELECT) policies for public data are\n"
       "not flagged."},
      {{true, {"create policy w on t for update using (true);"}},
       {true, {"create policy w on t for insert with check (1 = 1);"}},
       {true, {"create policy w on t using ((select auth.uid()) = owner) with check ('true'::boolean);"}},
       {false, {"create policy r on t for select using (true);"}},
       {false, {"create policy w on t for delete using ((select auth.uid()) = owner);"}}},
      [](const StmtCtx& c) {
        if (c.kind != "CreatePolicyStmt" && c.kind != "AlterPolicyStmt") return;
        std::string cmd = str(c.node, "cmd_name");
        if (cmd == "select") return;
        std::string t = relation(at(c.node, "table"));
        for (const char* part : {"qual", "with_check"}) {
          const json& e = at(c.node, part);
          if (e.is_null() || !always_true(e)) continue;
          c.flag(-1, fmt::format("policy {} on {} ({}) has {} that is always true: anyone it applies to can {} every row",
                                 str(c.node, "policy_name"), t, cmd.empty() ? "all" : cmd,
                                 std::string(part) == "qual" ? "USING" : "WITH CHECK", cmd == "insert" ? "insert" : "change"),
                 t, "compare with the caller: USING ((select auth.uid()) = user_id)");
        }
      },
      nullptr};
  return r;
}

}  // namespace belay::lint
