// function-search-path-mutable: a function that resolves names through the caller's
// search_path.
#include <fmt/format.h>

#include "rls/checks/check.h"

namespace belay::rls::detail {

Check function_search_path_mutable() {
  Check c;
  c.rule = {"function-search-path-mutable", "security", findings::Severity::warning,
            "function does not pin its search_path",
            "A function without its own search_path setting looks up unqualified tables, functions and\n"
            "operators through whatever search_path the caller has. Someone able to create objects in a schema\n"
            "earlier in that path can substitute their own (a table called like yours, or a function that does\n"
            "more), and the function runs them; a SECURITY DEFINER function runs them with its owner's rights.\n"
            "Checked for every function in the exposed schemas and every SECURITY DEFINER function anywhere.\n"
            "Fix: ALTER FUNCTION ... SET search_path = '' and schema-qualify the names in its body (or pin it to\n"
            "the schemas it uses, e.g. SET search_path = public, pg_temp last)."};
  c.sql = fmt::format(R"SQL(
select quote_ident(n.nspname) || '.' || quote_ident(p.proname) || '(' || pg_get_function_identity_arguments(p.oid) || ')',
       p.prosecdef, case p.prokind when 'p' then 'procedure' else 'function' end
from pg_proc p join pg_namespace n on n.oid = p.pronamespace join pg_language l on l.oid = p.prolang
where p.prokind in ('f', 'p') and l.lanname not in ('c', 'internal')
  and (n.nspname = any ($1::text[]) or p.prosecdef) and {0} and not {1}
  and not exists (select 1 from unnest(p.proconfig) s where s like 'search\_path=%')
order by 1)SQL",
                      sql::user_schema("p.pronamespace"), sql::from_extension("pg_proc", "p.oid"));
  c.word = [](const Row& r, findings::Finding& f) {
    f.message = fmt::format("{} {} does not pin its search_path: a caller's search_path decides which tables and "
                            "functions its unqualified names mean{}",
                            r[2], r[0], r[1] == "t" ? ", and it runs them with its owner's rights (SECURITY DEFINER)" : "");
    f.fix = fmt::format("ALTER {} {} SET search_path = ''; and schema-qualify the names in its body", r[2] == "procedure" ? "PROCEDURE" : "FUNCTION", r[0]);
  };
  return c;
}

}  // namespace belay::rls::detail
