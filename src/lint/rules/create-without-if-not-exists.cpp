// create-without-if-not-exists: a re-run or a hand-made object makes the migration fail.
#include <fmt/format.h>

#include "lint/rule.h"

namespace belay::lint {
using namespace tree;

const Rule& rule_create_without_if_not_exists() {
  static const Rule r{
      {"create-without-if-not-exists", "robustness", Severity::warning,
       "CREATE TABLE / INDEX / SCHEMA / SEQUENCE / EXTENSION / VIEW without IF NOT EXISTS",
       "When the object already exists (created by hand, by a half-applied run under another\n"
       "tool, or by a hotfix) the migration stops with \"already exists\" (seed runbooks call these\n"
       "duplicate object errors). IF NOT EXISTS (OR REPLACE for views) makes it idempotent."},
      {{true, {"create table t (a int);"}},
       {true, {"create index concurrently t_a on t (a);"}},
       {true, {"create extension pgcrypto;"}},
       {true, {"create view v as select 1;"}},
       {false, {"create table if not exists t (a int);"}},
       {false, {"create index concurrently if not exists t_a on t (a);"}},
       {false, {"create or replace view v as select 1;"}},
       {false, {"create schema if not exists app;\ncreate sequence if not exists s;"}}},
      [](const StmtCtx& c) {
        std::string what, name;
        if (c.kind == "CreateStmt") {
          what = "table";
          name = relation(at(c.node, "relation"));
        } else if (c.kind == "IndexStmt" && !str(c.node, "idxname").empty()) {
          what = "index";
          name = str(c.node, "idxname");
        } else if (c.kind == "CreateSchemaStmt") {
          what = "schema";
          name = str(c.node, "schemaname");
        } else if (c.kind == "CreateSeqStmt") {
          what = "sequence";
          name = relation(at(c.node, "sequence"));
        } else if (c.kind == "CreateExtensionStmt") {
          what = "extension";
          name = str(c.node, "extname");
        } else if (c.kind == "CreateTableAsStmt") {
          what = str(c.node, "objtype") == "OBJECT_MATVIEW" ? "materialized view" : "table";
          name = relation(at(at(c.node, "into"), "rel"));
          if (flag(c.node, "if_not_exists")) return;
        } else if (c.kind == "ViewStmt") {
          if (flag(c.node, "replace")) return;
          c.flag(-1, fmt::format("view {} is created without OR REPLACE: fails if it already exists", relation(at(c.node, "view"))),
                 relation(at(c.node, "view")), "CREATE OR REPLACE VIEW");
          return;
        } else {
          return;
        }
        if (flag(c.node, "if_not_exists")) return;
        c.flag(-1, fmt::format("{} {} is created without IF NOT EXISTS: fails if it already exists", what, name), name,
               fmt::format("CREATE {} IF NOT EXISTS", what == "materialized view" ? "MATERIALIZED VIEW" : what == "table" ? "TABLE" : what == "index" ? "INDEX" : what == "schema" ? "SCHEMA" : what == "sequence" ? "SEQUENCE" : "EXTENSION"));
      },
      nullptr};
  return r;
}

}  // namespace belay::lint
