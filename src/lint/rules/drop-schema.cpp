// drop-schema: everything in the schema goes with it.
#include <fmt/format.h>

#include "lint/rule.h"

namespace belay::lint {
using namespace tree;

const Rule& rule_drop_schema() {
  static const Rule r{
      {"drop-schema", "client-breakage", Severity::error,
       "DROP SCHEMA",
       "Dropping a schema (with CASCADE, everything in it) removes objects clients use and their\n"
       "data. Move what must survive elsewhere and drop it in a release of its own."},
      {{true, {"drop schema legacy cascade;"}},
       {false, {"drop table if exists legacy.t;"}}},
      [](const StmtCtx& c) {
        if (c.kind != "DropStmt" || str(c.node, "removeType") != "OBJECT_SCHEMA") return;
        const json& objs = at(c.node, "objects");
        if (!objs.is_array()) return;
        for (const json& o : objs) {
          std::string s = str(at(o, "String"), "sval");
          c.flag(-1, fmt::format("schema {} is dropped{}", s, str(c.node, "behavior") == "DROP_CASCADE" ? " with everything in it" : ""),
                 s, "drop it in a release of its own, after nothing uses it");
        }
      },
      nullptr};
  return r;
}

}  // namespace belay::lint
