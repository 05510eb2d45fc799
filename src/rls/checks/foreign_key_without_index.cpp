// foreign-key-without-index: a foreign key no index starts with.
#include <fmt/format.h>

#include "rls/checks/check.h"

namespace belay::rls::detail {

Check foreign_key_without_index() {
  Check c;
  c.rule = {"foreign-key-without-index", "performance", findings::Severity::info,
            "foreign key has no index starting with its columns",
            "Deleting or updating a referenced row makes PostgreSQL look for referencing rows; without an index\n"
            "whose leading columns are the foreign key's, that is a scan of the whole referencing table, under a\n"
            "lock, per row. Policies usually join on the same columns (owner_id = auth.uid(), team_id in (...)), so\n"
            "every API request on the table scans it too.\n"
            "Fix: CREATE INDEX CONCURRENTLY ON the table (the foreign key's columns)."};
  c.sql = fmt::format(R"SQL(
select {0} || '.' || quote_ident(k.conname), {0}, quote_ident(k.conname),
       (select string_agg(quote_ident(a.attname), ', ' order by u.o)
        from unnest(k.conkey) with ordinality u(attnum, o) join pg_attribute a on a.attrelid = k.conrelid and a.attnum = u.attnum),
       {1}
from pg_constraint k join pg_class c on c.oid = k.conrelid join pg_namespace n on n.oid = c.relnamespace
where k.contype = 'f' and n.nspname = any ($1::text[]) and not {2}
  and not exists (
    select 1 from pg_index i
    where i.indrelid = k.conrelid and i.indisvalid and i.indpred is null
      and (select array_agg(x.attnum) from unnest(i.indkey::int2[]) with ordinality x(attnum, o)
           where x.o <= cardinality(k.conkey)) @> k.conkey
      and cardinality(k.conkey) <= i.indnkeyatts)
order by 1)SQL",
                      sql::qualified("k.conrelid"), sql::qualified("k.confrelid"), sql::from_extension("pg_class", "c.oid"));
  c.word = [](const Row& r, findings::Finding& f) {
    f.message = fmt::format("foreign key {} on {} ({}) references {} but no index starts with its columns: deletes and "
                            "updates there, and policies joining on it, scan {}",
                            r[2], r[1], r[3], r[4], r[1]);
    f.fix = fmt::format("CREATE INDEX CONCURRENTLY ON {} ({});", r[1], r[3]);
  };
  return c;
}

}  // namespace belay::rls::detail
