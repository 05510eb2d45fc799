// Internal to src/migrate: the history tables and the SQL that keeps them.
#pragma once

#include <optional>
#include <string>
#include <thread>

#include "migrate/migrate.h"

namespace belay::migrate::history {

// Creates schema belay and its tables if missing (idempotent, run under the lock).
Status ensure(pg::Conn& conn, bool supabase);

// SQL fragments, values already quoted.
std::string record_applied(const Migration& m, const std::string& applied_by);  // upsert state=applied
std::string record_partial(const Migration& m, const std::string& state, int total, const std::string& applied_by);
std::string record_progress(const Migration& m, int done);
std::string remove(const Migration& m);
std::string supabase_insert(const Migration& m);
std::string supabase_delete(const Migration& m);
// One row of belay.migration_log (every attempt: success, failure, retry).
std::string log_row(const std::string& version, const std::string& direction, int attempt,
                    const std::string& outcome, const std::string& message, const std::string& sqlstate,
                    double duration_ms, const std::string& runner);

// Captures the schema model, stores its hash on `version`'s history row and the model
// in belay.schema_snapshot. With full=false only the hash is stored (digest, cheaper).
Result<std::string> record_fingerprint(pg::Conn& conn, const std::string& version, bool full);

// Opens a second connection and, on a background thread, plans the fingerprint statement
// there (planning it costs more than running it) while the migrations run on `conn`.
class FingerprintWarmup {
 public:
  FingerprintWarmup(pg::Conn& conn, bool enabled);
  ~FingerprintWarmup();
  // The warmed connection once the warm-up is done, or `fallback`.
  pg::Conn& connection(pg::Conn& fallback);
 private:
  std::optional<pg::Conn> conn_;
  std::thread thread_;
  bool ok_ = false;
};

}  // namespace belay::migrate::history
