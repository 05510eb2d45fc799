// transaction-control-in-migration: BEGIN/COMMIT written in a migration.
#include "lint/rule.h"

namespace belay::lint {

const Rule& rule_transaction_control_in_migration() {
  static const Rule r{
      {"transaction-control-in-migration", "robustness", Severity::warning,
       "BEGIN / COMMIT / ROLLBACK written in a migration",
       "belay runs each migration in one transaction together with its history row, so a failure\n"
       "leaves nothing behind. A file that writes its own BEGIN/COMMIT is run as written,\n"
       "statement by statement: a failure after a COMMIT leaves the migration half applied, and\n"
       "statements outside the block run without one. Remove them and let belay wrap the file\n"
       "(use -- belay:no-transaction when it truly must not run in a transaction)."},
      {{true, {"begin;\ncreate table t (a int);\ncommit;"}},
       {false, {"create table t (a int);"}},
       {false, {"create function f() returns void language plpgsql as $$ begin perform 1; end $$;"}}},
      [](const StmtCtx& c) {
        if (!c.st.transaction_control) return;
        c.flag(-1, "the migration manages its own transaction: belay cannot apply it atomically with its history row",
               "", "remove BEGIN/COMMIT: belay wraps the migration in a transaction");
      },
      nullptr};
  return r;
}

}  // namespace belay::lint
