// The one place that talks to libpg_query: split, scan, parse, classify.
// Everything else sees SQL through these values.
#pragma once

#include <string>
#include <string_view>
#include <vector>

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
};

// Split `source` into statements with the scanner, then parse each one to classify it.
// Comments-only and empty statements are dropped. A scan or parse error returns an
// Error whose file/line/column point into `source` (file = `file_name`) with the
// parser's message.
Result<std::vector<Statement>> split(std::string_view source, const std::string& file_name);

// The statement text canonicalised for checksums: comments removed, every token
// separated by one space, keywords and unquoted identifiers lower-cased, string
// literals and quoted identifiers untouched. Reformatting a statement does not change
// it; changing what it does does. Returns the input trimmed if it cannot be scanned.
std::string normalize(std::string_view statement);

// 1-based (line, column) of a byte offset in `source`.
std::pair<int, int> line_col(std::string_view source, int offset);

}  // namespace belay::sql
