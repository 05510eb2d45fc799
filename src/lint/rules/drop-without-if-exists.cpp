// drop-without-if-exists: the migration fails when the object is already gone.
#include <fmt/format.h>

#include "lint/rule.h"

namespace belay::lint {
using namespace tree;

const Rule& rule_drop_without_if_exists() {
  static const Rule r{
      {"drop-without-if-exists", "robustness", Severity::warning,
       "DROP without IF EXISTS",
       "If the object was already removed (by hand, or by an earlier partial run) the migration\n"
       "stops with \"does not exist\". DROP ... IF EXISTS makes it idempotent."},
      {{true, {"drop index concurrently t_a;"}},
       {true, {"alter table t drop column a;"}},
       {false, {"drop index concurrently if exists t_a;"}},
       {false, {"alter table t drop column if exists a;\ndrop policy if exists p on t;"}}},
      [](const StmtCtx& c) {
        if (c.kind == "DropStmt" && !flag(c.node, "missing_ok")) {
          std::string type = str(c.node, "removeType");
          std::string what = type.rfind("OBJECT_", 0) == 0 ? type.substr(7) : type;
          for (char& ch : what) ch = ch == '_' ? ' ' : static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
          c.flag(-1, fmt::format("DROP {} without IF EXISTS fails if it is already gone", what), "",
                 "DROP ... IF EXISTS");
        }
        if (c.kind == "AlterTableStmt" && cmds(c.node).is_array())
          for (const json& cmd : cmds(c.node)) {
            const json& a = at(cmd, "AlterTableCmd");
            if ((str(a, "subtype") == "AT_DropColumn" || str(a, "subtype") == "AT_DropConstraint") && !flag(a, "missing_ok"))
              c.flag(-1, fmt::format("DROP {} {} without IF EXISTS fails if it is already gone",
                                     str(a, "subtype") == "AT_DropColumn" ? "COLUMN" : "CONSTRAINT", str(a, "name")),
                     alter_table_name(c.node), "DROP COLUMN / CONSTRAINT IF EXISTS");
          }
      },
      nullptr};
  return r;
}

}  // namespace belay::lint
