// enum-add-value-in-transaction: ALTER TYPE ... ADD VALUE inside a transaction block.
#include <fmt/format.h>

#include "lint/rule.h"

namespace belay::lint {
using namespace tree;

const Rule& rule_enum_add_value_in_transaction() {
  static const Rule r{
      {"enum-add-value-in-transaction", "locks", Severity::warning,
       "ALTER TYPE ... ADD VALUE in a transaction with other statements",
       "Before PostgreSQL 12, ADD VALUE cannot run inside a transaction block at all. Since 12 it\n"
       "can, but the new value cannot be used until the transaction commits (SQLSTATE 55P04,\n"
       "\"unsafe use of new value\"), so a migration that adds a value and then uses it fails.\n"
       "Put ADD VALUE in a migration of its own (or mark the file -- belay:no-transaction)."},
      {{true, {"alter type mood add value 'meh';\nupdate t set m = 'meh' where m is null;"}},
       {true, {"alter type mood add value 'meh';"}, 11},
       {false, {"alter type mood add value 'meh';"}},
       {false, {"create type mood as enum ('a');\nalter type mood add value 'b';"}}},
      [](const StmtCtx& c) {
        if (c.kind != "AlterEnumStmt" || str(c.node, "newVal").empty()) return;
        std::string type = qualify(strings(at(c.node, "typeName")));
        auto it = c.state.enum_tx.find(type);
        if (it != c.state.enum_tx.end() && it->second == c.tx.id) return;  // created in this transaction
        bool shared = c.tx.size > 1 || c.tx.explicit_block;
        if (c.opt.pg_version >= 12 && !shared) return;
        c.flag(-1, c.opt.pg_version < 12
                       ? fmt::format("ADD VALUE to {} cannot run in a transaction block before PostgreSQL 12", type)
                       : fmt::format("value '{}' added to {} cannot be used until this transaction commits", str(c.node, "newVal"), type),
               type, "put ALTER TYPE ... ADD VALUE in a migration of its own");
      },
      nullptr};
  return r;
}

}  // namespace belay::lint
