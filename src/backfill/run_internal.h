// Decisions inside `run` that tests check on their own.
#pragma once

#include <optional>
#include <string>

#include "backfill/backfill.h"

namespace belay::backfill {

// Lock timeouts, deadlocks and serialization failures: retry the same batch later.
bool transient(const std::string& sqlstate);
// The server refused the data of a user (SQLSTATE class 22, 23, P0, 44, 38, 39, 2F):
// split the batch and quarantine that user. Any other error stops the run.
bool user_data_error(const std::string& sqlstate);
// Why writing should pause, given the replicas' lag and the sessions waiting on our locks.
std::optional<std::string> throttle_decision(double lag_ms, long long waiters, const Job& job);

}  // namespace belay::backfill
