// drop-index-non-concurrently: DROP INDEX takes ACCESS EXCLUSIVE on the index's table.
#include <fmt/format.h>

#include "lint/rule.h"

namespace belay::lint {
using namespace tree;

const Rule& rule_drop_index_non_concurrently() {
  static const Rule r{
      {"drop-index-non-concurrently", "locks", Severity::warning,
       "DROP INDEX without CONCURRENTLY",
       "DROP INDEX takes an ACCESS EXCLUSIVE lock on the index's table: reads and writes queue\n"
       "behind it, and behind any long transaction it waits for. DROP INDEX CONCURRENTLY waits\n"
       "for running transactions without blocking others. An index created in the same\n"
       "migration is not flagged."},
      {{true, {"drop index t_a_idx;"}},
       {false, {"drop index concurrently if exists t_a_idx;"}},
       {false, {"create index concurrently t_a_idx on t (a);\ndrop index t_a_idx;"}}},
      [](const StmtCtx& c) {
        if (c.kind != "DropStmt" || str(c.node, "removeType") != "OBJECT_INDEX" || flag(c.node, "concurrent")) return;
        const json& objs = at(c.node, "objects");
        if (!objs.is_array()) return;
        for (const json& o : objs) {
          std::string idx = qualify(strings(at(at(o, "List"), "items")));
          auto it = c.state.index_unit.find(idx);
          if (it != c.state.index_unit.end() && it->second == c.state.unit) continue;
          c.flag(-1, fmt::format("index {} is dropped without CONCURRENTLY: its table is locked against reads and writes", idx),
                 idx, "DROP INDEX CONCURRENTLY (in its own migration; belay runs it outside a transaction)");
        }
      },
      nullptr};
  return r;
}

}  // namespace belay::lint
