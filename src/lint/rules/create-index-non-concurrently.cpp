// create-index-non-concurrently: CREATE INDEX takes a SHARE lock on an existing table.
#include <fmt/format.h>

#include "lint/rule.h"

namespace belay::lint {
using namespace tree;

const Rule& rule_create_index_non_concurrently() {
  static const Rule r{
      {"create-index-non-concurrently", "locks", Severity::error,
       "CREATE INDEX without CONCURRENTLY on an existing table",
       "CREATE INDEX holds a SHARE lock on the table for the whole build: every INSERT, UPDATE and\n"
       "DELETE waits, for minutes on a large table. CREATE INDEX CONCURRENTLY builds it without\n"
       "blocking writes. belay runs a file holding CONCURRENTLY statement by statement outside a\n"
       "transaction, and drops and rebuilds an INVALID index left by an interrupted build.\n"
       "A table created in the same migration is empty: no warning there."},
      {{true, {"create index t_a_idx on t (a);"}},
       {true, {"create table t (a int);", "create unique index t_a_idx on t (a);"}},
       {false, {"create index concurrently t_a_idx on t (a);"}},
       {false, {"create table t (a int);\ncreate index t_a_idx on t (a);"}}},
      [](const StmtCtx& c) {
        if (c.kind != "IndexStmt" || flag(c.node, "concurrent")) return;
        std::string t = relation(at(c.node, "relation"));
        if (c.is_new(t)) return;
        std::string idx = str(c.node, "idxname");
        c.flag(-1, fmt::format("index {}on {} is built without CONCURRENTLY: writes to {} wait for the whole build",
                               idx.empty() ? "" : idx + " ", t, t),
               t, "CREATE INDEX CONCURRENTLY (belay runs it outside a transaction)");
      },
      nullptr};
  return r;
}

}  // namespace belay::lint
