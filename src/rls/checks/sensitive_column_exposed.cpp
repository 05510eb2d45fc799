// sensitive-column-exposed: a column named like a secret that requests without a login can read.
#include <fmt/format.h>

#include "rls/checks/check.h"

namespace belay::rls::detail {

namespace {

// Column names that hold secrets or personal identifiers, matched on whole words of the
// lowercased name ("reset_token", "user_password", "ssn" but not "tokenizer" or "pinned").
constexpr const char* kSensitive =
    "(^|_)(password|passwd|pwd|passphrase|password_hash|hashed_password|secret|secrets|secret_key|client_secret|"
    "token|tokens|access_token|refresh_token|api_key|apikey|private_key|access_key|otp|totp_secret|mfa_secret|"
    "ssn|social_security|social_security_number|tax_id|national_id|passport_number|credit_card|card_number|"
    "cvv|cvc|iban|pin)($|_)";

}  // namespace

Check sensitive_column_exposed() {
  Check c;
  c.rule = {"sensitive-column-exposed", "security", findings::Severity::error,
            "column named like a secret is readable by the anonymous API role",
            "A column called password, token, secret, api_key, ssn, credit_card, ... that the anonymous role (anon:\n"
            "any request with the project's public key, no login) may select, on rows it can reach (no row level\n"
            "security, a permissive SELECT policy for it, or a view or materialized view that bypasses RLS), is\n"
            "published to the internet. Boolean and date/time columns (password_set, token_expires_at) are not\n"
            "counted.\n"
            "Fix: REVOKE SELECT on the table from anon and GRANT SELECT on the other columns only; or move the\n"
            "secret to a table (or schema) the API does not expose; or store only a hash the API never returns."};
  c.sql = fmt::format(R"SQL(
with anon as (select r.oid from pg_roles r where r.rolname = $4)
select {0} || '.' || quote_ident(a.attname), {0}, quote_ident(a.attname),
       case c.relkind when 'v' then 'view' when 'm' then 'materialized view' else 'table' end,
       case when exists (select 1 from anon) then quote_ident($4) else 'PUBLIC' end,
       case when c.relkind in ('r', 'p') and c.relrowsecurity then
         (select string_agg(quote_ident(p.polname), ', ' order by p.polname) from pg_policy p
          where p.polrelid = c.oid and p.polcmd in ('r', '*') and p.polpermissive and p.polqual is not null
            and (0 = any (p.polroles) or p.polroles && array(select oid from anon))) end
from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
where a.attnum > 0 and not a.attisdropped and c.relkind in ('r', 'p', 'v', 'm', 'f')
  and n.nspname = any ($1::text[]) and not {1}
  and lower(a.attname) ~ '{2}'
  and a.atttypid not in ('boolean'::regtype, 'date'::regtype, 'timestamp'::regtype, 'timestamptz'::regtype,
                         'time'::regtype, 'timetz'::regtype, 'interval'::regtype)
  and case when exists (select 1 from anon)
           then has_column_privilege((select oid from anon), c.oid, a.attnum, 'SELECT')
           else exists (select 1 from aclexplode(c.relacl) x where x.grantee = 0 and x.privilege_type = 'SELECT')
             or exists (select 1 from aclexplode(a.attacl) x where x.grantee = 0 and x.privilege_type = 'SELECT') end
  and case c.relkind when 'v' then not {3}
                     when 'm' then true
                     when 'f' then true
                     else not c.relrowsecurity
                       or exists (select 1 from pg_policy p
                                  where p.polrelid = c.oid and p.polcmd in ('r', '*') and p.polpermissive
                                    and p.polqual is not null
                                    and (0 = any (p.polroles) or p.polroles && array(select oid from anon))) end
order by 1)SQL",
                      sql::qualified("c.oid"), sql::from_extension("pg_class", "c.oid"), kSensitive,
                      sql::security_invoker("c"));
  c.word = [](const Row& r, findings::Finding& f) {
    std::string how = r[3] == "table" ? (r.is_null(5) ? " (row level security is off)" : " (through policy " + r[5] + ")")
                      : r[3] == "view" ? " (the view bypasses row level security)"
                                       : " (materialized views have no row level security)";
    f.message = fmt::format("column {} of {} {} looks sensitive and {} can read it{}", r[2], r[3], r[1], r[4], how);
    f.fix = fmt::format("REVOKE SELECT ON {} FROM {}; GRANT SELECT (the other columns) ON {} TO {}; or move {} out of the "
                        "exposed schemas",
                        r[1], r[4], r[1], r[4], r[2]);
  };
  return c;
}

}  // namespace belay::rls::detail
