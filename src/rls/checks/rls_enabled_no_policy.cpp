// rls-enabled-no-policy: RLS on, no policy: every API request is denied.
#include <fmt/format.h>

#include "rls/checks/check.h"

namespace belay::rls::detail {

Check rls_enabled_no_policy() {
  Check c;
  c.rule = {"rls-enabled-no-policy", "security", findings::Severity::info,
            "table has row level security enabled and no policy",
            "With row level security enabled and no policy, every role that is not the owner and does not bypass\n"
            "RLS sees no rows and can change none: the API returns empty results and rejects writes. That is safe,\n"
            "and right for a table only the server side (service_role) uses, but often a policy was forgotten.\n"
            "Fix: CREATE POLICY for what each API role may do, or ignore this finding for server-only tables."};
  c.sql = fmt::format(R"SQL(
select {0}, {1}
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where c.relkind in ('r', 'p') and n.nspname = any ($1::text[]) and c.relrowsecurity
  and not exists (select 1 from pg_policy p where p.polrelid = c.oid) and not {2}
order by 1)SQL",
                      sql::qualified("c.oid"), sql::table_reach("c.oid"), sql::from_extension("pg_class", "c.oid"));
  c.word = [](const Row& r, findings::Finding& f) {
    f.message = fmt::format("table {} has row level security enabled and no policy: API roles{} see no rows and change none",
                            r[0], r.is_null(1) ? "" : " (" + r[1] + ")");
    f.fix = fmt::format("CREATE POLICY ... ON {} for what each API role may do (or ignore it if only the server uses it)",
                        r[0]);
  };
  return c;
}

}  // namespace belay::rls::detail
