// policy-true-for-null-sub: a policy that lets a request without a user id (auth.uid() is
// NULL: no login) reach rows it would not reach with one.
#include <fmt/format.h>

#include "rls/checks/check.h"

namespace belay::rls::detail {

namespace {

// The policy expression evaluated with the claims of an anonymous request ({"role": "anon"},
// no sub) and of the same request with a sub, on a row of NULLs and on a row of ordinary
// values (a uuid that is nobody's sub, 'x', 1, true, now(), {}). A leak when it is true
// without the sub and not with it: the policy gives rows away because the sub is missing
// (owner = auth.uid() or auth.uid() is null; coalesce(owner = auth.uid(), true); owner is not
// distinct from auth.uid(), ...). Only the sub differs, so a policy that looks at the role
// claim on purpose is left alone.
bool true_without_sub(pg::Conn& conn, const Row& r) {
  auto eval = [&](const std::string& claims, const std::string& columns, const std::string& expr) -> std::optional<bool> {
    auto rows = conn.query(fmt::format("select ({}) is true from (select {}) as {}, "
                                       "(select set_config('request.jwt.claims', {}, true)) as belay_claims",
                                       expr, columns, r[5], pg::quote_literal(claims)));
    if (!rows.ok() || rows->size() != 1) return std::nullopt;
    return rows->get(0, 0) == "t";
  };
  for (size_t expr : {6, 7}) {
    if (r.is_null(expr)) continue;
    for (size_t columns : {4, 8}) {
      auto without = eval(R"({"role": "anon"})", r[columns], r[expr]);
      auto with = eval(R"({"role": "anon", "sub": "6f1c2a7e-0000-4000-8000-5a1b0c0ffee0"})", r[columns], r[expr]);
      if (without && with && *without && !*with) return true;
    }
  }
  return false;
}

// A row of the table's columns, as a select list: NULLs, or ordinary values by type.
constexpr const char* kNullRow =
    "(select string_agg('null::' || format_type(a.atttypid, a.atttypmod) || ' as ' || quote_ident(a.attname), ', ' "
    "order by a.attnum) from pg_attribute a where a.attrelid = p.polrelid and a.attnum > 0 and not a.attisdropped)";
constexpr const char* kValueRow = R"SQL((select string_agg(
           case when a.atttypid = 'uuid'::regtype then quote_literal('7e570000-0000-4000-8000-00000000c0de') || '::uuid'
                when t.typcategory = 'N' then '1::' || format_type(a.atttypid, a.atttypmod)
                when t.typcategory = 'S' then quote_literal('x') || '::' || format_type(a.atttypid, a.atttypmod)
                when t.typcategory = 'B' then 'true'
                when t.typcategory = 'D' then 'now()::' || format_type(a.atttypid, a.atttypmod)
                when a.atttypid in ('json'::regtype, 'jsonb'::regtype)
                  then quote_literal('{}') || '::' || format_type(a.atttypid, a.atttypmod)
                else 'null::' || format_type(a.atttypid, a.atttypmod) end || ' as ' || quote_ident(a.attname),
           ', ' order by a.attnum)
        from pg_attribute a join pg_type t on t.oid = a.atttypid
        where a.attrelid = p.polrelid and a.attnum > 0 and not a.attisdropped))SQL";

}  // namespace

Check policy_true_for_null_sub() {
  Check c;
  c.rule = {"policy-true-for-null-sub", "security", findings::Severity::error,
            "policy is true for requests without a user id",
            "auth.uid() is NULL for a request without a login (the anon key alone). A policy written to let users\n"
            "reach their own rows, but with a fallback such as `owner = auth.uid() or auth.uid() is null`,\n"
            "`coalesce(owner = auth.uid(), true)` or `owner is not distinct from auth.uid()`, is true for such a\n"
            "request where it would be false with a user id: anyone without an account reaches rows no user\n"
            "can. Checked on policies that apply to the anonymous role or PUBLIC and read the JWT, by evaluating\n"
            "them, on a row of NULLs and on a row of ordinary values, for an anonymous request with and without a\n"
            "sub: true without it and not with it is the leak.\n"
            "Fix: drop the fallback; compare with auth.uid() directly (NULL compares as unknown, which denies)."};
  c.sql = fmt::format(R"SQL(
select {0} || '.' || quote_ident(p.polname), quote_ident(p.polname), {0},
       case p.polcmd when 'r' then 'SELECT' when 'a' then 'INSERT' when 'w' then 'UPDATE' when 'd' then 'DELETE' else 'ALL' end,
       {1}, quote_ident(c.relname), pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid), {2}
from pg_policy p join pg_class c on c.oid = p.polrelid join pg_namespace n on n.oid = c.relnamespace
where p.polpermissive and n.nspname = any ($5::text[])
  and (0 = any (p.polroles) or exists (select 1 from pg_roles r where r.rolname = $4 and r.oid = any (p.polroles)))
  and concat(pg_get_expr(p.polqual, p.polrelid), ' ', pg_get_expr(p.polwithcheck, p.polrelid))
      ~ '(auth\.(uid|jwt|email)\(\)|request\.jwt\.claim)'
order by 1)SQL",
                      sql::qualified("p.polrelid"), kNullRow, kValueRow);
  c.word = [](const Row& r, findings::Finding& f) {
    f.message = fmt::format("{} policy {} on {} is true for a request without a user id (auth.uid() is NULL) where it is "
                            "false with one: anyone without an account reaches those rows ({})",
                            r[3], r[1], r[2], r.is_null(6) ? "WITH CHECK (" + r[7] + ")" : "USING (" + r[6] + ")");
    f.fix = fmt::format("drop the NULL fallback from policy {} on {}: compare with auth.uid() directly", r[1], r[2]);
  };
  c.keep = true_without_sub;
  return c;
}

}  // namespace belay::rls::detail
