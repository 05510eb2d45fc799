// Rehearsal: prove, on a throwaway database, that every rollback restores the schema
// its migration changed, and that the migration re-applies to the same schema.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "findings/findings.h"
#include "migrate/migrate.h"
#include "rls/rls.h"
#include "util/error.h"

namespace belay::rehearse {

struct MigrationProof {
  std::string version, name;
  bool has_down = false;
  bool ran = false;                   // reached (an earlier failure stops the proof chain)
  double up_ms = 0, down_ms = 0, reup_ms = 0;
  std::string before, after;          // fingerprints before and after up
  std::optional<bool> restores;       // down brought the schema back to `before` (none: no down)
  std::optional<bool> reapplies;      // up again gave `after`
  std::vector<std::string> diff;      // what the down left behind or lost ("index public.x: added")
  std::vector<std::string> reapply_diff;
  std::vector<migrate::StatementLocks> locks;  // from the first up
  std::string mode;                   // transaction / statement-by-statement (...)
  std::optional<Error> error;         // up, down or re-up failed
  // What the first up made more exposed to API roles (rls::surface_regressions).
  std::vector<findings::Finding> surface;
};

struct Report {
  std::vector<MigrationProof> migrations;
  int total = 0, with_down = 0, restored = 0, reapplied = 0, failed = 0;
  double total_ms = 0;
  bool ok = false;                    // every rollback present restores; nothing failed
  std::vector<std::string> missing_down;  // versions without a rollback
  int tracked_updates = 0;            // fingerprints taken incrementally (checked by one full digest at the end)
  std::vector<std::string> notes;     // e.g. the proof was redone without tracking
  int surface_findings = 0;           // security surface regressions, all migrations
  int surface_failing = 0;            // of which at or above Options::surface_fail_at
};

struct Options {
  migrate::RunOptions run;            // timeouts, flavor; observe_locks is forced on
  bool require_down = false;          // a missing rollback makes the report not ok
  // Fingerprint incrementally (fingerprint::Tracker), checked by a full digest at the end;
  // false: a full digest at every step (slower, same result).
  bool track = true;
  // A fresh, empty database with the same template as the rehearsal one. Needed only to
  // name the objects behind a failed proof: the state before the failing step is rebuilt
  // there. When empty, full models are captured at every step instead (slower).
  std::function<Result<std::string>()> fresh_database;
  // Called in migration order as proofs finish (from the calling thread or a worker; never
  // two at once).
  std::function<void(const MigrationProof&, int index, int total)> on_progress;
  // Shadow databases proving ranges of the set at once (needs fresh_database): 0 = one per
  // core, at most 4, each with at least 25 migrations; 1 when a migration touches what every
  // database of the cluster shares (roles, tablespaces, databases, DO blocks).
  int jobs = 0;
  // Compare the security surface before and after each migration's first up (RLS flags,
  // policies, grants to API roles, security_invoker, SECURITY DEFINER, default privileges);
  // empty: not compared.
  std::optional<rls::SurfaceOptions> surface;
  // Regressions at or above this severity make the report not ok; empty: reported only.
  std::optional<findings::Severity> surface_fail_at = findings::Severity::error;
};

// Rehearses every migration that is pending on `dsn`, in order: fingerprint, up,
// fingerprint, down, fingerprint (must equal the first), up again, fingerprint (must equal
// the second). A failed step is reported and the database rebuilt (when fresh_database is
// given) so the rest of the set is still proven.
Result<Report> run(const std::string& dsn, const migrate::MigrationSet& set, const Options& opt);

}  // namespace belay::rehearse
