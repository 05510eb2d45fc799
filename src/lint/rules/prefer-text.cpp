// prefer-text: varchar(n) / char(n) where text fits.
#include <fmt/format.h>

#include "lint/rule.h"
#include "lint/rules/columns.h"

namespace belay::lint {

const Rule& rule_prefer_text() {
  static const Rule r{
      {"prefer-text", "types", Severity::info,
       "varchar(n) or char(n) where text fits",
       "In PostgreSQL text and varchar perform the same; the length limit only turns longer input\n"
       "into errors and raising it later is a migration (and shrinking it a rewrite). char(n)\n"
       "also pads with spaces. Use text, with a CHECK (length(col) <= n) when a limit matters."},
      {{true, {"create table t (name varchar(100));"}},
       {true, {"alter table t add column code char(3);"}},
       {false, {"create table t (name text, other varchar);"}}},
      [](const StmtCtx& c) {
        for_each_new_column(c, [&](const ColumnRef& col) {
          if ((col.type.name != "varchar" && col.type.name != "bpchar") || col.type.mods.empty()) return;
          c.flag(col.location, fmt::format("{}.{} is {}", col.table, col.name, types::display(col.type)), col.table,
                 "text (with CHECK (length(" + col.name + ") <= n) if the limit matters)");
        });
      },
      nullptr};
  return r;
}

}  // namespace belay::lint
