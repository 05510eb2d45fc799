// view-bypasses-rls: a view (or materialized view) the API roles can read that runs with its
// owner's rights, so the row level security of the tables beneath does not apply to them.
#include <fmt/format.h>

#include "rls/checks/check.h"

namespace belay::rls::detail {

Check view_bypasses_rls() {
  Check c;
  c.rule = {"view-bypasses-rls", "security", findings::Severity::error,
            "view readable by API roles bypasses row level security",
            "A view runs its query with its owner's privileges unless it has security_invoker = true (PostgreSQL\n"
            "15+), and its owner (the migration role) usually owns or bypasses the tables beneath: their row\n"
            "level security is not applied to the API role reading the view. A view over a table with RLS then\n"
            "shows every row to anyone who may select from the view; a view over auth.users publishes every\n"
            "user's email, phone and metadata. Materialized views have no row level security at all.\n"
            "Fix: ALTER VIEW ... SET (security_invoker = true) so the reader's own privileges and policies apply;\n"
            "or REVOKE SELECT from the API roles, or move the view out of the exposed schemas."};
  // Relations beneath each view, through views on views (pg_rewrite dependencies).
  c.sql = fmt::format(R"SQL(
with recursive v as (
  select c.oid, c.relkind
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
  where c.relkind in ('v', 'm') and n.nspname = any ($1::text[])
    and (c.relkind = 'm' or not {0}) and not {1}
),
beneath (view, rel) as (
  select v.oid, d.refobjid
  from v join pg_rewrite w on w.ev_class = v.oid
       join pg_depend d on d.classid = 'pg_rewrite'::regclass and d.objid = w.oid
                       and d.refclassid = 'pg_class'::regclass and d.refobjid <> v.oid
  union
  select b.view, d.refobjid
  from beneath b join pg_class bc on bc.oid = b.rel and bc.relkind in ('v', 'm')
       join pg_rewrite w on w.ev_class = bc.oid
       join pg_depend d on d.classid = 'pg_rewrite'::regclass and d.objid = w.oid
                       and d.refclassid = 'pg_class'::regclass and d.refobjid <> bc.oid
)
select {2}, case v.relkind when 'm' then 'materialized view' else 'view' end, x.reach,
       (select string_agg({3}, ', ' order by 1) from beneath b join pg_class t on t.oid = b.rel
        where b.view = v.oid and t.relkind in ('r', 'p') and t.relrowsecurity),
       exists (select 1 from beneath b join pg_class t on t.oid = b.rel join pg_namespace tn on tn.oid = t.relnamespace
               where b.view = v.oid and tn.nspname = 'auth' and t.relname = 'users')
from v cross join lateral (select {4} as reach) x
where x.reach is not null
order by 1)SQL",
                      sql::security_invoker("c"), sql::from_extension("pg_class", "c.oid"), sql::qualified("v.oid"),
                      sql::qualified("t.oid"), sql::table_reach("v.oid"));
  c.word = [](const Row& r, findings::Finding& f) {
    const std::string& kind = r[1];
    const std::string& who = r[2];
    // "anon (select), PUBLIC (select)" -> "anon, PUBLIC" for the REVOKE.
    std::string roles;
    for (size_t at = 0; at < who.size();) {
      auto paren = who.find(" (", at);
      if (paren == std::string::npos) break;
      roles += (roles.empty() ? "" : ", ") + who.substr(at, paren - at);
      auto close = who.find(')', paren);
      at = close == std::string::npos ? who.size() : close + (who.compare(close, 3, "), ") == 0 ? 3 : 1);
    }
    if (r[4] == "t")
      f.message = fmt::format("{} {} exposes auth.users to {}: it runs with its owner's rights, so every user's email, "
                              "phone and metadata is readable through the API",
                              kind, r[0], who);
    else if (!r.is_null(3))
      f.message = fmt::format("{} {} runs with its owner's rights{}: {} read {} through it past their row level security",
                              kind, r[0], kind == "view" ? " (no security_invoker)" : "", who, r[3]);
    else
      f.message = fmt::format("{} {} runs with its owner's rights{}: {} read what it selects whatever their own "
                              "privileges on the tables beneath",
                              kind, r[0], kind == "view" ? " (no security_invoker)" : "", who);
    f.fix = kind == "view"
                ? fmt::format("ALTER VIEW {} SET (security_invoker = true); or REVOKE SELECT ON {} FROM {}", r[0], r[0], roles)
                : fmt::format("REVOKE SELECT ON {} FROM {} (a materialized view cannot apply row level security), or "
                              "move it out of the exposed schemas",
                              r[0], roles);
  };
  return c;
}

}  // namespace belay::rls::detail
