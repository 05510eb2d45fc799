// prefer-bigint-pk: 32-bit primary keys run out.
#include <fmt/format.h>

#include "lint/rule.h"
#include "lint/rules/columns.h"

namespace belay::lint {

const Rule& rule_prefer_bigint_pk() {
  static const Rule r{
      {"prefer-bigint-pk", "types", Severity::warning,
       "integer / serial primary key where bigint fits",
       "A 32-bit key runs out at 2,147,483,647 rows (sooner with gaps from rollbacks and\n"
       "retries), and changing it later rewrites the table and every referencing one. bigint\n"
       "costs 4 bytes more per row: use bigint generated always as identity."},
      {{true, {"create table t (id serial primary key);"}},
       {true, {"create table t (id integer, primary key (id));"}},
       {false, {"create table t (id bigint generated always as identity primary key);"}},
       {false, {"create table t (id uuid primary key default gen_random_uuid());"}}},
      [](const StmtCtx& c) {
        for_each_new_column(c, [&](const ColumnRef& col) {
          const std::string& n = col.type.name;
          bool small = n == "int4" || n == "int2" || n == "serial" || n == "serial4" || n == "smallserial" || n == "serial2" || n == "int";
          if (!col.primary_key || !small) return;
          c.flag(col.location, fmt::format("primary key {}.{} is {}: 32 bits run out", col.table, col.name, types::display(col.type)),
                 col.table, "bigint generated always as identity");
        });
      },
      nullptr};
  return r;
}

}  // namespace belay::lint
