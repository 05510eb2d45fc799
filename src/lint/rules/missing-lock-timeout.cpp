// missing-lock-timeout: a blocking lock requested with no lock_timeout queues everyone behind it.
#include <fmt/format.h>

#include "lint/rule.h"

namespace belay::lint {

const Rule& rule_missing_lock_timeout() {
  static const Rule r{
      {"missing-lock-timeout", "locks", Severity::warning,
       "A blocking lock on an existing table with no lock_timeout",
       "A statement that needs a strong lock waits behind any long-running transaction, and every\n"
       "query arriving after it waits behind it: one slow report stalls the application. With a\n"
       "lock_timeout the statement gives up instead and can be retried. belay sets\n"
       "[migrations] lock_timeout (2s by default) before every migration and retries with backoff,\n"
       "so this fires only when that is 0, or when the file turns it off or runs elsewhere."},
      {{true, {"alter table t add column a int;"}},
       {true, {"set lock_timeout = 0;\nalter table t add column a int;"}},
       {false, {"set lock_timeout = '2s';\nalter table t add column a int;"}},
       {false, {"-- belay:lock_timeout=5s\nalter table t add column a int;"}},
       {false, {"create table t (a int);\nalter table t add column b int;"}}},
      [](const StmtCtx& c) {
        if (c.state.lock_timeout_ms > 0) return;
        std::string t = blocking_lock_table(c.kind, c.node, c.state);
        if (t.empty()) return;
        c.flag(-1, fmt::format("lock on {} is requested with no lock_timeout: queries queue behind it while it waits", t),
               t, "SET lock_timeout = '2s' first (belay: [migrations] lock_timeout, or -- belay:lock_timeout=2s)");
      },
      nullptr};
  return r;
}

}  // namespace belay::lint
