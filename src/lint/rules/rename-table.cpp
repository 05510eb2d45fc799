// rename-table: running code uses the old name.
#include <fmt/format.h>

#include "lint/rule.h"

namespace belay::lint {
using namespace tree;

const Rule& rule_rename_table() {
  static const Rule r{
      {"rename-table", "client-breakage", Severity::error,
       "RENAME of an existing table",
       "Code deployed before the migration queries the old name and fails once it changes. Rename\n"
       "and leave a view with the old name behind (CREATE VIEW old AS SELECT * FROM new), drop\n"
       "the view once no code uses it."},
      {{true, {"alter table t rename to t2;"}},
       {false, {"create table t (a int);\nalter table t rename to t2;"}},
       {false, {"alter index t_idx rename to t_a_idx;"}}},
      [](const StmtCtx& c) {
        if (c.kind != "RenameStmt" || str(c.node, "renameType") != "OBJECT_TABLE") return;
        std::string t = relation(at(c.node, "relation"));
        if (c.is_new(t)) return;
        c.flag(-1, fmt::format("table {} is renamed to {}: code using the old name breaks", t, str(c.node, "newname")), t,
               "rename, then CREATE VIEW with the old name until no code uses it");
      },
      nullptr};
  return r;
}

}  // namespace belay::lint
