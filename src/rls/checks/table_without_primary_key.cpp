// table-without-primary-key: an exposed table with no primary key.
#include <fmt/format.h>

#include "rls/checks/check.h"

namespace belay::rls::detail {

Check table_without_primary_key() {
  Check c;
  c.rule = {"table-without-primary-key", "performance", findings::Severity::info,
            "table in an exposed schema has no primary key",
            "Without a primary key, a row cannot be named: API clients cannot update or delete exactly one row,\n"
            "realtime and logical replication cannot identify changed rows (UPDATE and DELETE fail on a table in a\n"
            "publication without a replica identity), and duplicates creep in.\n"
            "Fix: ALTER TABLE ... ADD PRIMARY KEY (build a unique index CONCURRENTLY first, then ADD PRIMARY KEY\n"
            "USING INDEX, on a large table)."};
  c.sql = fmt::format(R"SQL(
select {0}
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where c.relkind in ('r', 'p') and n.nspname = any ($1::text[]) and not {1}
  and not exists (select 1 from pg_constraint k where k.conrelid = c.oid and k.contype = 'p')
order by 1)SQL",
                      sql::qualified("c.oid"), sql::from_extension("pg_class", "c.oid"));
  c.word = [](const Row& r, findings::Finding& f) {
    f.message = fmt::format("table {} has no primary key: API clients cannot address one row, and replication cannot "
                            "identify changed rows",
                            r[0]);
    f.fix = fmt::format("ALTER TABLE {} ADD PRIMARY KEY (...) (on a large table: CREATE UNIQUE INDEX CONCURRENTLY, then "
                        "ADD PRIMARY KEY USING INDEX)",
                        r[0]);
  };
  return c;
}

}  // namespace belay::rls::detail
