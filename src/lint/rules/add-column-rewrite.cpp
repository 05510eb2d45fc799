// add-column-rewrite: ADD COLUMN that rewrites (volatile default, identity, serial, stored generated).
#include <fmt/format.h>

#include "lint/rule.h"
#include "lint/rules/types.h"

namespace belay::lint {
using namespace tree;

namespace {
// Functions whose value differs per row: a default calling them is evaluated per row,
// so PostgreSQL rewrites the table instead of storing one value in the catalog.
bool volatile_call(const json& expr) {
  return find_call(expr, {"random", "gen_random_uuid", "uuid_generate_v4", "uuid_generate_v1", "clock_timestamp",
                          "timeofday", "nextval", "extensions.uuid_generate_v4", "public.uuid_generate_v4",
                          "pg_catalog.gen_random_uuid", "pg_catalog.random", "pg_catalog.clock_timestamp"},
                   false) != nullptr;
}
}  // namespace

const Rule& rule_add_column_rewrite() {
  static const Rule r{
      {"add-column-rewrite", "locks", Severity::error,
       "ADD COLUMN that rewrites an existing table (volatile default, identity, serial, stored generated)",
       "Since PostgreSQL 11 ADD COLUMN with a constant (or stable, like now()) default is instant.\n"
       "A volatile default (gen_random_uuid(), random(), clock_timestamp(), nextval()), an\n"
       "identity or serial column, or GENERATED ALWAYS AS (...) STORED fills every row: the table\n"
       "is rewritten under an ACCESS EXCLUSIVE lock. On PostgreSQL 10 any default rewrites. Add the\n"
       "column without the default, set the default for new rows, backfill old rows in batches."},
      {{true, {"alter table t add column id2 uuid default gen_random_uuid();"}},
       {true, {"alter table t add column n bigint generated always as identity;"}},
       {true, {"alter table t add column n serial;"}},
       {true, {"alter table t add column total int generated always as (a + b) stored;"}},
       {true, {"alter table t add column flag boolean default false;"}, 10},
       {false, {"alter table t add column created_at timestamptz default now();"}},
       {false, {"alter table t add column flag boolean not null default false;"}},
       {false, {"create table t (a int);\nalter table t add column id2 uuid default gen_random_uuid();"}}},
      [](const StmtCtx& c) {
        if (c.kind != "AlterTableStmt" || !cmds(c.node).is_array()) return;
        std::string t = alter_table_name(c.node);
        if (c.is_new(t)) return;
        for (const json& cmd : cmds(c.node)) {
          const json& a = at(cmd, "AlterTableCmd");
          if (str(a, "subtype") != "AT_AddColumn") continue;
          const json& cd = at(at(a, "def"), "ColumnDef");
          std::string col = str(cd, "colname"), why;
          if (types::is_serial(type_name(at(cd, "typeName")))) why = "a serial column";
          const json& cons = at(cd, "constraints");
          if (cons.is_array())
            for (const json& x : cons) {
              const json& k = at(x, "Constraint");
              std::string type = str(k, "contype");
              if (type == "CONSTR_IDENTITY") why = "an identity column";
              if (type == "CONSTR_GENERATED") why = "a stored generated column";
              if (type == "CONSTR_DEFAULT" && volatile_call(at(k, "raw_expr"))) why = "a volatile default";
              if (type == "CONSTR_DEFAULT" && c.opt.pg_version < 11) why = "a default (PostgreSQL < 11)";
            }
          if (why.empty()) continue;
          c.flag(location(cd), fmt::format("adding {}.{} with {} rewrites the table under ACCESS EXCLUSIVE", t, col, why),
                 t, "add the column without it, set the default for new rows, backfill old rows in batches");
        }
      },
      nullptr};
  return r;
}

}  // namespace belay::lint
