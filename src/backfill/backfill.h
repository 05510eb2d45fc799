// Backfills: per-user JSON documents (seed 003's user_app_state.state) moved into
// normalized tables. A job file (TOML) names the source, and per target entity the JSON
// array, the table, the columns and the references to sibling arrays by old id. New ids
// are UUIDv5(job, user, entity, old id), so every rerun computes the same ones.
//
//   plan      a data-level dry run: rows, old→new ids, problems, the exact SQL; writes nothing
//   run       writes, one user = all its rows or none, audit + progress in the same
//             transaction; resumable after kill -9; bad users are quarantined
//   verify    source array lengths against the rows created, orphans, duplicate mappings
//   rollback  deletes exactly what the audit says was created, children before parents
//
// belay's own tables (schema belay) are described in docs/architecture.md. Nothing here
// prints; progress and events come back through callbacks.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pg/pg.h"
#include "util/error.h"

namespace belay::backfill {

using std::chrono::milliseconds;

// What to do with a problem in one user's document.
enum class Policy {
  null,        // set the value NULL and keep the row (a missing id: a positional id)
  skip_row,    // leave this element out (rows that reference it then dangle)
  quarantine,  // write nothing for this user; record why; the run goes on
};
const char* policy_name(Policy p);

// Column types a job can map JSON values to (checked in belay, before the server sees them).
enum class Type { text, int_, numeric, boolean, timestamptz, jsonb, uuid };
const char* type_name(Type t);

struct Where {  // a position in the job file, for errors
  int line = 0, column = 0;
};

struct Column {
  std::string name;               // target column
  std::vector<std::string> from;  // field inside the element ("a.b" → {"a","b"})
  Type type = Type::text;
  std::string ref;                // referenced entity (by old id); empty if not a reference
  // The value used when the field is absent or null, already as COPY text; "now" for
  // timestamptz means the transaction time.
  std::optional<std::string> default_text;
  Where at;
};

struct Entity {
  std::string name;               // key under [entities]
  std::vector<std::string> path;  // the array inside the document
  std::string schema, table;      // target; schema empty = search_path
  std::string id_column = "id";   // receives the new UUID
  std::string old_id = "id";      // field of the element holding its old id
  std::string user_column = "user_id";  // receives the user key ("" = none)
  Policy on_dangling = Policy::null, on_missing_id = Policy::skip_row, on_bad_type = Policy::quarantine;
  bool coerce = true;             // "42" accepted for int, 42 for text, "true" for bool
  std::vector<Column> columns;
  Where at;
  std::string qualified() const;  // "schema"."table", quoted
};

struct Job {
  std::filesystem::path file;
  std::string checksum;           // SHA-256 of the file: a resumed run refuses a changed job
  std::string name;
  struct {
    std::string schema, table;    // source table
    std::string id = "id", user = "user_id", column = "state", latest_by;
    Where at;
  } source;
  std::vector<Entity> entities;   // parents before children (references first)
  int batch_size = 500;           // users per transaction
  int workers = 2;                // connections writing batches at once
  milliseconds lock_timeout{2000};
  int lock_retries = 5;           // retries of a batch after a lock timeout / deadlock
  milliseconds max_replication_lag{10000};  // pause while a replica lags more than this
  int max_lock_waiters = 0;       // pause while more sessions than this wait on a belay lock
  std::string source_qualified() const;
  const Entity* find(const std::string& entity) const;
};

// Reads and checks a job file. Errors name the file, line and column.
Result<Job> load_job(const std::filesystem::path& file);

// UUIDv5 of the job's namespace and (user, entity, old id); exposed for tests and for
// hand-written SQL that must agree with belay (bench/backfill_floor.sql).
std::string new_id(const Job& job, const std::string& user, const std::string& entity, const std::string& old_id);
std::string job_namespace(const std::string& job_name);

// ---------------------------------------------------------------- plan

struct Problem {
  std::string user, entity;
  std::string kind;     // not_an_array, bad_element, missing_id, duplicate_id, bad_type,
                        // dangling_ref, not_null, bad_document, database
  int index = -1;       // element index in the array, -1 = the whole array / document
  std::string field;    // JSON field involved
  std::string detail;   // human text
  std::string action;   // "set null", "skipped row", "quarantined user", "positional id"
};

struct IdMapping {
  std::string old_id, new_id;
};

struct EntityPlan {
  std::string entity, table;
  int source_elements = 0;        // length of the array in the document (0 when absent)
  int rows = 0, skipped = 0;
  std::vector<IdMapping> ids;
};

struct UserPlan {
  std::string user, source_id;
  bool quarantined = false;
  std::string reason;
  std::vector<EntityPlan> entities;
  std::vector<Problem> problems;
};

struct TableCount {
  std::string entity, table;
  long long rows = 0, skipped = 0;
};

struct PlanOptions {
  long long limit = 0;              // 0 = every pending user
  std::vector<std::string> users;   // only these users (pending or not)
  bool with_rows = true;            // keep per-user id maps (false for large plans)
};

struct Plan {
  std::vector<UserPlan> users;
  std::vector<TableCount> tables;
  std::map<std::string, long long> problems_by_kind;
  long long pending_users = 0;      // not yet backfilled nor quarantined, in the whole source
  long long done_users = 0, quarantined_users = 0;
  long long superseded_rows = 0;    // older rows of users with several (latest wins)
  long long rows_without_user = 0;  // source rows whose user key is NULL or empty
  long long empty_users = 0;        // planned users whose documents hold no rows
  std::vector<std::string> statements;  // the statements a run sends per batch
  std::string script;               // the exact SQL for these users, runnable with psql
};

// Reads the users' latest rows and transforms them; runs in a READ ONLY transaction.
Result<Plan> plan(pg::Conn& conn, const Job& job, const PlanOptions& opt);

// ---------------------------------------------------------------- run

struct Progress {
  long long users_total = 0, users_done = 0, users_quarantined = 0, rows = 0;
  double elapsed_s = 0;
  bool throttled = false;
  std::string throttle_reason;
};

struct RunEvent {
  std::string kind;  // backup, resume, batch, retry, bisect, quarantine, throttle, error
  nlohmann::json data;
};

struct RunOptions {
  long long limit = 0;            // users to take in this run (0 = all pending)
  int batch_size = 0;             // 0 = the job's
  int workers = 0;                // 0 = the job's
  bool retry_quarantined = false; // give quarantined users another chance
  milliseconds lock_wait{30000};  // wait for another runner of the same job
  milliseconds throttle_check{1000};
  std::function<void(const Progress&)> on_progress;  // called from the calling thread
  std::function<void(const RunEvent&)> on_event;     // called from the calling thread
};

struct Quarantined {
  std::string user, source_id, reason, sqlstate;
};

struct RunReport {
  std::string run_id;
  bool resumed = false;
  std::string backup_table;       // belay."backfill_backup_<run id>": the rows read
  long long backup_rows = 0;
  long long users_total = 0;      // users in this run (its backup)
  long long users_done = 0, users_quarantined = 0, users_already = 0;
  long long rows = 0, empty_users = 0, superseded_rows = 0;
  std::vector<TableCount> tables;
  std::map<std::string, long long> problems_by_kind;
  std::vector<Quarantined> quarantined;
  int batches = 0, batch_retries = 0, bisections = 0;
  double throttled_ms = 0, duration_ms = 0;
  std::optional<Error> error;     // the run stopped; rerun to resume
};

// Takes the job's lock (ExitCode::locked when another runner holds it past lock_wait),
// resumes an unfinished run or starts one (backup first), then writes batches on
// `workers` connections opened from `conn`.
RunReport run(pg::Conn& conn, const Job& job, const RunOptions& opt);

// ---------------------------------------------------------------- verify

struct VerifyIssue {
  std::string check;    // counts, missing_rows, orphans, duplicate_ids, duplicate_mappings
  std::string user, entity, table;
  std::string detail;
};

struct VerifyReport {
  bool ok = true;
  long long users_checked = 0, rows_checked = 0;
  long long users_changed_since = 0;  // latest source row differs from the one backfilled
  long long users_pending = 0, users_quarantined = 0;
  std::map<std::string, long long> failures_by_check;
  std::vector<VerifyIssue> issues;    // at most 200 listed
};

Result<VerifyReport> verify(pg::Conn& conn, const Job& job);

// ---------------------------------------------------------------- rollback

struct RollbackOptions {
  std::string run_id;             // only this run
  std::string user;               // only this user
  int batch_users = 500;          // users per transaction
  milliseconds lock_wait{30000};
  std::function<void(long long users_done, long long users_total)> on_progress;
};

struct RollbackReport {
  long long users = 0, rows = 0;
  std::vector<TableCount> tables;      // rows deleted per table
  std::vector<std::string> runs;       // runs that are now fully rolled back
  std::vector<std::string> order;      // tables, in the order rows were deleted
  std::optional<Error> error;          // stopped; rerun to finish
};

RollbackReport rollback(pg::Conn& conn, const Job& job, const RollbackOptions& opt);

}  // namespace belay::backfill
