// drop-column: clients selecting or inserting the column break.
#include <fmt/format.h>

#include "lint/rule.h"

namespace belay::lint {
using namespace tree;

const Rule& rule_drop_column() {
  static const Rule r{
      {"drop-column", "client-breakage", Severity::error,
       "DROP COLUMN on an existing table",
       "Running code that selects, inserts or updates the column fails as soon as it is gone\n"
       "(ORMs that list every column break on any query of the table). Deploy code that no\n"
       "longer uses it first, then drop it in a later migration."},
      {{true, {"alter table t drop column a;"}},
       {false, {"alter table t add column a int;"}},
       {false, {"create table t (a int, b int);\nalter table t drop column b;"}}},
      [](const StmtCtx& c) {
        if (c.kind != "AlterTableStmt" || !cmds(c.node).is_array()) return;
        std::string t = alter_table_name(c.node);
        if (c.is_new(t)) return;
        for (const json& cmd : cmds(c.node)) {
          const json& a = at(cmd, "AlterTableCmd");
          if (str(a, "subtype") != "AT_DropColumn") continue;
          c.flag(-1, fmt::format("column {}.{} is dropped: code still using it breaks", t, str(a, "name")), t,
                 "deploy code that no longer reads or writes it, then drop it in a later migration");
        }
      },
      nullptr};
  return r;
}

}  // namespace belay::lint
