// The one place that talks to libpg_query: split, scan, parse, classify.
// Everything else sees SQL through these values.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "util/error.h"

namespace belay::sql {

// One top-level statement of a SQL file, as PostgreSQL's own grammar sees it.
struct Statement {
  std::string text;        // source text from the first token to the end (no trailing ';')
  int offset = 0;          // byte offset of `text` in the whole source
  int line = 1;            // 1-based line of the first token
  int column = 1;          // 1-based column (in bytes) of the first token
  std::string kind;        // parse node name, e.g. "CreateStmt", "IndexStmt", "VariableSetStmt"

  // False when PostgreSQL refuses to run it inside a transaction block
  // (CREATE/DROP INDEX CONCURRENTLY, REINDEX CONCURRENTLY, VACUUM, CREATE DATABASE, ...).
  bool transactional = true;
  std::string non_tx_reason;   // human name of why, e.g. "CREATE INDEX CONCURRENTLY"

  // BEGIN / COMMIT / ROLLBACK / SAVEPOINT ... written in the file.
  bool transaction_control = false;

  // For CREATE INDEX CONCURRENTLY / REINDEX ... CONCURRENTLY / DROP INDEX CONCURRENTLY:
  // the index (schema may be empty = search_path) and, for CREATE, its table.
  // Used to recover from an interrupted build (drop the INVALID index and rebuild).
  std::string index_schema;
  std::string index_name;
  std::string table_schema;
  std::string table_name;
  bool if_not_exists = false;  // CREATE INDEX ... IF NOT EXISTS

  // Relations the statement names (schema-qualified when written so), in order of
  // appearance, without duplicates. Used to name lock holders when a lock times out.
  std::vector<std::string> relations;

  // With SplitOptions::keep_tree: the statement's parse tree as libpg_query's JSON, the
  // node under its kind ({"IndexStmt": {...}}); null otherwise. "location" members are
  // byte offsets into `text`. Shared so copies of a Statement stay cheap.
  std::shared_ptr<const nlohmann::json> tree;
};

// Split `source` into statements with the scanner, then parse each one to classify it.
// Comments-only and empty statements are dropped. A scan or parse error returns an
// Error whose file/line/column point into `source` (file = `file_name`) with the
// parser's message.
Result<std::vector<Statement>> split(std::string_view source, const std::string& file_name);

struct SplitOptions {
  bool keep_tree = false;   // fill Statement::tree (the lint walks it; parsed only once)
  // Syntax errors are values: a statement that does not parse is reported in `errors`
  // with its exact line:column and splitting goes on with the next one. After a scanner
  // error (an unterminated quote or comment swallows the rest of the file) or a NUL byte,
  // the statements before it are still returned.
  bool lenient = false;
};
struct SplitResult {
  std::vector<Statement> statements;
  std::vector<Error> errors;   // not lenient: at most one, and `statements` is incomplete
};
SplitResult split(std::string_view source, const std::string& file_name, const SplitOptions& opt);

// The text of the first parenthesised group that starts at or after byte `offset` of
// `statement`, without its outer parentheses (parentheses inside string literals, quoted
// identifiers and comments do not count); "" when there is none or it is unbalanced.
// E.g. the expression of "CHECK (a > 0)" from the constraint's location.
std::string paren_group(std::string_view statement, int offset);

// The statement text canonicalised for checksums: comments removed, every token
// separated by one space, keywords and unquoted identifiers lower-cased, string
// literals and quoted identifiers untouched. Reformatting a statement does not change
// it; changing what it does does. Returns the input trimmed if it cannot be scanned.
std::string normalize(std::string_view statement);

// 1-based (line, column) of a byte offset in `source`.
std::pair<int, int> line_col(std::string_view source, int offset);

}  // namespace belay::sql
