// SQL fragments the checks share (see check.h for the parameters they use).
#include <fmt/format.h>

#include "rls/checks/check.h"

namespace belay::rls::detail::sql {

std::string user_schema(const std::string& ns) {
  return fmt::format(
      "{} in (select n.oid from pg_namespace n where n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast') "
      "and n.nspname not like 'pg\\_temp\\_%' and n.nspname not like 'pg\\_toast\\_temp\\_%' "
      "and n.nspname <> all ($3::text[]))",
      ns);
}

std::string from_extension(const std::string& catalog, const std::string& oid) {
  return fmt::format("exists (select 1 from pg_depend d where d.classid = '{}'::regclass and d.objid = {} and d.deptype = 'e')",
                     catalog, oid);
}

std::string table_reach(const std::string& rel) {
  return fmt::format(R"SQL((select string_agg(g.who || ' (' || g.privs || ')', ', ' order by g.pub, g.who)
  from (select quote_ident(r.rolname) as who, 0 as pub,
               concat_ws(', ', case when has_any_column_privilege(r.oid, {0}, 'SELECT') then 'select' end,
                               case when has_any_column_privilege(r.oid, {0}, 'INSERT') then 'insert' end,
                               case when has_any_column_privilege(r.oid, {0}, 'UPDATE') then 'update' end,
                               case when has_table_privilege(r.oid, {0}, 'DELETE') then 'delete' end) as privs
        from pg_roles r where r.rolname = any ($2::text[])
        union all
        select 'PUBLIC', 1,
               concat_ws(', ', case when bool_or(a.privilege_type = 'SELECT') then 'select' end,
                               case when bool_or(a.privilege_type = 'INSERT') then 'insert' end,
                               case when bool_or(a.privilege_type = 'UPDATE') then 'update' end,
                               case when bool_or(a.privilege_type = 'DELETE') then 'delete' end)
        from pg_class pc cross join lateral aclexplode(pc.relacl) a
        where pc.oid = {0} and a.grantee = 0) g
  where g.privs <> ''))SQL",
                     rel);
}

std::string function_reach(const std::string& fn) {
  return fmt::format(R"SQL((select string_agg(g.who, ', ' order by g.pub, g.who)
  from (select quote_ident(r.rolname) as who, 0 as pub from pg_roles r
        where r.rolname = any ($2::text[]) and has_function_privilege(r.oid, {0}, 'EXECUTE')
        union all
        select 'PUBLIC', 1 from pg_proc pp
        where pp.oid = {0} and (pp.proacl is null or exists (select 1 from aclexplode(pp.proacl) a
                                                              where a.grantee = 0 and a.privilege_type = 'EXECUTE'))) g))SQL",
                     fn);
}

std::string qualified(const std::string& rel) {
  return fmt::format(
      "(select quote_ident(qn.nspname) || '.' || quote_ident(qc.relname) from pg_class qc "
      "join pg_namespace qn on qn.oid = qc.relnamespace where qc.oid = {})",
      rel);
}

std::string security_invoker(const std::string& alias) {
  return fmt::format(
      "coalesce((select lower(o.option_value) in ('true', 'on', '1', 'yes') from pg_options_to_table({}.reloptions) o "
      "where o.option_name = 'security_invoker'), false)",
      alias);
}

}  // namespace belay::rls::detail::sql
