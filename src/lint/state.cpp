// The model of what the migration set has done so far, and how each statement changes it.
#include <algorithm>

#include "lint/rule.h"
#include "util/text.h"

namespace belay::lint {

using namespace tree;

const Table* State::table(const std::string& name) const {
  auto it = tables.find(name);
  return it == tables.end() ? nullptr : &it->second;
}

bool State::is_new(const std::string& name) const {
  const Table* t = table(name);
  return t && t->unit == unit && unit >= 0;
}

bool State::exposed(const std::string& q, const Options& opt) const {
  std::string schema = q.substr(0, q.find('.'));
  return std::find(opt.exposed_schemas.begin(), opt.exposed_schemas.end(), schema) != opt.exposed_schemas.end();
}

const json& cmds(const json& ats) { return at(ats, "cmds"); }

std::string alter_table_name(const json& ats) { return relation(at(ats, "relation")); }

std::string role_name(const json& role_spec) {
  const json& r = at(role_spec, "RoleSpec");
  if (str(r, "roletype") == "ROLESPEC_PUBLIC") return "public";
  return str(r, "rolename");
}

// The column of a CHECK (column IS NOT NULL) constraint, "" for any other.
std::string not_null_check_column(const json& constraint) {
  const json& nt = at(at(constraint, "raw_expr"), "NullTest");
  if (!nt.is_object() || str(nt, "nulltesttype") != "IS_NOT_NULL") return {};
  auto fields = strings(at(at(at(nt, "arg"), "ColumnRef"), "fields"));
  return fields.size() == 1 ? fields[0] : std::string();
}

namespace {

long long duration_ms(const json& args) {
  if (!args.is_array() || args.empty()) return 0;
  const json& c = at(args[0], "A_Const");
  if (at(c, "ival").is_object()) {
    const json& v = at(at(c, "ival"), "ival");
    return v.is_number() ? v.get<long long>() : 0;
  }
  std::string s = str(at(c, "sval"), "sval");
  auto d = text::parse_duration(s);
  return d ? d->count() : 0;
}

void alter_table(State& s, const json& n, const sql::Statement& st, const Where& w, const TxInfo& tx) {
  std::string t = alter_table_name(n);
  Table* table = s.tables.count(t) ? &s.tables[t] : nullptr;
  if (!cmds(n).is_array()) return;
  for (const json& c : cmds(n)) {
    const json& cmd = at(c, "AlterTableCmd");
    std::string sub = str(cmd, "subtype");
    if (table && (sub == "AT_AddColumn" || sub == "AT_AlterColumnType")) {
      const json& cd = at(at(cmd, "def"), "ColumnDef");
      std::string col = sub == "AT_AddColumn" ? str(cd, "colname") : str(cmd, "name");
      table->column_types[col] = at(cd, "typeName");
    }
    if (table && sub == "AT_DropColumn") table->column_types.erase(str(cmd, "name"));
    if (table && sub == "AT_EnableRowSecurity") table->rls = true;
    if (table && sub == "AT_DisableRowSecurity") table->rls = false;
    if (sub == "AT_AddConstraint") {
      const json& con = at(at(cmd, "def"), "Constraint");
      std::string col = not_null_check_column(con);
      if (flag(con, "skip_validation")) {
        PendingConstraint p;
        p.table = t;
        p.name = str(con, "conname");
        p.column_not_null = col;
        p.unit = w.unit;
        p.tx = tx.id;
        p.contype = str(con, "contype");
        p.columns = strings(at(con, "fk_attrs"));
        p.ref_columns = strings(at(con, "pk_attrs"));
        if (at(con, "pktable").is_object()) p.ref_table = relation(at(con, "pktable"));
        if (p.contype == "CONSTR_CHECK") p.expression = sql::paren_group(st.text, std::max(0, location(con)));
        s.not_valid[t + "/" + p.name] = p;
      } else if (table && !col.empty()) {
        table->not_null_checked.insert(col);
      }
    }
    if (sub == "AT_ValidateConstraint") {
      auto it = s.not_valid.find(t + "/" + str(cmd, "name"));
      if (it != s.not_valid.end()) {
        if (!it->second.column_not_null.empty()) s.tables[t].not_null_checked.insert(it->second.column_not_null);
        s.not_valid.erase(it);
      }
    }
  }
}

}  // namespace

void apply(State& s, const sql::Statement& st, const Where& w, const TxInfo& tx) {
  if (!st.tree || !st.tree->is_object() || st.tree->empty()) return;
  const std::string& kind = st.kind;
  const json& n = st.tree->begin().value();
  auto create_table = [&](const std::string& name) {
    Table t;
    t.name = name;
    t.unit = w.unit;
    t.tx = tx.id;
    t.created = w;
    s.tables[name] = std::move(t);
  };
  if (kind == "CreateStmt") {
    std::string name = relation(at(n, "relation"));
    if (flag(n, "if_not_exists") && s.tables.count(name)) return;
    create_table(name);
    const json& elts = at(n, "tableElts");
    if (elts.is_array())
      for (const json& e : elts)
        if (const json& cd = at(e, "ColumnDef"); cd.is_object())
          s.tables[name].column_types[str(cd, "colname")] = at(cd, "typeName");
  } else if (kind == "CreateTableAsStmt") {
    std::string name = relation(at(at(n, "into"), "rel"));
    create_table(name);
    if (str(n, "objtype") == "OBJECT_MATVIEW") s.matviews.insert(name);
  } else if (kind == "DropStmt") {
    std::string type = str(n, "removeType");
    const json& objs = at(n, "objects");
    if (!objs.is_array()) return;
    for (const json& o : objs) {
      std::string name = qualify(strings(at(at(o, "List"), "items")));
      if (type == "OBJECT_TABLE" || type == "OBJECT_MATVIEW") {
        s.tables.erase(name);
        s.matviews.erase(name);
      }
      if (type == "OBJECT_INDEX") s.index_unit.erase(name);
    }
  } else if (kind == "RenameStmt" && str(n, "renameType") == "OBJECT_TABLE") {
    std::string from = relation(at(n, "relation"));
    auto it = s.tables.find(from);
    if (it != s.tables.end()) {
      Table t = it->second;
      s.tables.erase(it);
      t.name = from.substr(0, from.find('.')) + "." + str(n, "newname");
      s.tables[t.name] = t;
    }
  } else if (kind == "AlterTableStmt") {
    alter_table(s, n, st, w, tx);
  } else if (kind == "IndexStmt") {
    std::string schema = str(at(n, "relation"), "schemaname");
    s.index_unit[(schema.empty() ? "public" : schema) + "." + str(n, "idxname")] = w.unit;
  } else if (kind == "CreateEnumStmt") {
    s.enum_tx[qualify(strings(at(n, "typeName")))] = tx.id;
  } else if (kind == "CreateFunctionStmt") {
    Function f;
    f.name = qualify(strings(at(n, "funcname")));
    f.at = w;
    f.security_definer = option(at(n, "options"), "security") == "true";
    for (const json& o : at(n, "options").is_array() ? at(n, "options") : json::array()) {
      const json& d = at(o, "DefElem");
      if (str(d, "defname") == "set" && str(at(at(d, "arg"), "VariableSetStmt"), "name") == "search_path")
        f.search_path = true;
    }
    s.functions[f.name] = f;
  } else if (kind == "AlterFunctionStmt") {
    std::string name = qualify(strings(at(at(n, "func"), "objname")));
    auto it = s.functions.find(name);
    if (it == s.functions.end() || !at(n, "actions").is_array()) return;
    for (const json& o : at(n, "actions")) {
      const json& d = at(o, "DefElem");
      if (str(d, "defname") == "security") it->second.security_definer = flag(at(at(d, "arg"), "Boolean"), "boolval");
      if (str(d, "defname") == "set" && str(at(at(d, "arg"), "VariableSetStmt"), "name") == "search_path")
        it->second.search_path = true;
    }
  } else if (kind == "GrantStmt" && str(n, "objtype") == "OBJECT_FUNCTION") {
    bool grant = flag(n, "is_grant");
    if (!at(n, "objects").is_array() || !at(n, "grantees").is_array()) return;
    for (const json& o : at(n, "objects")) {
      auto it = s.functions.find(qualify(strings(at(at(o, "ObjectWithArgs"), "objname"))));
      if (it == s.functions.end()) continue;
      for (const json& g : at(n, "grantees")) {
        std::string role = role_name(g);
        if (grant) {
          it->second.granted.insert(role);
          it->second.revoked.erase(role);
        } else {
          it->second.revoked.insert(role);
          it->second.granted.erase(role);
        }
      }
    }
  } else if (kind == "CreatePolicyStmt") {
    std::string t = relation(at(n, "table"));
    s.policies.push_back(Policy{t, w});
    if (auto it = s.tables.find(t); it != s.tables.end()) ++it->second.policies;
  } else if (kind == "VariableSetStmt" && str(n, "name") == "lock_timeout") {
    s.lock_timeout_ms = str(n, "kind") == "VAR_SET_VALUE" ? duration_ms(at(n, "args")) : 0;
  }
}

}  // namespace belay::lint
