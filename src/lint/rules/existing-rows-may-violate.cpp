// existing-rows-may-violate: a constraint that existing rows may break; --target counts them.
#include <fmt/format.h>

#include "lint/rule.h"

namespace belay::lint {
using namespace tree;

namespace {

void add(const StmtCtx& c, int loc, DataCheck d) {
  std::string msg = fmt::format("{} on {} fails if existing rows violate it (run with --target to count them)", d.what, d.table);
  Hit h{loc, std::move(msg), d.table, "clean the data first, or check with belay lint --target <env>", std::move(d)};
  c.hits.push_back(std::move(h));
}

std::string cols(const std::vector<std::string>& v) {
  std::string out;
  for (auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

}  // namespace

const Rule& rule_existing_rows_may_violate() {
  static const Rule r{
      {"existing-rows-may-violate", "data", Severity::info,
       "Adding UNIQUE / PRIMARY KEY / NOT NULL, or validating a constraint, on a table with data",
       "These statements check every existing row and fail the migration on the first duplicate,\n"
       "NULL or violating row: in production, after it already waited for its lock. Without a\n"
       "database this is a reminder (info). With --target, belay counts the duplicates, NULLs or\n"
       "violating rows in that database (read-only) and reports an error with the count, or\n"
       "confirms there are none."},
      {{true, {"alter table users add constraint users_email_key unique (email);"}},
       {true, {"create unique index concurrently users_email_idx on users (email);"}},
       {true, {"alter table users alter column email set not null;"}},
       {true, {"alter table t add constraint c check (a > 0) not valid;", "alter table t validate constraint c;"}},
       {true, {"alter table t add constraint t_u_fk foreign key (u_id) references u (id);"}},
       {true, {"alter table t add column a int not null;"}},
       {false, {"create table users (email text);\nalter table users add constraint users_email_key unique (email);"}},
       {false, {"alter table t add constraint c check (a > 0) not valid;"}},
       {false, {"create index concurrently users_email_idx on users (email);"}}},
      [](const StmtCtx& c) {
        if (c.kind == "IndexStmt" && flag(c.node, "unique")) {
          std::string t = relation(at(c.node, "relation"));
          if (c.is_new(t)) return;
          DataCheck d;
          d.kind = DataCheck::Kind::unique;
          d.table = t;
          const json& params = at(c.node, "indexParams");
          if (!params.is_array()) return;
          for (const json& p : params) {
            std::string name = str(at(p, "IndexElem"), "name");
            if (name.empty()) return;  // an expression index: not counted
            d.columns.push_back(name);
          }
          if (!at(c.node, "whereClause").is_null()) return;  // partial: not counted
          d.what = "a unique index on (" + cols(d.columns) + ")";
          add(c, -1, std::move(d));
          return;
        }
        if (c.kind != "AlterTableStmt" || !cmds(c.node).is_array()) return;
        std::string t = alter_table_name(c.node);
        if (c.is_new(t)) return;
        for (const json& cmd : cmds(c.node)) {
          const json& a = at(cmd, "AlterTableCmd");
          std::string sub = str(a, "subtype");
          DataCheck d;
          d.table = t;
          if (sub == "AT_SetNotNull") {
            d.kind = DataCheck::Kind::not_null;
            d.columns = {str(a, "name")};
            d.what = "SET NOT NULL on " + str(a, "name");
            add(c, -1, std::move(d));
          } else if (sub == "AT_AddColumn") {
            const json& cd = at(at(a, "def"), "ColumnDef");
            bool not_null = flag(cd, "is_not_null"), has_default = false;
            if (at(cd, "constraints").is_array())
              for (const json& x : at(cd, "constraints")) {
                std::string type = str(at(x, "Constraint"), "contype");
                not_null = not_null || type == "CONSTR_NOTNULL" || type == "CONSTR_PRIMARY";
                has_default = has_default || type == "CONSTR_DEFAULT" || type == "CONSTR_IDENTITY" || type == "CONSTR_GENERATED";
              }
            if (!not_null || has_default) continue;
            d.kind = DataCheck::Kind::any_rows;
            d.what = "adding NOT NULL column " + str(cd, "colname") + " without a default";
            add(c, location(cd), std::move(d));
          } else if (sub == "AT_AddConstraint") {
            const json& con = at(at(a, "def"), "Constraint");
            std::string type = str(con, "contype");
            if (flag(con, "skip_validation") || !str(con, "indexname").empty()) continue;
            if (type == "CONSTR_UNIQUE" || type == "CONSTR_PRIMARY") {
              d.kind = type == "CONSTR_PRIMARY" ? DataCheck::Kind::unique : DataCheck::Kind::unique;
              d.columns = strings(at(con, "keys"));
              d.what = (type == "CONSTR_PRIMARY" ? "PRIMARY KEY (" : "UNIQUE (") + cols(d.columns) + ")";
            } else if (type == "CONSTR_CHECK") {
              d.kind = DataCheck::Kind::check;
              d.expression = sql::paren_group(c.st.text, std::max(0, location(con)));
              if (d.expression.empty()) continue;
              d.what = "CHECK (" + d.expression + ")";
            } else if (type == "CONSTR_FOREIGN") {
              d.kind = DataCheck::Kind::foreign_key;
              d.columns = strings(at(con, "fk_attrs"));
              d.ref_table = relation(at(con, "pktable"));
              d.ref_columns = strings(at(con, "pk_attrs"));
              d.what = "FOREIGN KEY (" + cols(d.columns) + ") REFERENCES " + d.ref_table;
            } else {
              continue;
            }
            add(c, location(con), std::move(d));
          } else if (sub == "AT_ValidateConstraint") {
            auto it = c.state.not_valid.find(t + "/" + str(a, "name"));
            if (it == c.state.not_valid.end()) continue;  // added outside the set: nothing to go on
            const PendingConstraint& p = it->second;
            if (p.contype == "CONSTR_CHECK" && !p.expression.empty()) {
              d.kind = DataCheck::Kind::check;
              d.expression = p.expression;
            } else if (p.contype == "CONSTR_FOREIGN" && !p.ref_table.empty()) {
              d.kind = DataCheck::Kind::foreign_key;
              d.columns = p.columns;
              d.ref_table = p.ref_table;
              d.ref_columns = p.ref_columns;
            } else {
              continue;
            }
            d.what = "validating constraint " + p.name;
            add(c, -1, std::move(d));
          }
        }
      },
      nullptr};
  return r;
}

}  // namespace belay::lint
