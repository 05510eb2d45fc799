// drop-table: clients still reading the table break.
#include <fmt/format.h>

#include "lint/rule.h"

namespace belay::lint {
using namespace tree;

const Rule& rule_drop_table() {
  static const Rule r{
      {"drop-table", "client-breakage", Severity::error,
       "DROP TABLE of an existing table",
       "Application code deployed before this migration still queries the table: dropping it\n"
       "breaks every running instance until the new code is out, and the data is gone for good.\n"
       "Stop using it in a release first, then drop it in a later one (keep a backup or rename it\n"
       "aside first). A table created in the same migration is not flagged."},
      {{true, {"drop table t;"}},
       {true, {"drop table if exists a, b cascade;"}},
       {false, {"create table tmp (a int);\ndrop table tmp;"}},
       {false, {"drop view v;"}}},
      [](const StmtCtx& c) {
        if (c.kind != "DropStmt" || str(c.node, "removeType") != "OBJECT_TABLE") return;
        const json& objs = at(c.node, "objects");
        if (!objs.is_array()) return;
        for (const json& o : objs) {
          std::string t = qualify(strings(at(at(o, "List"), "items")));
          if (c.is_new(t)) continue;
          c.flag(-1, fmt::format("table {} is dropped: code still reading it breaks and its data is gone", t), t,
                 "stop using it in one release, drop it in a later one");
        }
      },
      nullptr};
  return r;
}

}  // namespace belay::lint
