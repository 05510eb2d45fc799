// policy-on-table-without-rls: policies that are not enforced because RLS is off.
#include <fmt/format.h>

#include "rls/checks/check.h"

namespace belay::rls::detail {

Check policy_on_table_without_rls() {
  Check c;
  c.rule = {"policy-on-table-without-rls", "security", findings::Severity::error,
            "table has policies but row level security is disabled",
            "Policies only apply once row level security is enabled on their table. A table with policies and RLS\n"
            "off looks protected to a reviewer, but every role with a privilege on it reaches every row: the\n"
            "policies are ignored. This usually means an ENABLE ROW LEVEL SECURITY was forgotten, or a later\n"
            "migration disabled it.\n"
            "Fix: ALTER TABLE ... ENABLE ROW LEVEL SECURITY (or drop the policies if the table is meant to be open)."};
  c.sql = fmt::format(R"SQL(
select {0}, string_agg(quote_ident(p.polname), ', ' order by p.polname), {1}
from pg_policy p join pg_class c on c.oid = p.polrelid
where not c.relrowsecurity and {2}
group by c.oid
order by 1)SQL",
                      sql::qualified("c.oid"), sql::table_reach("c.oid"), sql::user_schema("c.relnamespace"));
  c.word = [](const Row& r, findings::Finding& f) {
    f.message = fmt::format("table {} has policies ({}) but row level security is disabled, so they are not enforced{}",
                            r[0], r[1], r.is_null(2) ? "" : fmt::format(": {} reach every row", r[2]));
    f.fix = fmt::format("ALTER TABLE {} ENABLE ROW LEVEL SECURITY", r[0]);
  };
  return c;
}

}  // namespace belay::rls::detail
