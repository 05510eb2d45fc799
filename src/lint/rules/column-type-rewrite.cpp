// column-type-rewrite: ALTER COLUMN TYPE rewrites the table unless the cast is binary-compatible.
#include <fmt/format.h>

#include "lint/rule.h"
#include "lint/rules/types.h"

namespace belay::lint {
using namespace tree;

const Rule& rule_column_type_rewrite() {
  static const Rule r{
      {"column-type-rewrite", "locks", Severity::error,
       "ALTER COLUMN TYPE that rewrites an existing table",
       "Changing a column's type rewrites the whole table and rebuilds its indexes under an ACCESS\n"
       "EXCLUSIVE lock: no reads or writes for the duration. Only a few changes are free:\n"
       "varchar(n) to a larger varchar or to text, numeric(p,s) to a larger precision with the\n"
       "same scale, dropping a length limit. Otherwise add a new column, backfill it in batches,\n"
       "switch readers over, then drop the old column."},
      {{true, {"alter table t alter column a type bigint;"}},
       {true, {"alter table t alter column a type varchar(10);"}},
       {true, {"create table t (a varchar(100));", "alter table t alter column a type varchar(50);"}},
       {false, {"alter table t alter column a type text;"}},
       {false, {"create table t (a varchar(100));", "alter table t alter column a type varchar(200);"}},
       {false, {"create table t (a int);\nalter table t alter column a type bigint;"}}},
      [](const StmtCtx& c) {
        if (c.kind != "AlterTableStmt" || !cmds(c.node).is_array()) return;
        std::string t = alter_table_name(c.node);
        if (c.is_new(t)) return;
        for (const json& cmd : cmds(c.node)) {
          const json& a = at(cmd, "AlterTableCmd");
          if (str(a, "subtype") != "AT_AlterColumnType") continue;
          const json& tn = at(at(at(a, "def"), "ColumnDef"), "typeName");
          const Table* table = c.state.table(t);
          std::optional<types::ColType> old;
          if (table)
            if (auto it = table->column_types.find(str(a, "name")); it != table->column_types.end())
              old = types::of(it->second);
          auto now = types::of(tn);
          if (types::no_rewrite(old ? &*old : nullptr, now)) continue;
          c.flag(location(tn), fmt::format("changing the type of {}.{} {}to {} rewrites the table under ACCESS EXCLUSIVE",
                                           t, str(a, "name"), old ? "from " + types::display(*old) + " " : "",
                                           types::display(now)),
                 t, "add a new column, backfill it in batches, switch readers, then drop the old one");
        }
      },
      nullptr};
  return r;
}

}  // namespace belay::lint
