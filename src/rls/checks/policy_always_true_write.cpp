// policy-always-true-write: an INSERT/UPDATE/DELETE/ALL policy for API roles that lets
// every row through.
#include <fmt/format.h>

#include "rls/checks/check.h"

namespace belay::rls::detail {

namespace {

// SQL: the policy expression `node` (pg_node_tree of relation `rel`) is always true. `true`
// itself, or an expression of constants and built-in operators only (1 = 1, true or x), which
// is then evaluated (the check runs in a read-only transaction).
std::string always_true(const std::string& node, const std::string& rel) {
  return fmt::format(
      R"SQL(case when {0} is null then false
     when pg_get_expr({0}, {1}) = 'true' then true
     when {0}::text ~ '\{{(VAR|FUNCEXPR|SUBLINK|PARAM|SQLVALUEFUNCTION|AGGREF|WINDOWFUNC|NEXTVALEXPR|XMLEXPR|COERCETODOMAIN) ' then false
     when exists (select 1 from regexp_matches({0}::text, ':opfuncid (\d+)', 'g') m where m[1]::oid >= 16384) then false
     else query_to_xml('select (' || pg_get_expr({0}, {1}) || ')::boolean as v', false, true, '')::text like '%<v>true</v>%'
end)SQL",
      node, rel);
}

}  // namespace

Check policy_always_true_write() {
  Check c;
  c.rule = {"policy-always-true-write", "security", findings::Severity::error,
            "write policy for API roles is always true",
            "An INSERT, UPDATE, DELETE or ALL policy whose USING or WITH CHECK is always true (true, 1 = 1, ...)\n"
            "lets its roles write every row: USING (true) on UPDATE or DELETE reaches every row of every user,\n"
            "WITH CHECK (true) accepts any new row, including one that names another user as its owner or moves\n"
            "a row into another tenant. Policies are OR'd, so one such policy opens the table whatever the\n"
            "others say. Write policies should tie the row to the requester, e.g. USING (owner = auth.uid())\n"
            "WITH CHECK (owner = auth.uid()).\n"
            "Fix: replace true with the condition the row must meet, or limit the policy TO service_role."};
  c.sql = fmt::format(R"SQL(
select {0} || '.' || quote_ident(x.polname), quote_ident(x.polname), x.cmd, x.roles, x.using_true, x.check_true,
       pg_get_expr(x.polqual, x.polrelid), pg_get_expr(x.polwithcheck, x.polrelid), {0}
from (select p.*, case p.polcmd when 'a' then 'INSERT' when 'w' then 'UPDATE' when 'd' then 'DELETE' else 'ALL' end as cmd,
             (select string_agg(case when o = 0 then 'PUBLIC' else quote_ident(pg_get_userbyid(o)) end, ', ' order by o <> 0, o)
              from unnest(p.polroles) o) as roles,
             p.polcmd in ('w', 'd', '*') and {1} as using_true,
             p.polcmd in ('a', 'w', '*') and {2} as check_true
      from pg_policy p join pg_class c on c.oid = p.polrelid join pg_namespace n on n.oid = c.relnamespace
      where p.polcmd in ('a', 'w', 'd', '*') and p.polpermissive and n.nspname = any ($5::text[])
        and (0 = any (p.polroles)
             or exists (select 1 from pg_roles r where r.rolname = any ($2::text[]) and r.oid = any (p.polroles)))
      offset 0) x
where x.using_true or x.check_true
order by 1)SQL",
                      sql::qualified("x.polrelid"), always_true("p.polqual", "p.polrelid"),
                      always_true("coalesce(p.polwithcheck, p.polqual)", "p.polrelid"));
  c.word = [](const Row& r, findings::Finding& f) {
    const std::string& table = r[8];
    std::string what;
    if (r[4] == "t" && r[2] != "INSERT")
      what = fmt::format("{} every row (USING ({}))", r[2] == "DELETE" ? "delete" : r[2] == "UPDATE" ? "update" : "read and change", r[6]);
    if (r[5] == "t")
      what += (what.empty() ? "" : ", and ") +
              fmt::format("write any row (WITH CHECK ({}))", r.is_null(7) ? r[6] : r[7]);
    f.message = fmt::format("{} policy {} on {} lets {} {}", r[2], r[1], table, r[3], what);
    f.fix = fmt::format("tie the row to the requester, e.g. ALTER POLICY {} ON {} USING (owner = auth.uid()) WITH CHECK "
                        "(owner = auth.uid()); or limit it TO service_role",
                        r[1], table);
  };
  return c;
}

}  // namespace belay::rls::detail
