// multiple-permissive-policies: several permissive policies for the same role and command.
#include <fmt/format.h>

#include "rls/checks/check.h"

namespace belay::rls::detail {

Check multiple_permissive_policies() {
  Check c;
  c.rule = {"multiple-permissive-policies", "security", findings::Severity::warning,
            "several permissive policies apply to the same role and command",
            "PostgreSQL ORs permissive policies: a row any one of them allows is allowed. With two or more for the\n"
            "same role and command, the loosest decides, and a strict policy next to a loose one protects\n"
            "nothing (a reviewer reading the strict one is misled). Each is also evaluated for every row, which\n"
            "slows every request on a large table. Policies for PUBLIC apply to every role.\n"
            "Fix: merge them into one policy per role and command; make a condition that must always hold AS\n"
            "RESTRICTIVE (restrictive policies are AND'd)."};
  c.sql = fmt::format(R"SQL(
with pol as (
  select p.polrelid, p.polname, p.polroles, cmd
  from pg_policy p join pg_class c on c.oid = p.polrelid join pg_namespace n on n.oid = c.relnamespace
       cross join lateral unnest(case p.polcmd when 'r' then array['SELECT'] when 'a' then array['INSERT']
                                               when 'w' then array['UPDATE'] when 'd' then array['DELETE']
                                               else array['SELECT', 'INSERT', 'UPDATE', 'DELETE'] end) cmd
  where p.polpermissive and n.nspname = any ($5::text[])
),
roles as (
  select r.oid, r.rolname from pg_roles r
  where not r.rolbypassrls and not r.rolsuper
    and (r.rolname = any ($2::text[]) or r.oid in (select unnest(polroles) from pol))
),
per_role as (
  select pol.polrelid, pol.cmd, r.rolname,
         string_agg(quote_ident(pol.polname), ', ' order by pol.polname) as policies, count(*) as n
  from pol join roles r on 0 = any (pol.polroles) or r.oid = any (pol.polroles)
  group by 1, 2, 3
  having count(*) > 1
)
select {0} || ' ' || x.policies, {0}, x.policies, x.roles, x.cmds
from (select polrelid, policies,
             string_agg(distinct quote_ident(rolname), ', ') as roles,
             string_agg(distinct cmd, ', ') as cmds
      from per_role group by polrelid, policies) x
order by 1)SQL",
                      sql::qualified("x.polrelid"));
  c.word = [](const Row& r, findings::Finding& f) {
    f.object = r[1];
    f.message = fmt::format("table {}: permissive policies {} all apply to {} for {}; PostgreSQL ORs them, so the loosest "
                            "decides, and each runs for every row",
                            r[1], r[2], r[3], r[4]);
    f.fix = fmt::format("merge {} into one policy per role and command, or make the ones that must always hold AS RESTRICTIVE",
                        r[2]);
  };
  return c;
}

}  // namespace belay::rls::detail
