// belay lint: migration hazards (locks, rewrites, client breakage, robustness, types)
// and Supabase/RLS security mistakes, found with PostgreSQL's own parser before anything
// runs. The public face of src/lint/.
//
// The linter walks a migration set in run order and keeps a model of what the set has
// done so far (tables it created and in which migration, RLS, policies, NOT VALID
// constraints awaiting validation, enums, SECURITY DEFINER functions and their grants,
// which statements share a transaction, the session's lock_timeout). Rules (one per
// file under rules/) read that model, so a table and its index created in one migration,
// NOT VALID then VALIDATE in a later migration, or CONCURRENTLY in a file belay runs
// outside a transaction are not flagged.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "findings/findings.h"
#include "migrate/migrate.h"
#include "pg/pg.h"
#include "project/project.h"
#include "util/error.h"

namespace belay::lint {

using findings::Finding;
using findings::RuleInfo;
using findings::Severity;

struct Options {
  std::set<std::string> disabled;                 // rule ids never reported
  std::map<std::string, Severity> severity;       // per-rule overrides
  std::vector<std::string> exposed_schemas = {"public"};
  std::vector<std::string> exclude;               // glob patterns (relative to root): no findings, state still kept
  int pg_version = 15;                            // the server the migrations will run on
  // lock_timeout the runner sets before each migration (belay: [migrations] lock_timeout);
  // nullopt or zero = none, so only a SET in the file counts.
  std::optional<std::chrono::milliseconds> runner_lock_timeout;
  std::filesystem::path root;                     // finding paths are relative to it
};

// Options for a project: [project] exposed_schemas and [migrations] lock_timeout, then
// [lint] in belay.toml. Unknown rule ids there are usage errors naming belay.toml.
Result<Options> options_for(const project::Config& cfg);

// Every rule, sorted by id (`belay lint --rules`); nullptr when unknown.
const std::vector<RuleInfo>& rules();
const RuleInfo* find_rule(std::string_view id);

// A question about existing rows that only a live database can answer; produced for
// adding UNIQUE / PRIMARY KEY / NOT NULL, a NOT NULL column without a default, and
// validating (or adding without NOT VALID) CHECK and FOREIGN KEY constraints.
struct DataCheck {
  size_t finding = 0;                       // index into Report::findings
  enum class Kind { unique, not_null, check, foreign_key, any_rows } kind = Kind::any_rows;
  std::string table;                        // schema.name
  std::vector<std::string> columns;
  std::string expression;                   // check: the CHECK expression as written
  std::string ref_table;                    // foreign_key
  std::vector<std::string> ref_columns;
  std::string what;                         // "adding UNIQUE (email)"
  // After check_data: violating rows found (-1: not counted) and what was concluded.
  long long violations = -1;
  std::string result;
};

struct Report {
  std::vector<Finding> findings;            // in file order, then line and column
  std::vector<DataCheck> data_checks;
  int files = 0, statements = 0;
};

// One file to lint, in run order. `report` false: its statements shape the model (it
// runs earlier) but it gets no findings.
struct Input {
  const migrate::Script* script = nullptr;
  std::string display;                      // file name shown in findings
  std::string text;                         // the file's text (ignore comments, source lines)
  bool report = true;
};

// The engine: lint `inputs` in order with one model across all of them.
Report lint(const std::vector<Input>& inputs, const Options& opt);

// The project's migrations (up scripts, in version order, read by migrate::load_set so
// transactions match what `belay migrate` does). With `paths`, findings are reported only
// for those files (or files under those folders); files of the migration set still see
// the model built by the migrations before them, other files are linted on their own,
// after the set, in the order given.
Result<Report> lint_project(const project::Config& cfg, const std::vector<std::filesystem::path>& paths,
                            const Options& opt);

// In-memory files (name, SQL) linted as consecutive migrations: rule cases, the fuzzer.
Report lint_texts(const std::vector<std::pair<std::string, std::string>>& files, const Options& opt);

// Counts the rows behind each data check on a live database (read-only, one transaction)
// and rewrites its finding: error with the count when rows would make the migration fail,
// info "checked" when none. Tables the target does not have yet are new: nothing to count.
Status check_data(pg::Conn& conn, Report& report, const std::string& target);

// The explanation `belay lint --explain RULE` prints.
std::string explain(const RuleInfo& r);

}  // namespace belay::lint
