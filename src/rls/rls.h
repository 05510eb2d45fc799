// Row level security and privileges: what the API roles of a database can reach.
//
//  * check():  catalog checks of a live database (`belay rls check`), one per file under
//              rls/checks/, reported as findings (the same shapes and formats as lint).
//  * run_contract(): a contract file's personas, fixtures and expectations, tested by acting
//              as each persona the way PostgREST does (`belay rls test`); generate_contract()
//              drafts one from the current policies.
//  * surface_regressions(): what got more exposed between two schema fingerprint models
//              (a migration's before and after).
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "findings/findings.h"
#include "fingerprint/fingerprint.h"
#include "pg/pg.h"
#include "project/project.h"
#include "util/error.h"

namespace belay::rls {

// ---------------------------------------------------------------------------------------
// Catalog checks

struct CheckConfig {
  std::vector<std::string> exposed_schemas = {"public"};       // what the API serves
  std::vector<std::string> api_roles = {"anon", "authenticated"};  // roles API requests run as
  std::string anon_role = "anon";                               // the one without a login
  // Policies there are held to the policy checks too (Supabase: storage.objects).
  std::vector<std::string> policy_schemas;
  // Never looked at (besides the system schemas and belay's own): Supabase-managed schemas.
  std::vector<std::string> skip_schemas = {"belay", "supabase_migrations"};
  std::vector<std::string> disabled;                            // check ids
  std::map<std::string, findings::Severity> severity;           // check id -> severity
  // Findings to leave out: "OBJECT" or "CHECK:OBJECT"; '*' matches any run of characters.
  std::vector<std::string> ignore;
};

// From belay.toml: [project] flavor and exposed_schemas, [rls] disable, severity, ignore,
// api_roles, anon_role. Unknown check ids and severities are usage errors naming belay.toml.
Result<CheckConfig> check_config(const project::Config& cfg);

// Every check: id, family ("security", "performance"), default severity, summary, and the
// explanation `belay rls check --explain ID` prints.
std::vector<findings::RuleInfo> checks();

struct CheckReport {
  std::vector<findings::Finding> findings;   // by severity (errors first), then check, object
  std::vector<std::string> unused_ignores;   // [rls] ignore entries that matched nothing
  int ignored = 0;                           // findings left out by [rls] ignore
};

// Runs every enabled check against the connected database (read only; one transaction).
Result<CheckReport> check(pg::Conn& conn, const CheckConfig& cfg);

// ---------------------------------------------------------------------------------------
// Contracts

enum class Command { select, insert, update, delete_ };
const char* to_string(Command c);

struct Expectation {
  enum Kind { allowed, denied, only } kind = denied;
  std::string predicate;      // for `only`: SQL over the table's columns (may call auth.uid())
  int line = 0, column = 0;   // in the contract file
  std::string text() const;   // "allowed", "denied", "where <predicate>"
};

struct Persona {
  std::string name;
  std::string role;           // the role PostgREST would switch to (set_config('role', ..))
  nlohmann::json claims;      // the JWT claims (request.jwt.claims); "role" is filled in
  int line = 0;
};

struct Fixture {
  std::string table;                    // schema-qualified, as written
  std::vector<nlohmann::json> rows;     // column -> value
  std::vector<int> lines;               // per row
};

struct TableContract {
  std::string table;
  std::map<Command, std::map<std::string, Expectation>> expect;  // command -> persona -> expectation
  int line = 0;
};

struct Contract {
  std::string file;                     // for messages
  std::vector<Persona> personas;
  std::vector<Fixture> fixtures;        // inserted in this order
  std::vector<TableContract> tables;
};

// Parses a contract (TOML). Every mistake is a usage error with file:line:column.
Result<Contract> parse_contract(const std::string& text, const std::string& file);
Result<Contract> load_contract(const std::filesystem::path& file);

struct TestOptions {
  std::vector<std::string> search_path = {"public"};  // what PostgREST sets (exposed schemas)
  bool keep_script = false;   // fill TestReport::script
};

struct ProbeResult {
  std::string table, persona;
  Command command = Command::select;
  Expectation expected;
  bool ok = false;
  std::string actual;         // "denied (0 of 4 rows)", "all 4 rows", "2 of 4 rows", "error 23503: ..."
  std::string detail;         // a mismatch: the rows that differ, or the change that got through
  std::string note;           // e.g. the fixtures cannot tell this expectation from "allowed"
};

struct TestReport {
  std::vector<ProbeResult> results;   // mismatches first, then by table, persona, command
  int mismatches = 0;
  int probes = 0;                     // statements run as a persona
  int statements = 0;                 // statements sent in all
  double ms = 0;
  std::string script;                 // with keep_script: every statement, as a psql script
};

// Inserts the fixtures and runs every probe inside one transaction that is rolled back (a
// savepoint per probe, rolled back after it), so nothing persists. A persona acts as
// PostgREST makes it act: set_config('role', ..., true) and set_config('request.jwt.claims',
// ..., true), then the statement. A denial is what PostgreSQL reports: no rows for select,
// update and delete, SQLSTATE 42501 (privilege, or a row WITH CHECK rejects). Problems with
// the contract itself (unknown table or role, a fixture that does not insert, a predicate that
// does not run) are errors naming the contract's line.
Result<TestReport> run_contract(pg::Conn& conn, const Contract& c, const TestOptions& opt = {});

// A draft contract (TOML text) from the current grants and policies of the exposed schemas'
// tables: personas anon, two authenticated users and service_role (those whose roles exist),
// each expectation derived from the policies that apply, fixtures left for a human to write.
Result<std::string> generate_contract(pg::Conn& conn, const CheckConfig& cfg);

// ---------------------------------------------------------------------------------------
// Security surface of a migration

struct SurfaceOptions {
  std::vector<std::string> exposed_schemas = {"public"};
  std::vector<std::string> api_roles = {"anon", "authenticated"};
};

// What became more exposed from `before` to `after` (fingerprint models of the same database
// before and after a migration), as findings (rule ids below, object, message, fix):
//   surface-table-exposed       a table in an exposed schema became readable or writable by an
//                               API role or PUBLIC with every row (privilege and RLS off, or a
//                               policy that is always true)
//   surface-rls-disabled        row level security was turned off on a table
//   surface-policy-loosened     a policy now applies to more roles or commands, became
//                               permissive, became always true, or lost its WITH CHECK; or a
//                               restrictive policy was dropped
//   surface-policy-added        a permissive policy was added to a table that had RLS before
//   surface-policy-changed      a policy's USING / WITH CHECK changed otherwise (info: review)
//   surface-view-bypasses-rls   a view readable by API roles lost security_invoker or was
//                               created without it
//   surface-definer-executable  a SECURITY DEFINER function in an exposed schema became
//                               executable by an API role or PUBLIC
//   surface-default-privileges  default privileges grant API roles or PUBLIC more than before
// Pure: no database. Findings are sorted by severity, rule, object.
std::vector<findings::Finding> surface_regressions(const fingerprint::Model& before, const fingerprint::Model& after,
                                                   const SurfaceOptions& opt = {});

// From belay.toml: [project] exposed_schemas, [rls] api_roles and regressions_fail_at
// (`override_fail_at`, when not empty, replaces the latter: "error", "warning", "info", "never").
struct SurfaceConfig {
  SurfaceOptions options;
  std::optional<findings::Severity> fail_at;   // empty: regressions are reported, never fatal
};
Result<SurfaceConfig> surface_config(const project::Config& cfg, const std::string& override_fail_at = "");

// The same for the last update of a tracker (one migration step): only the relations and
// functions that step touched are compared.
std::vector<findings::Finding> surface_regressions(const fingerprint::Tracker& tracker, const SurfaceOptions& opt = {});

}  // namespace belay::rls
