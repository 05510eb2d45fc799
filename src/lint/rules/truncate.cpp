// truncate: deletes every row, under ACCESS EXCLUSIVE.
#include <fmt/format.h>

#include "lint/rule.h"

namespace belay::lint {
using namespace tree;

const Rule& rule_truncate() {
  static const Rule r{
      {"truncate", "client-breakage", Severity::error,
       "TRUNCATE in a migration",
       "TRUNCATE removes every row (with CASCADE, of referencing tables too) under an ACCESS\n"
       "EXCLUSIVE lock, and no rollback script can bring the data back. Delete what must go with\n"
       "a WHERE clause in batches, or keep a copy first."},
      {{true, {"truncate table audit_log;"}},
       {false, {"create table tmp (a int);\ntruncate tmp;"}}},
      [](const StmtCtx& c) {
        if (c.kind != "TruncateStmt" || !at(c.node, "relations").is_array()) return;
        for (const json& rv : at(c.node, "relations")) {
          std::string t = relation(at(rv, "RangeVar"));
          if (c.is_new(t)) continue;
          c.flag(-1, fmt::format("TRUNCATE deletes every row of {}", t), t,
                 "DELETE ... WHERE in batches, or copy the data aside first");
        }
      },
      nullptr};
  return r;
}

}  // namespace belay::lint
