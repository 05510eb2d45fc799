// unique-without-using-index: ADD UNIQUE / PRIMARY KEY builds the index under ACCESS EXCLUSIVE.
#include <fmt/format.h>

#include "lint/rule.h"

namespace belay::lint {
using namespace tree;

const Rule& rule_unique_without_using_index() {
  static const Rule r{
      {"unique-without-using-index", "locks", Severity::error,
       "UNIQUE or PRIMARY KEY added to an existing table without USING INDEX",
       "ADD CONSTRAINT ... UNIQUE / PRIMARY KEY builds its index while holding an ACCESS EXCLUSIVE\n"
       "lock: no reads or writes until the build is done. Build the index first with CREATE UNIQUE\n"
       "INDEX CONCURRENTLY (its own migration), then ADD CONSTRAINT name UNIQUE USING INDEX idx,\n"
       "which is instant."},
      {{true, {"alter table t add constraint t_email_key unique (email);"}},
       {true, {"alter table t add primary key (id);"}},
       {false, {"alter table t add constraint t_email_key unique using index t_email_idx;"}},
       {false, {"create table t (id int, email text);\nalter table t add primary key (id);"}}},
      [](const StmtCtx& c) {
        if (c.kind != "AlterTableStmt" || !cmds(c.node).is_array()) return;
        std::string t = alter_table_name(c.node);
        if (c.is_new(t)) return;
        for (const json& cmd : cmds(c.node)) {
          const json& a = at(cmd, "AlterTableCmd");
          if (str(a, "subtype") != "AT_AddConstraint") continue;
          const json& con = at(at(a, "def"), "Constraint");
          std::string type = str(con, "contype");
          if ((type != "CONSTR_UNIQUE" && type != "CONSTR_PRIMARY") || !str(con, "indexname").empty()) continue;
          c.flag(location(con), fmt::format("{} on {} builds its index while reads and writes wait",
                                            type == "CONSTR_UNIQUE" ? "UNIQUE" : "PRIMARY KEY", t),
                 t, "CREATE UNIQUE INDEX CONCURRENTLY first, then ADD CONSTRAINT ... USING INDEX");
        }
      },
      nullptr};
  return r;
}

}  // namespace belay::lint
