// rename-column: running code uses the old name.
#include <fmt/format.h>

#include "lint/rule.h"

namespace belay::lint {
using namespace tree;

const Rule& rule_rename_column() {
  static const Rule r{
      {"rename-column", "client-breakage", Severity::error,
       "RENAME COLUMN on an existing table",
       "Code deployed before the migration uses the old name and fails the moment it changes.\n"
       "Expand and contract instead: add the new column, write both, backfill, move readers,\n"
       "then drop the old one (or expose the new name through a view)."},
      {{true, {"alter table t rename column a to b;"}},
       {false, {"create table t (a int);\nalter table t rename column a to b;"}}},
      [](const StmtCtx& c) {
        if (c.kind != "RenameStmt" || str(c.node, "renameType") != "OBJECT_COLUMN") return;
        std::string t = relation(at(c.node, "relation"));
        if (c.is_new(t)) return;
        c.flag(-1, fmt::format("column {}.{} is renamed to {}: code using the old name breaks", t, str(c.node, "subname"),
                               str(c.node, "newname")),
               t, "add the new column, write both, backfill, switch readers, drop the old one");
      },
      nullptr};
  return r;
}

}  // namespace belay::lint
