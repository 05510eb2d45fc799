// syntax-error: a statement PostgreSQL's parser refuses (reported by the engine).
#include "lint/rule.h"

namespace belay::lint {

const Rule& rule_syntax_error() {
  static const Rule r{
      {"syntax-error", "robustness", Severity::error,
       "SQL that PostgreSQL's parser refuses",
       "Every statement is parsed with PostgreSQL's own parser (libpg_query); a statement it\n"
       "refuses would stop the migration. Each one is reported at its exact line and column and\n"
       "the rest of the file is still linted. An unterminated quote or comment hides everything\n"
       "after it, so only the statements before it are linted."},
      {{true, {"create table t (a int;"}},
       {true, {"select 1;\nselec 2;\nselect 3;"}},
       {true, {"select 'unterminated;\n"}},
       {false, {"create table t (a int);"}}},
      nullptr,
      nullptr};
  return r;
}

}  // namespace belay::lint
