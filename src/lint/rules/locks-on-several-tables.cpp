// locks-on-several-tables: strong locks on several existing tables in one transaction.
#include <fmt/format.h>

#include "lint/rule.h"

namespace belay::lint {

const Rule& rule_locks_on_several_tables() {
  static const Rule r{
      {"locks-on-several-tables", "locks", Severity::warning,
       "Blocking locks on several existing tables in one transaction",
       "Each strong lock is held until the transaction commits: the first table stays blocked\n"
       "while the migration waits for the next one, and two sessions taking the same tables in a\n"
       "different order deadlock. Change one busy table per migration."},
      {{true, {"alter table a add column x int;\nalter table b add column y int;"}},
       {false, {"alter table a add column x int;", "alter table b add column y int;"}},
       {false, {"alter table a add column x int;\nalter table a add column y int;"}},
       {false, {"create table b (id int);\nalter table a add column x int;\ncreate index b_id on b (id);"}}},
      [](const StmtCtx& c) {
        std::string t = blocking_lock_table(c.kind, c.node, c.state);
        if (t.empty() || c.state.strong_locks_in_tx.count(t) || c.state.strong_locks_in_tx.empty()) return;
        std::string others;
        for (auto& o : c.state.strong_locks_in_tx) others += (others.empty() ? "" : ", ") + o;
        c.flag(-1, fmt::format("{} is locked in the same transaction that already holds locks on {}", t, others), t,
               "split the migration: one busy table per migration");
      },
      nullptr};
  return r;
}

}  // namespace belay::lint
