// concurrently-in-transaction: PostgreSQL refuses CONCURRENTLY (and friends) in a block.
#include <fmt/format.h>

#include "lint/rule.h"

namespace belay::lint {

const Rule& rule_concurrently_in_transaction() {
  static const Rule r{
      {"concurrently-in-transaction", "locks", Severity::error,
       "CONCURRENTLY (or another statement PostgreSQL refuses in a transaction) inside BEGIN ... COMMIT",
       "CREATE/DROP INDEX CONCURRENTLY, REINDEX CONCURRENTLY, VACUUM, ALTER TYPE on PostgreSQL < 12\n"
       "and a few others cannot run inside a transaction block: the migration fails with SQLSTATE\n"
       "25001. belay already runs a file holding them statement by statement outside a\n"
       "transaction; the explicit BEGIN/COMMIT written around it is what breaks it. Remove the\n"
       "BEGIN/COMMIT, or move the statement to a migration of its own."},
      {{true, {"begin;\ncreate index concurrently t_a_idx on t (a);\ncommit;"}},
       {false, {"create index concurrently t_a_idx on t (a);"}},
       {false, {"create table t (a int);\ncreate index concurrently t_a_idx on t (a);"}},
       {false, {"begin;\ncreate table t (a int);\ncommit;\ncreate index concurrently t_a_idx on t (a);"}}},
      [](const StmtCtx& c) {
        if (c.st.transactional || !c.tx.in_block) return;
        c.flag(-1, fmt::format("{} cannot run inside the BEGIN ... COMMIT around it (SQLSTATE 25001)", c.st.non_tx_reason),
               "", "remove BEGIN/COMMIT from the file: belay runs it outside a transaction by itself");
      },
      nullptr};
  return r;
}

}  // namespace belay::lint
