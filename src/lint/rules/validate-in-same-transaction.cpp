// validate-in-same-transaction: NOT VALID then VALIDATE in one transaction gains nothing.
#include <fmt/format.h>

#include "lint/rule.h"

namespace belay::lint {
using namespace tree;

const Rule& rule_validate_in_same_transaction() {
  static const Rule r{
      {"validate-in-same-transaction", "locks", Severity::error,
       "VALIDATE CONSTRAINT in the same transaction that added it NOT VALID",
       "NOT VALID exists so the full-table check can run later under a weak lock. Validating in\n"
       "the transaction that added the constraint keeps the strong lock from ADD CONSTRAINT for\n"
       "the whole scan: the same outage as adding it without NOT VALID. Validate in a later\n"
       "migration (belay runs each migration in its own transaction)."},
      {{true, {"alter table t add constraint c check (a > 0) not valid;\nalter table t validate constraint c;"}},
       {false, {"alter table t add constraint c check (a > 0) not valid;", "alter table t validate constraint c;"}},
       {false, {"-- belay:no-transaction\nalter table t add constraint c check (a > 0) not valid;\n"
                "select pg_sleep(0);\ncreate index concurrently i on t (a);\nalter table t validate constraint c;"}}},
      [](const StmtCtx& c) {
        if (c.kind != "AlterTableStmt" || !cmds(c.node).is_array()) return;
        std::string t = alter_table_name(c.node);
        for (const json& cmd : cmds(c.node)) {
          const json& a = at(cmd, "AlterTableCmd");
          if (str(a, "subtype") != "AT_ValidateConstraint") continue;
          auto it = c.state.not_valid.find(t + "/" + str(a, "name"));
          if (it == c.state.not_valid.end() || it->second.tx != c.tx.id) continue;
          c.flag(-1, fmt::format("constraint {} on {} is validated in the transaction that added it NOT VALID", it->second.name, t),
                 t, "move VALIDATE CONSTRAINT to a later migration");
        }
      },
      nullptr};
  return r;
}

}  // namespace belay::lint
