// Columns a statement creates (CREATE TABLE, ADD COLUMN, ALTER COLUMN TYPE): shared by
// the type rules (internal to lint).
#pragma once

#include <functional>

#include "lint/rule.h"
#include "lint/rules/types.h"

namespace belay::lint {

struct ColumnRef {
  std::string table, name;
  types::ColType type;
  int location = -1;
  bool primary_key = false, identity = false;
  const json* def = nullptr;   // the ColumnDef
};

inline void for_each_new_column(const StmtCtx& c, const std::function<void(const ColumnRef&)>& fn) {
  using namespace tree;
  auto visit = [&](const std::string& table, const json& cd, bool table_pk_has) {
    ColumnRef col;
    col.table = table;
    col.name = str(cd, "colname");
    col.type = types::of(at(cd, "typeName"));
    col.location = location(cd);
    col.def = &cd;
    col.primary_key = table_pk_has;
    const json& cons = at(cd, "constraints");
    if (cons.is_array())
      for (const json& x : cons) {
        std::string t = str(at(x, "Constraint"), "contype");
        col.primary_key = col.primary_key || t == "CONSTR_PRIMARY";
        col.identity = col.identity || t == "CONSTR_IDENTITY";
      }
    fn(col);
  };
  if (c.kind == "CreateStmt") {
    std::string t = relation(at(c.node, "relation"));
    const json& elts = at(c.node, "tableElts");
    if (!elts.is_array()) return;
    std::vector<std::string> pk;  // PRIMARY KEY (a, b) as a table constraint
    for (const json& e : elts)
      if (str(at(e, "Constraint"), "contype") == "CONSTR_PRIMARY") pk = strings(at(at(e, "Constraint"), "keys"));
    for (const json& e : elts)
      if (const json& cd = at(e, "ColumnDef"); cd.is_object())
        visit(t, cd, pk.size() == 1 && pk[0] == str(cd, "colname"));
  } else if (c.kind == "AlterTableStmt" && cmds(c.node).is_array()) {
    std::string t = alter_table_name(c.node);
    for (const json& cmd : cmds(c.node)) {
      const json& a = at(cmd, "AlterTableCmd");
      if (str(a, "subtype") == "AT_AddColumn") visit(t, at(at(a, "def"), "ColumnDef"), false);
      if (str(a, "subtype") == "AT_AlterColumnType") {
        json cd = at(at(a, "def"), "ColumnDef");
        ColumnRef col;
        col.table = t;
        col.name = str(a, "name");
        col.type = types::of(at(cd, "typeName"));
        col.location = location(at(cd, "typeName"));
        fn(col);
      }
    }
  }
}

}  // namespace belay::lint
