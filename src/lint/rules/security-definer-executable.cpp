// security-definer-executable: a SECURITY DEFINER function API clients can call.
#include <fmt/format.h>

#include "lint/rule.h"

namespace belay::lint {

const Rule& rule_security_definer_executable() {
  static const Rule r{
      {"security-definer-executable", "security", Severity::error,
       "SECURITY DEFINER function in an exposed schema executable by anon or authenticated",
       "Functions are executable by PUBLIC by default, and Supabase also grants EXECUTE on\n"
       "functions in public to anon and authenticated: every API client can call it through\n"
       "/rpc with its owner's rights. Revoke it (REVOKE EXECUTE ON FUNCTION f FROM public, anon,\n"
       "authenticated) and grant it to the roles that need it, or move it to a private schema."},
      {{true, {"create function public.f() returns int language sql security definer set search_path = '' as 'select 1';"}},
       {true, {"create function f() returns int language sql security definer set search_path = '' as 'select 1';\n"
               "revoke execute on function f() from public;\ngrant execute on function f() to authenticated;"}},
       {false, {"create function f() returns int language sql security definer set search_path = '' as 'select 1';",
                "revoke execute on function f() from public, anon, authenticated;"}},
       {false, {"create function private.f() returns int language sql security definer set search_path = '' as 'select 1';"}},
       {false, {"create function f() returns int language sql as 'select 1';"}}},
      nullptr,
      [](const State& s, const Options& opt, std::vector<EndHit>& out) {
        for (auto& [name, f] : s.functions) {
          if (!f.security_definer || !s.exposed(name, opt)) continue;
          std::string who;
          for (const char* role : {"anon", "authenticated"}) {
            // Supabase grants anon/authenticated directly: revoking from PUBLIC is not enough.
            if (f.granted.count(role) || !f.revoked.count(role)) who += (who.empty() ? "" : " and ") + std::string(role);
          }
          if (who.empty()) continue;
          out.push_back(EndHit{f.at, fmt::format("SECURITY DEFINER function {} can be called by {} through the API", name, who),
                               name, "REVOKE EXECUTE ON FUNCTION " + name + " FROM public, anon, authenticated"});
        }
      }};
  return r;
}

}  // namespace belay::lint
