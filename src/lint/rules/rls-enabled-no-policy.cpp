// rls-enabled-no-policy: RLS on, no policy: every non-owner query sees nothing.
#include <fmt/format.h>

#include "lint/rule.h"

namespace belay::lint {

const Rule& rule_rls_enabled_no_policy() {
  static const Rule r{
      {"rls-enabled-no-policy", "security", Severity::info,
       "Row level security enabled on a table with no policy",
       "With RLS on and no policy, every role but the owner (and service_role) reads no rows and\n"
       "writes none: safe, but often an oversight that shows up as an empty screen. Add the\n"
       "policies the application needs, or ignore this when the table is server-only."},
      {{true, {"create table t (id int);\nalter table t enable row level security;"}},
       {false, {"create table t (id int);\nalter table t enable row level security;\n"
                "create policy r on t for select using (true);"}}},
      nullptr,
      [](const State& s, const Options&, std::vector<EndHit>& out) {
        for (auto& [name, t] : s.tables) {
          if (t.unit < 0 || !t.rls_anywhere || t.policies > 0) continue;
          out.push_back(EndHit{t.created, fmt::format("table {} has row level security enabled but no policy: clients see no rows", name),
                               name, "CREATE POLICY ... ON " + name});
        }
      }};
  return r;
}

}  // namespace belay::lint
