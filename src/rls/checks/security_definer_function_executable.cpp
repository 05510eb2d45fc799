// security-definer-function-executable: an API role can call a function that runs with its
// owner's rights.
#include <fmt/format.h>

#include "rls/checks/check.h"

namespace belay::rls::detail {

Check security_definer_function_executable() {
  Check c;
  c.rule = {"security-definer-function-executable", "security", findings::Severity::warning,
            "SECURITY DEFINER function in an exposed schema is executable by API roles",
            "PostgREST serves every function in an exposed schema as /rpc/<name>. A SECURITY DEFINER function runs\n"
            "with its owner's rights, past row level security and grants; if anon or authenticated may execute\n"
            "it (functions are executable by PUBLIC unless revoked, and Supabase's default privileges grant\n"
            "EXECUTE to the API roles), anyone with the anon key runs it with those rights. That is only right\n"
            "when the function checks who is calling (auth.uid()) and touches nothing else.\n"
            "Fix: REVOKE EXECUTE ON FUNCTION ... FROM PUBLIC, anon, authenticated; or make it SECURITY INVOKER;\n"
            "or move it to a schema the API does not expose."};
  c.sql = fmt::format(R"SQL(
select quote_ident(n.nspname) || '.' || quote_ident(p.proname) || '(' || pg_get_function_identity_arguments(p.oid) || ')',
       x.reach, quote_ident(n.nspname) || '.' || quote_ident(p.proname), p.proname
from pg_proc p join pg_namespace n on n.oid = p.pronamespace
     cross join lateral (select {0} as reach) x
where p.prosecdef and p.prokind in ('f', 'p') and n.nspname = any ($1::text[])
  and p.prorettype not in ('trigger'::regtype, 'event_trigger'::regtype) and not {1}
  and x.reach is not null
order by 1)SQL",
                      sql::function_reach("p.oid"), sql::from_extension("pg_proc", "p.oid"));
  c.word = [](const Row& r, findings::Finding& f) {
    f.message = fmt::format("function {} runs with its owner's rights (SECURITY DEFINER) and {} may call it through the "
                            "API (/rpc/{})",
                            r[0], r[1], r[3]);
    f.fix = fmt::format("REVOKE EXECUTE ON FUNCTION {} FROM {}; or make it SECURITY INVOKER", r[0], r[1]);
  };
  return c;
}

}  // namespace belay::rls::detail
