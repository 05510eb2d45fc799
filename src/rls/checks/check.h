// Internal to rls/: what one catalog check is. Each check lives in its own file in this
// folder: its rule (id, severity, explanation), one catalog query, and the wording that turns
// a row of that query into a finding.
#pragma once

#include <string>
#include <vector>

#include "findings/findings.h"
#include "pg/pg.h"

namespace belay::rls::detail {

// The parameters every check query receives:
//   $1 text[]  exposed schemas          $2 text[]  API roles (may name roles that do not exist)
//   $3 text[]  schemas never looked at  $4 text    the anonymous API role
//   $5 text[]  schemas whose policies the policy checks also cover (exposed + extra)
// Each query returns the object first (e.g. "public.t"), then the check's own columns.
struct Row {
  std::vector<std::string> cols;   // "" for NULL
  std::vector<bool> null;
  const std::string& operator[](size_t i) const { return cols.at(i); }
  bool is_null(size_t i) const { return null.at(i); }
};

struct Check {
  findings::RuleInfo rule;
  std::string sql;
  // Fills message and fix of a finding whose rule, severity and object are set.
  void (*word)(const Row& row, findings::Finding& f);
  // Optional: a row becomes a finding only if this returns true. It may run SQL (read only:
  // the checks run in a read-only transaction), inside a savepoint rolled back afterwards; an
  // error counts as false.
  bool (*keep)(pg::Conn& conn, const Row& row) = nullptr;
};

// Every check, in the order they run and are listed.
const std::vector<Check>& all_checks();

// SQL fragments shared by the checks.
namespace sql {
// True when the namespace oid `ns` is a user schema the checks look at (not system, not $3).
std::string user_schema(const std::string& ns);
// True when the object `oid` of catalog `catalog` belongs to an extension.
std::string from_extension(const std::string& catalog, const std::string& oid);
// Text listing which API roles (existing ones among $2) and PUBLIC hold which of SELECT,
// INSERT, UPDATE, DELETE on relation `rel` (column privileges count for the first three), e.g.
// "anon (select), authenticated (select, insert)"; NULL when none.
std::string table_reach(const std::string& rel);
// Text listing the API roles and PUBLIC that may EXECUTE function `fn`; NULL when none.
std::string function_reach(const std::string& fn);
// "schema.name" of relation `rel` (quoted where needed).
std::string qualified(const std::string& rel);
// True when view `rel` (a pg_class row alias) has security_invoker on.
std::string security_invoker(const std::string& rel_alias);
}  // namespace sql

// The checks, one per file.
Check rls_disabled_in_exposed_schema();
Check policy_on_table_without_rls();
Check rls_enabled_no_policy();
Check policy_always_true_write();
Check policy_true_for_null_sub();
Check multiple_permissive_policies();
Check view_bypasses_rls();
Check function_search_path_mutable();
Check security_definer_function_executable();
Check foreign_key_without_index();
Check table_without_primary_key();
Check sensitive_column_exposed();

}  // namespace belay::rls::detail
