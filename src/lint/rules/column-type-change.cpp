// column-type-change: clients decode the old type.
#include <fmt/format.h>

#include "lint/rule.h"
#include "lint/rules/types.h"

namespace belay::lint {
using namespace tree;

const Rule& rule_column_type_change() {
  static const Rule r{
      {"column-type-change", "client-breakage", Severity::warning,
       "Changing the type of a column clients read",
       "Clients decode columns by type: integer to bigint turns into a string in some JSON\n"
       "drivers, numeric precision changes rounding, text to an enum rejects values old code\n"
       "writes. Widening a varchar or numeric limit is harmless and not flagged. Add a new column\n"
       "and migrate readers to it, or ship client changes first."},
      {{true, {"alter table t alter column a type bigint;"}},
       {true, {"alter table t alter column status type status_enum using status::status_enum;"}},
       {false, {"create table t (a varchar(10));", "alter table t alter column a type varchar(20);"}},
       {false, {"create table t (a int);\nalter table t alter column a type bigint;"}}},
      [](const StmtCtx& c) {
        if (c.kind != "AlterTableStmt" || !cmds(c.node).is_array()) return;
        std::string t = alter_table_name(c.node);
        if (c.is_new(t)) return;
        const Table* table = c.state.table(t);
        for (const json& cmd : cmds(c.node)) {
          const json& a = at(cmd, "AlterTableCmd");
          if (str(a, "subtype") != "AT_AlterColumnType") continue;
          auto now = types::of(at(at(at(a, "def"), "ColumnDef"), "typeName"));
          if (table)
            if (auto it = table->column_types.find(str(a, "name")); it != table->column_types.end()) {
              auto old = types::of(it->second);
              if (old.name == now.name && types::no_rewrite(&old, now)) continue;  // a wider limit
            }
          c.flag(-1, fmt::format("{}.{} changes type to {}: clients decoding the old type may break", t, str(a, "name"),
                                 types::display(now)),
                 t, "add a new column and move readers to it, or ship the client change first");
        }
      },
      nullptr};
  return r;
}

}  // namespace belay::lint
