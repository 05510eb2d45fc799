// set-not-null-without-check: SET NOT NULL scans the table under ACCESS EXCLUSIVE.
#include <fmt/format.h>

#include "lint/rule.h"

namespace belay::lint {
using namespace tree;

const Rule& rule_set_not_null_without_check() {
  static const Rule r{
      {"set-not-null-without-check", "locks", Severity::error,
       "ALTER COLUMN SET NOT NULL without a validated CHECK (col IS NOT NULL) first",
       "SET NOT NULL scans the whole table under an ACCESS EXCLUSIVE lock (no reads, no writes).\n"
       "Since PostgreSQL 12 the scan is skipped when a validated CHECK (col IS NOT NULL) already\n"
       "proves it. Safe sequence: ADD CONSTRAINT c CHECK (col IS NOT NULL) NOT VALID; in a later\n"
       "migration VALIDATE CONSTRAINT c (weak lock); then SET NOT NULL (instant) and DROP the CHECK."},
      {{true, {"alter table t alter column a set not null;"}},
       {true, {"alter table t add constraint a_nn check (a is not null) not valid;\nalter table t alter column a set not null;"}},
       {false, {"alter table t add constraint a_nn check (a is not null) not valid;",
                "alter table t validate constraint a_nn;",
                "alter table t alter column a set not null;"}},
       {false, {"create table t (a int);\nalter table t alter column a set not null;"}}},
      [](const StmtCtx& c) {
        if (c.kind != "AlterTableStmt" || !cmds(c.node).is_array()) return;
        std::string t = alter_table_name(c.node);
        if (c.is_new(t)) return;
        const Table* table = c.state.table(t);
        for (const json& cmd : cmds(c.node)) {
          const json& a = at(cmd, "AlterTableCmd");
          if (str(a, "subtype") != "AT_SetNotNull") continue;
          std::string col = str(a, "name");
          if (c.opt.pg_version >= 12 && table && table->not_null_checked.count(col)) continue;
          c.flag(-1, fmt::format("SET NOT NULL on {}.{} scans the table while reads and writes wait", t, col), t,
                 "ADD CHECK (" + col + " IS NOT NULL) NOT VALID, VALIDATE it in a later migration, then SET NOT NULL");
        }
      },
      nullptr};
  return r;
}

}  // namespace belay::lint
