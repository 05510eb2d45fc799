// What a lint rule is and what it sees (internal to lint). One rule per file under
// rules/, each with its id, family, severity, explanation, its must-flag and
// must-not-flag cases, and a check that reads one statement against the model of
// everything the migration set did before it.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "lint/lint.h"
#include "lint/tree.h"
#include "sql/sql.h"

namespace belay::lint {

using nlohmann::json;

// A place in the linted input: statement `stmt` of input `unit`, byte `offset` into the
// statement's text (-1 = its start).
struct Where {
  int unit = -1, stmt = -1, offset = -1;
};

// How the statement runs, as belay runs the file.
struct TxInfo {
  int id = 0;                  // statements with the same id share one transaction
  bool in_block = false;       // inside a transaction block (the file's, or BEGIN in it)
  bool explicit_block = false; // inside BEGIN ... COMMIT written in the file
  int size = 1;                // statements in this transaction
};

struct Table {
  std::string name;            // schema.name
  int unit = -1;               // input that created it; -1: existed before the set
  int tx = -1;
  Where created;
  bool rls = false;            // ENABLE ROW LEVEL SECURITY so far
  bool rls_anywhere = false;   // ... anywhere in the set (known after the walk)
  int policies = 0;
  std::set<std::string> not_null_checked;  // columns with a validated CHECK (c IS NOT NULL)
  std::map<std::string, nlohmann::json> column_types;  // column -> TypeName node, as created or altered
};

struct PendingConstraint {     // added NOT VALID, awaiting VALIDATE
  std::string table, name, column_not_null;  // column: a CHECK (column IS NOT NULL)
  int unit = -1, tx = -1;
  std::string expression;      // CHECK text
  std::string contype;         // CONSTR_CHECK / CONSTR_FOREIGN
  std::vector<std::string> columns, ref_columns;
  std::string ref_table;
};

struct Function {
  std::string name;            // schema.name
  bool security_definer = false, search_path = false;
  Where at;
  std::set<std::string> revoked;   // roles EXECUTE was revoked from ("public", "anon", ...)
  std::set<std::string> granted;   // roles EXECUTE was granted to
};

struct Policy {
  std::string table;
  Where at;
};

// What the migration set has done so far.
struct State {
  std::map<std::string, Table> tables;
  std::map<std::string, PendingConstraint> not_valid;  // key: table + "/" + constraint
  std::map<std::string, int> index_unit;               // schema.index -> input that created it
  std::map<std::string, int> enum_tx;                  // schema.type -> transaction that created it
  std::map<std::string, Function> functions;
  std::vector<Policy> policies;
  std::set<std::string> matviews;                      // created in the set
  // Session and transaction of the statement being looked at.
  int unit = -1;
  long long lock_timeout_ms = 0;
  int tx = -1;
  std::set<std::string> strong_locks_in_tx;            // existing tables ACCESS EXCLUSIVE-locked

  const Table* table(const std::string& name) const;
  // Created in the current input (a new, empty table: no lock or rewrite hazard).
  bool is_new(const std::string& name) const;
  bool exposed(const std::string& schema_qualified, const Options& opt) const;
};

struct Hit {
  int offset = -1;             // byte offset into the statement text, -1 = its start
  std::string message, object, fix;
  std::optional<DataCheck> data;   // a question --target can answer
};

struct StmtCtx {
  const sql::Statement& st;
  const std::string& kind;
  const json& node;            // the node under its kind
  const State& state;          // before this statement
  const TxInfo& tx;
  const Options& opt;
  std::vector<Hit>& hits;

  void flag(int offset, std::string message, std::string object = {}, std::string fix = {}) const {
    hits.push_back(Hit{offset, std::move(message), std::move(object), std::move(fix), std::nullopt});
  }
  bool is_new(const std::string& table) const { return state.is_new(table); }
};

struct EndHit {
  Where at;
  std::string message, object, fix;
};

struct Case {
  bool flag = true;                   // must flag (true) or must not flag (false)
  std::vector<std::string> files;     // SQL of consecutive migrations
  int pg_version = 0;                 // 0: the default
};

struct Rule {
  RuleInfo info;
  std::vector<Case> cases;
  std::function<void(const StmtCtx&)> check;                           // per statement
  std::function<void(const State&, const Options&, std::vector<EndHit>&)> finish;  // after the set
};

// Every rule (rules/all.h lists them).
const std::vector<const Rule*>& all_rules();

// How a statement changes the model (state.cpp).
void apply(State& s, const sql::Statement& st, const Where& w, const TxInfo& tx);

// Shared predicates.
// The existing table whose lock this statement takes that blocks reads or writes until
// it is done (ALTER TABLE, CREATE INDEX without CONCURRENTLY, DROP, TRUNCATE, ...); ""
// when none, or only tables created in the current migration.
std::string blocking_lock_table(const std::string& kind, const json& node, const State& s);
std::string alter_table_name(const json& alter_table_stmt);           // schema.name
const json& cmds(const json& alter_table_stmt);                       // [{"AlterTableCmd": ...}]
std::string role_name(const json& role_spec);                         // "public" for PUBLIC
std::string not_null_check_column(const json& constraint);            // CHECK (c IS NOT NULL) -> c

}  // namespace belay::lint
