// table-rewrite-command: CLUSTER and VACUUM FULL rewrite under ACCESS EXCLUSIVE.
#include <fmt/format.h>

#include "lint/rule.h"

namespace belay::lint {
using namespace tree;

const Rule& rule_table_rewrite_command() {
  static const Rule r{
      {"table-rewrite-command", "locks", Severity::error,
       "CLUSTER or VACUUM FULL in a migration",
       "Both rewrite the whole table under an ACCESS EXCLUSIVE lock: no reads or writes until\n"
       "they finish. Reclaim space online with pg_repack or pg_squeeze, or schedule it in a\n"
       "maintenance window outside the release."},
      {{true, {"vacuum full t;"}},
       {true, {"cluster t using t_pkey;"}},
       {false, {"vacuum (analyze) t;"}},
       {false, {"analyze t;"}}},
      [](const StmtCtx& c) {
        bool full = c.kind == "VacuumStmt" && option(at(c.node, "options"), "full") == "true";
        if (c.kind != "ClusterStmt" && !full) return;
        std::string t = at(c.node, "relation").is_object() ? relation(at(c.node, "relation")) : std::string();
        const json& rels = at(c.node, "rels");
        if (full && rels.is_array() && !rels.empty()) t = relation(at(at(rels[0], "VacuumRelation"), "relation"));
        c.flag(-1, fmt::format("{} rewrites {} under ACCESS EXCLUSIVE", full ? "VACUUM FULL" : "CLUSTER",
                               t.empty() ? std::string("every table it touches") : t),
               t, "pg_repack / pg_squeeze online, or a maintenance window");
      },
      nullptr};
  return r;
}

}  // namespace belay::lint
