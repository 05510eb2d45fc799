// Internal to src/migrate: the one-runner-at-a-time advisory lock, and naming whoever
// blocks us (the lock holder, or sessions holding locks on the relations we touch).
#pragma once

#include <string>
#include <vector>

#include "migrate/migrate.h"

namespace belay::migrate::lock {

// Waits up to `wait` for the session advisory lock; on timeout returns an Error with
// code `locked` naming the holder (pid, application_name, since).
Status acquire(pg::Conn& conn, milliseconds wait);
Status release(pg::Conn& conn);

// Sessions other than ours holding granted locks on any of `relations` (as written in
// SQL; unknown names are skipped): "pid 123 (psql, idle in transaction since ...) holds
// AccessShareLock on public.t".
std::vector<std::string> blockers(pg::Conn& conn, const std::vector<std::string>& relations);

}  // namespace belay::migrate::lock
