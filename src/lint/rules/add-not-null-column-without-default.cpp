// add-not-null-column-without-default: fails on a table with rows; old inserts break.
#include <fmt/format.h>

#include "lint/rule.h"

namespace belay::lint {
using namespace tree;

const Rule& rule_add_not_null_column_without_default() {
  static const Rule r{
      {"add-not-null-column-without-default", "client-breakage", Severity::error,
       "ADD COLUMN ... NOT NULL without a DEFAULT on an existing table",
       "On a table that has rows it fails outright (every existing row would be NULL), and once\n"
       "it exists every INSERT from code that does not know the column fails. Add it with a\n"
       "DEFAULT (instant since PostgreSQL 11), or nullable, backfill, then SET NOT NULL safely."},
      {{true, {"alter table t add column a int not null;"}},
       {false, {"alter table t add column a int not null default 0;"}},
       {false, {"alter table t add column a int;"}},
       {false, {"create table t (id int);\nalter table t add column a int not null;"}}},
      [](const StmtCtx& c) {
        if (c.kind != "AlterTableStmt" || !cmds(c.node).is_array()) return;
        std::string t = alter_table_name(c.node);
        if (c.is_new(t)) return;
        for (const json& cmd : cmds(c.node)) {
          const json& a = at(cmd, "AlterTableCmd");
          if (str(a, "subtype") != "AT_AddColumn") continue;
          const json& cd = at(at(a, "def"), "ColumnDef");
          bool not_null = flag(cd, "is_not_null"), has_default = !at(cd, "raw_default").is_null();
          const json& cons = at(cd, "constraints");
          if (cons.is_array())
            for (const json& x : cons) {
              std::string type = str(at(x, "Constraint"), "contype");
              not_null = not_null || type == "CONSTR_NOTNULL" || type == "CONSTR_PRIMARY";
              has_default = has_default || type == "CONSTR_DEFAULT" || type == "CONSTR_IDENTITY" || type == "CONSTR_GENERATED";
            }
          if (!not_null || has_default) continue;
          c.flag(location(cd),
                 fmt::format("{}.{} is added NOT NULL without a default: fails if {} has rows, and old code's inserts fail",
                             t, str(cd, "colname"), t),
                 t, "ADD COLUMN ... NOT NULL DEFAULT <value>, or nullable + backfill + SET NOT NULL");
        }
      },
      nullptr};
  return r;
}

}  // namespace belay::lint
