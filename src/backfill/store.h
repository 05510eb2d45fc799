// The database side of backfills: belay's own tables (schema belay), the job lock, and
// what the catalog says about the source and target tables.
#pragma once

#include <string>
#include <vector>

#include "backfill/backfill.h"
#include "backfill/convert.h"
#include "pg/pg.h"

namespace belay::backfill {

// belay.backfill_runs, _progress, _audit, _quarantine and the view _audit_rows
// (documented in docs/architecture.md). Idempotent; one cheap query when they exist.
Status ensure_tables(pg::Conn& conn);
// True when belay.backfill_progress exists (plan and verify read it; they create nothing).
Result<bool> tables_exist(pg::Conn& conn);

// Session advisory lock per job: one runner (run or rollback) per job at a time. Waits up
// to `wait`, then fails with ExitCode::locked naming the holder.
Status lock_job(pg::Conn& conn, const Job& job, milliseconds wait);
void unlock_job(pg::Conn& conn, const Job& job);
struct JobLock {  // releases a lock taken with lock_job
  pg::Conn& conn;
  const Job& job;
  ~JobLock() { unlock_job(conn, job); }
};

struct Target {
  std::vector<bool> not_null;     // per job column: NOT NULL in the table
  std::vector<IntBounds> bounds;  // per job column: int2/int4/int8 range
  std::string copy_sql;           // COPY t (id, user, plain columns..., reference columns...) FROM STDIN
  std::vector<size_t> plain, refs;  // job column indexes in COPY order
};

struct Catalog {
  std::vector<Target> targets;       // aligned with job.entities
  std::vector<size_t> write_order;   // entity indexes, parents first (job references + foreign keys)
  std::string doc_type;              // the source column's type: jsonb, json or text
};

// Checks the source and target tables against the job; errors point at the job file.
Result<Catalog> inspect(pg::Conn& conn, const Job& job);

// The latest source row per user (the job's latest_by, then the source id, decide), as a
// subquery with columns belay_user, belay_id, belay_version, belay_doc and the row's own.
std::string latest_rows_sql(const Job& job);

// {"a","b\"c"} for = any($1::text[])
std::string text_array(const std::vector<std::string>& items);

// A run id: UTC time and a random suffix, e.g. 20251225T120000Z-3fa9.
std::string make_run_id();

}  // namespace belay::backfill
