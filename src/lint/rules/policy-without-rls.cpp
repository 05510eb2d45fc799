// policy-without-rls: policies do nothing until RLS is enabled.
#include <fmt/format.h>

#include "lint/rule.h"

namespace belay::lint {

const Rule& rule_policy_without_rls() {
  static const Rule r{
      {"policy-without-rls", "security", Severity::error,
       "A policy on a table whose row level security is never enabled",
       "Policies are ignored until ALTER TABLE ... ENABLE ROW LEVEL SECURITY: the author believes\n"
       "the table is protected while every row is visible. Enable RLS on the table (tables that\n"
       "predate the migrations are not judged: belay cannot see them)."},
      {{true, {"create table private.t (owner uuid);\ncreate policy own on private.t using (owner = auth.uid());"}},
       {false, {"create table t (owner uuid);\nalter table t enable row level security;\n"
                "create policy own on t using (owner = (select auth.uid()));"}},
       {false, {"create policy own on existing_table using (true);"}}},
      nullptr,
      [](const State& s, const Options&, std::vector<EndHit>& out) {
        for (const Policy& p : s.policies) {
          const Table* t = s.table(p.table);
          if (!t || t->unit < 0 || t->rls_anywhere) continue;
          out.push_back(EndHit{p.at, fmt::format("policy on {} has no effect: row level security is never enabled on it", p.table),
                               p.table, "ALTER TABLE " + p.table + " ENABLE ROW LEVEL SECURITY"});
        }
      }};
  return r;
}

}  // namespace belay::lint
