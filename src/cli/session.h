// What every database command shares: the project, its migrations, the target, a
// connection, run options from belay.toml and flags, and the evidence recorder.
#pragma once

#include <optional>
#include <string>

#include "cli/commands.h"
#include "evidence/evidence.h"
#include "migrate/migrate.h"
#include "pg/pg.h"
#include "project/project.h"

namespace belay::cli {

struct RunFlags {
  std::string to;
  int steps = 0;
  bool dry_run = false, allow_drift = false, allow_ooo = false, from_supabase = false;
  std::string lock_wait, lock_timeout, statement_timeout;
  int lock_retries = -1;
  bool check_surface = false;          // migrate/rollback --check-surface
  bool fingerprint_each = false;       // migrate/rollback --fingerprint-each
  std::string regressions_fail_at;     // overrides [rls] regressions_fail_at
};

struct Session {
  project::Config cfg;
  migrate::MigrationSet set;
  project::ResolvedTarget target;
  std::optional<pg::Conn> conn;
};

// Loads the project and (need_set) its migrations, and (connect) opens the target.
Result<Session> open_session(const Global& g, const std::string& verb, bool connect = true, bool need_set = true);
Result<migrate::RunOptions> run_options(const Session& s, const RunFlags& f);

// The evidence run directory of one command (absent with --no-evidence). Every call is
// best effort after open(): a command never fails because a late evidence write did.
class Recorder {
 public:
  // Opens artifacts/<date>/<run id>/ and records connectivity (current_database, server
  // address, version, user, now: seed 002 §2). Fails only if the directory can't be made.
  static Result<Recorder> open(const Global& g, Session& s, const std::string& command);
  static Recorder none() { return Recorder(); }

  bool active() const { return run_.has_value(); }
  std::string dir() const;
  void event(const std::string& kind, const nlohmann::json& data);
  void json_file(const std::string& name, const nlohmann::json& j);
  void status(const std::string& name, pg::Conn& conn, const migrate::MigrationSet& set);
  // migrations.json: per step the statements with timings, retries, notices, locks; and
  // one event per step.
  void run_report(const migrate::RunReport& rep, const migrate::MigrationSet& set);
  void finish(const std::string& outcome, const std::string& markdown);

 private:
  std::optional<evidence::Run> run_;
};

nlohmann::json step_json(const migrate::StepReport& s);
nlohmann::json status_json(const std::vector<migrate::StatusEntry>& st);

// The hand-off summary for migrate/rollback (report.md): what ran, outcomes, what failed
// and why, what is missing.
std::string run_markdown(const std::string& command, const Session& s, const migrate::RunReport& rep);

}  // namespace belay::cli
