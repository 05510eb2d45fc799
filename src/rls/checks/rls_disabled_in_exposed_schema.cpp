// rls-disabled-in-exposed-schema: a table the API serves, with row level security off.
#include <fmt/format.h>

#include "rls/checks/check.h"

namespace belay::rls::detail {

Check rls_disabled_in_exposed_schema() {
  Check c;
  c.rule = {"rls-disabled-in-exposed-schema", "security", findings::Severity::error,
            "table in an exposed schema has row level security disabled",
            "Without row level security, every role holding a privilege on the table reaches every row. In an\n"
            "exposed schema those roles are the API's: on Supabase, anon and authenticated hold SELECT, INSERT,\n"
            "UPDATE and DELETE on every new table in public by default, so anyone with the project's public\n"
            "anon key can read and change the whole table. Even without such a grant today, the next GRANT or\n"
            "default privilege opens every row at once.\n"
            "Fix: ALTER TABLE ... ENABLE ROW LEVEL SECURITY and write a policy per role and command for what\n"
            "each may do; or REVOKE the API roles' privileges if the API must not reach the table."};
  c.sql = fmt::format(R"SQL(
select {0}, {1}
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where c.relkind in ('r', 'p') and n.nspname = any ($1::text[]) and not c.relrowsecurity
  and not {2}
order by 1)SQL",
                      sql::qualified("c.oid"), sql::table_reach("c.oid"), sql::from_extension("pg_class", "c.oid"));
  c.word = [](const Row& r, findings::Finding& f) {
    if (!r.is_null(1))
      f.message = fmt::format("table {} has row level security disabled: {} reach every row through the API", r[0], r[1]);
    else
      f.message = fmt::format("table {} is in an exposed schema with row level security disabled: no API role holds a "
                              "privilege on it yet, but the next GRANT or default privilege exposes every row",
                              r[0]);
    f.fix = fmt::format("ALTER TABLE {} ENABLE ROW LEVEL SECURITY; then CREATE POLICY for what each role may do", r[0]);
  };
  return c;
}

}  // namespace belay::rls::detail
