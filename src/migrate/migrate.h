// Migrations: load a migration set from disk, read and keep the history table, report
// status, apply and roll back with lock safety. The public face of src/migrate/.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "pg/pg.h"
#include "project/project.h"
#include "sql/sql.h"
#include "util/error.h"

namespace belay::migrate {

using std::chrono::milliseconds;

// One direction (up or down) of a migration.
struct Script {
  std::filesystem::path file;
  std::vector<sql::Statement> statements;   // lines/columns are file positions
  std::string checksum;                     // SHA-256 of the normalised statements
  bool transactional = true;                // whole script runs in one transaction
  // May leave session state behind (SET without LOCAL, set_config, SET ROLE ...): the
  // session is reset after it so the next migration starts clean.
  bool changes_session = false;
  std::string non_tx_reason;                // why not (first statement that cannot)
  std::optional<milliseconds> lock_timeout;       // -- belay:lock_timeout=5s
  std::optional<milliseconds> statement_timeout;  // -- belay:statement_timeout=1min
  // LoadOptions::lenient only: statements that did not parse (absent from `statements`).
  std::vector<Error> syntax_errors;
};

struct Migration {
  std::string version;   // leading digits as written
  std::string name;
  Script up;
  std::optional<Script> down;
};

struct MigrationSet {
  std::string layout;    // "plain" or "supabase"
  std::filesystem::path dir;
  std::vector<Migration> migrations;  // ascending numeric version
  const Migration* find(const std::string& version) const;
};

// Numeric comparison of version strings ("9" < "10", "007" == "7").
int compare_versions(const std::string& a, const std::string& b);

// Reads and validates every file. All problems are reported at once (first one as the
// error's location, the full list in detail): duplicate versions, malformed names,
// non-UTF-8 bytes, empty files, a down without an up, SQL that does not parse.
Result<MigrationSet> load_set(const project::Config& cfg);

struct LoadOptions {
  bool keep_trees = false;  // keep each statement's parse tree (sql::Statement::tree)
  // A statement that does not parse does not fail the load: it lands in
  // Script::syntax_errors and the rest of the file is still read (lint reports them).
  // Every other problem (names, duplicates, encoding, empty files) still fails it.
  bool lenient = false;
};
Result<MigrationSet> load_set(const project::Config& cfg, const LoadOptions& opt);

// One migration file read exactly as load_set reads it (plain, or dbmate-style sections
// with their transaction:false), from disk or from `text`. The name need not follow the
// <version>_<name>.sql convention (version and name are then empty).
Result<Migration> load_file(const std::filesystem::path& file, const LoadOptions& opt);
Result<Migration> load_text(const std::string& text, const std::filesystem::path& file, const LoadOptions& opt);

// --- history (belay.migrations) ---
struct Applied {
  std::string version, name, checksum, applied_at, applied_by;
  double duration_ms = 0;
  std::string state;      // "applied", "partial_up" (non-transactional, interrupted), "partial_down"
  int progress = 0;       // statements completed of a partial script
  int total = 0;
  std::string fingerprint;  // schema fingerprint after this migration, when recorded
};
// Empty when the history table does not exist yet (nothing applied).
Result<std::vector<Applied>> read_history(pg::Conn& conn);

// --- status ---
struct StatusEntry {
  std::string version, name;
  std::string state;      // "applied", "pending", "drifted", "missing", "partial"
  bool has_down = false;
  std::string applied_at;
  std::string file;
  std::string detail;     // e.g. "statement 3 of 5 done", "checksum changed"
};
Result<std::vector<StatusEntry>> status(pg::Conn& conn, const MigrationSet& set);

// --- running ---
struct Event {
  enum Kind { plan, begin, attempt_failed, done, note } kind;
  std::string version, name, message;
  int index = 0, total = 0;   // position in this run
};

struct RunOptions {
  std::optional<std::string> to;       // migrate: up to and including; rollback: down to (exclusive)
  std::optional<int> steps;            // rollback only (default 1 when neither is set)
  bool dry_run = false;
  bool allow_drift = false;
  bool allow_out_of_order = false;
  milliseconds lock_timeout{2000};
  milliseconds statement_timeout{0};
  milliseconds lock_wait{30000};
  int lock_retries = 5;
  std::string flavor = "postgres";     // "supabase": keep supabase_migrations.schema_migrations in step
  std::function<void(const Event&)> on_event;   // progress; may be empty
  // Rehearsal: run transactional scripts statement by statement and record the locks
  // each statement took on relations that existed before the migration.
  bool observe_locks = false;
  // Record the schema fingerprint in history: after the last migration of a run
  // (default; one capture per run), after every migration, or never.
  enum class Fingerprint { run_end, each, off } fingerprint = Fingerprint::run_end;
};

// Locks one statement acquired on pre-existing relations (rehearsal).
struct StatementLocks {
  int index = 0;                    // 0-based statement index in the script
  int line = 0;                     // file line of the statement
  std::string statement;            // first line of its text
  std::vector<std::string> locks;   // "AccessExclusiveLock on public.t", in acquisition order
};

struct StepReport {
  std::string version, name, direction;      // "up" or "down"
  std::string file;
  std::string outcome;                       // "applied", "reverted", "planned", "failed"
  std::string mode;                          // "transaction" or "statement-by-statement (REASON)"
  long long lock_timeout_ms = 0, statement_timeout_ms = 0;
  double duration_ms = 0;
  int attempts = 0;
  int resumed_from = 0;                      // statement index a partial run resumed at
  std::vector<std::string> statements;       // dry run: "line:col  text"
  std::vector<std::string> log;              // every retry, recovery and notice
  std::vector<std::string> notices;          // server notices (e.g. "relation ... already exists, skipping")
  std::vector<StatementLocks> locks;         // with RunOptions::observe_locks
};

struct RunReport {
  std::vector<StepReport> steps;
  std::optional<Error> error;     // the failure that stopped the run, if any
  std::vector<std::string> warnings;
  std::string fingerprint;        // schema fingerprint recorded at the end of the run, if any
};

RunReport migrate(pg::Conn& conn, const MigrationSet& set, const RunOptions& opt);
RunReport rollback(pg::Conn& conn, const MigrationSet& set, const RunOptions& opt);

// --- single steps, for drivers that own the sequencing (rehearsal) ---
// Takes the migration lock for the life of the session, makes sure the history tables
// exist and sets the session defaults. Then step() runs one script of one migration with
// its history bookkeeping, without re-reading history.
Status prepare(pg::Conn& conn, const RunOptions& opt);
StepReport step(pg::Conn& conn, const Migration& m, bool up, const RunOptions& opt, std::optional<Error>& error);

// --- live drift ---
// Compares the live schema with the fingerprint recorded for the last applied migration
// and names what changed outside migrations.
struct LiveDrift {
  bool recorded = false;          // a fingerprint was recorded at all
  std::string version;            // migration whose fingerprint is compared
  std::string recorded_hash, live_hash;
  bool drifted = false;
  bool detailed = false;          // changes below are known (a snapshot of that state exists)
  std::vector<std::string> changes;  // "index public.x: added", ...
};
Result<LiveDrift> live_drift(pg::Conn& conn);

// Marks migrations as applied without running them: those up to `to`, or (supabase) the
// versions already recorded in supabase_migrations.schema_migrations.
Result<std::vector<std::string>> baseline(pg::Conn& conn, const MigrationSet& set,
                                          std::optional<std::string> to, bool from_supabase);

}  // namespace belay::migrate
