// refresh-matview-non-concurrently: REFRESH takes ACCESS EXCLUSIVE on the view.
#include <fmt/format.h>

#include "lint/rule.h"

namespace belay::lint {
using namespace tree;

const Rule& rule_refresh_matview_non_concurrently() {
  static const Rule r{
      {"refresh-matview-non-concurrently", "locks", Severity::warning,
       "REFRESH MATERIALIZED VIEW without CONCURRENTLY",
       "A plain refresh locks the materialized view against reads until the query finishes.\n"
       "REFRESH MATERIALIZED VIEW CONCURRENTLY keeps it readable (it needs a unique index on the\n"
       "view). A view created in the same migration is not flagged."},
      {{true, {"refresh materialized view stats;"}},
       {false, {"refresh materialized view concurrently stats;"}},
       {false, {"create materialized view stats as select 1 as n;\nrefresh materialized view stats;"}}},
      [](const StmtCtx& c) {
        if (c.kind != "RefreshMatViewStmt" || flag(c.node, "concurrent")) return;
        std::string v = relation(at(c.node, "relation"));
        if (c.is_new(v)) return;
        c.flag(-1, fmt::format("refreshing {} without CONCURRENTLY blocks its readers until it finishes", v), v,
               "REFRESH MATERIALIZED VIEW CONCURRENTLY (with a unique index on the view)");
      },
      nullptr};
  return r;
}

}  // namespace belay::lint
