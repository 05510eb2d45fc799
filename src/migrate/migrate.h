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
  std::string non_tx_reason;                // why not (first statement that cannot)
  std::optional<milliseconds> lock_timeout;       // -- belay:lock_timeout=5s
  std::optional<milliseconds> statement_timeout;  // -- belay:statement_timeout=1min
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

// --- history (belay.migrations) ---
struct Applied {
  std::string version, name, checksum, applied_at, applied_by;
  double duration_ms = 0;
  std::string state;      // "applied", "partial_up" (non-transactional, interrupted), "partial_down"
  int progress = 0;       // statements completed of a partial script
  int total = 0;
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
};

struct RunReport {
  std::vector<StepReport> steps;
  std::optional<Error> error;     // the failure that stopped the run, if any
  std::vector<std::string> warnings;
};

RunReport migrate(pg::Conn& conn, const MigrationSet& set, const RunOptions& opt);
RunReport rollback(pg::Conn& conn, const MigrationSet& set, const RunOptions& opt);

// Marks migrations as applied without running them: those up to `to`, or (supabase) the
// versions already recorded in supabase_migrations.schema_migrations.
Result<std::vector<std::string>> baseline(pg::Conn& conn, const MigrationSet& set,
                                          std::optional<std::string> to, bool from_supabase);

}  // namespace belay::migrate
