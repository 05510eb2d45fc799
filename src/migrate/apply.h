// Internal to src/migrate: running one script (up or down) of one migration against
// the target, with lock-timeout retries, progress for non-transactional scripts and
// recovery of interrupted concurrent index builds.
#pragma once

#include <string>

#include "migrate/migrate.h"

namespace belay::migrate::apply {

struct Job {
  const Migration* migration;
  const Script* script;
  bool up = true;              // direction
  int resume_from = 0;         // statements already done (partial non-transactional run)
  bool resuming = false;       // a history row in a partial state exists
  std::string applied_by;      // os user@host
  std::string runner;          // for the attempt log
};

// Runs the job; fills `step` (outcome, attempts, log, duration). Returns the error that
// stopped it, with file:line:col of the failing statement.
Status run(pg::Conn& conn, const Job& job, const RunOptions& opt, StepReport& step);

// Session defaults for a run: lock_timeout, statement_timeout, and a client connection
// check so a killed runner's backend ends (and lets go of its locks) within a second.
Status configure_session(pg::Conn& conn, const RunOptions& opt);

// "transaction" or "statement-by-statement (REASON)".
std::string mode_of(const Script& s);

}  // namespace belay::migrate::apply
