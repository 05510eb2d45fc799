// constraint-without-not-valid: ADD FOREIGN KEY / CHECK scans the table under a lock.
#include <fmt/format.h>

#include "lint/rule.h"

namespace belay::lint {
using namespace tree;

const Rule& rule_constraint_without_not_valid() {
  static const Rule r{
      {"constraint-without-not-valid", "locks", Severity::error,
       "FOREIGN KEY or CHECK added to an existing table without NOT VALID",
       "Adding a FOREIGN KEY or CHECK constraint checks every existing row while holding a lock\n"
       "that blocks writes (ACCESS EXCLUSIVE for CHECK; SHARE ROW EXCLUSIVE on both tables for a\n"
       "foreign key). Add it NOT VALID (instant: only new rows are checked), then VALIDATE\n"
       "CONSTRAINT in a later migration: validation takes a lock that lets reads and writes go on."},
      {{true, {"alter table t add constraint t_u_fk foreign key (u_id) references u (id);"}},
       {true, {"alter table t add constraint t_a_check check (a > 0);"}},
       {false, {"alter table t add constraint t_u_fk foreign key (u_id) references u (id) not valid;"}},
       {false, {"create table t (a int, u_id int);\nalter table t add constraint t_a_check check (a > 0);"}}},
      [](const StmtCtx& c) {
        if (c.kind != "AlterTableStmt") return;
        std::string t = alter_table_name(c.node);
        if (c.is_new(t) || !cmds(c.node).is_array()) return;
        for (const json& cmd : cmds(c.node)) {
          const json& a = at(cmd, "AlterTableCmd");
          if (str(a, "subtype") != "AT_AddConstraint") continue;
          const json& con = at(at(a, "def"), "Constraint");
          std::string type = str(con, "contype");
          if ((type != "CONSTR_FOREIGN" && type != "CONSTR_CHECK") || flag(con, "skip_validation")) continue;
          std::string name = str(con, "conname");
          c.flag(location(con),
                 fmt::format("{} {}on {} is added without NOT VALID: every row is checked while writes are blocked",
                             type == "CONSTR_FOREIGN" ? "foreign key" : "check constraint", name.empty() ? "" : name + " ", t),
                 t, "ADD CONSTRAINT ... NOT VALID, then VALIDATE CONSTRAINT in a later migration");
        }
      },
      nullptr};
  return r;
}

}  // namespace belay::lint
