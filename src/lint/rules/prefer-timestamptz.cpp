// prefer-timestamptz: timestamp without time zone.
#include <fmt/format.h>

#include "lint/rule.h"
#include "lint/rules/columns.h"

namespace belay::lint {

const Rule& rule_prefer_timestamptz() {
  static const Rule r{
      {"prefer-timestamptz", "types", Severity::warning,
       "timestamp without time zone",
       "timestamp stores a wall-clock reading with no zone: the same instant reads differently\n"
       "depending on the server's and client's TimeZone, and daylight saving makes some values\n"
       "ambiguous. timestamptz stores an absolute instant (same 8 bytes)."},
      {{true, {"create table t (created_at timestamp);"}},
       {true, {"alter table t add column seen_at timestamp without time zone;"}},
       {false, {"create table t (created_at timestamptz default now());"}}},
      [](const StmtCtx& c) {
        for_each_new_column(c, [&](const ColumnRef& col) {
          if (col.type.name != "timestamp") return;
          c.flag(col.location, fmt::format("{}.{} is timestamp without time zone", col.table, col.name), col.table,
                 "timestamptz");
        });
      },
      nullptr};
  return r;
}

}  // namespace belay::lint
