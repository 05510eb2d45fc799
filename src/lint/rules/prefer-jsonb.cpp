// prefer-jsonb: json where jsonb fits.
#include <fmt/format.h>

#include "lint/rule.h"
#include "lint/rules/columns.h"

namespace belay::lint {

const Rule& rule_prefer_jsonb() {
  static const Rule r{
      {"prefer-jsonb", "types", Severity::warning,
       "json where jsonb fits",
       "json stores the text as given and re-parses it on every access; it has no equality\n"
       "operator (DISTINCT, GROUP BY and UNIQUE fail) and cannot be indexed with GIN. jsonb is\n"
       "parsed once, indexable and what Supabase's APIs expect. Keep json only to preserve key\n"
       "order or duplicate keys byte for byte."},
      {{true, {"create table t (payload json);"}},
       {true, {"alter table t alter column payload type json;"}},
       {false, {"create table t (payload jsonb);"}}},
      [](const StmtCtx& c) {
        for_each_new_column(c, [&](const ColumnRef& col) {
          if (col.type.name != "json") return;
          c.flag(col.location, fmt::format("{}.{} is json", col.table, col.name), col.table, "jsonb");
        });
      },
      nullptr};
  return r;
}

}  // namespace belay::lint
