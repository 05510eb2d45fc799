// reindex-non-concurrently: REINDEX blocks writes (and reads using the index).
#include <fmt/format.h>

#include "lint/rule.h"

namespace belay::lint {
using namespace tree;

const Rule& rule_reindex_non_concurrently() {
  static const Rule r{
      {"reindex-non-concurrently", "locks", Severity::warning,
       "REINDEX without CONCURRENTLY",
       "REINDEX locks out writes to the table and reads that would use the index until it is\n"
       "rebuilt. REINDEX ... CONCURRENTLY (PostgreSQL 12+) rebuilds without blocking."},
      {{true, {"reindex index t_a_idx;"}},
       {true, {"reindex table t;"}},
       {false, {"reindex (concurrently) index t_a_idx;"}},
       {false, {"reindex index concurrently t_a_idx;"}}},
      [](const StmtCtx& c) {
        if (c.kind != "ReindexStmt" || !c.st.transactional) return;  // CONCURRENTLY (and SCHEMA, ...) are not
        if (c.opt.pg_version < 12) return;
        std::string what = relation(at(c.node, "relation"));
        c.flag(-1, fmt::format("REINDEX of {} without CONCURRENTLY blocks writes until it finishes", what), what,
               "REINDEX ... CONCURRENTLY");
      },
      nullptr};
  return r;
}

}  // namespace belay::lint
