// mutation-without-where: DELETE or UPDATE of every row.
#include <fmt/format.h>

#include "lint/rule.h"

namespace belay::lint {
using namespace tree;

const Rule& rule_mutation_without_where() {
  static const Rule r{
      {"mutation-without-where", "client-breakage", Severity::error,
       "DELETE or UPDATE without WHERE",
       "It touches every row of the table in one transaction: on a large table that is a long lock\n"
       "on every row, a burst of WAL and bloat, and usually a mistake. Add the WHERE clause you\n"
       "mean; for a real backfill, update in batches (belay backfill)."},
      {{true, {"delete from sessions;"}},
       {true, {"update users set active = true;"}},
       {false, {"delete from sessions where expires_at < now();"}},
       {false, {"create table t (a int);\nupdate t set a = 1;"}}},
      [](const StmtCtx& c) {
        if ((c.kind != "DeleteStmt" && c.kind != "UpdateStmt") || !at(c.node, "whereClause").is_null()) return;
        std::string t = relation(at(c.node, "relation"));
        if (c.is_new(t)) return;
        c.flag(-1, fmt::format("{} without WHERE changes every row of {}", c.kind == "DeleteStmt" ? "DELETE" : "UPDATE", t),
               t, "add the WHERE clause you mean; batch real backfills");
      },
      nullptr};
  return r;
}

}  // namespace belay::lint
