// unused-ignore: a belay:ignore that suppresses nothing (reported by the engine).
#include "lint/rule.h"

namespace belay::lint {

const Rule& rule_unused_ignore() {
  static const Rule r{
      {"unused-ignore", "robustness", Severity::warning,
       "A belay:ignore comment that suppresses nothing, or names an unknown rule",
       "A stale suppression hides the next real problem of that kind on that statement, and a\n"
       "misspelt rule id silences nothing at all. Remove the comment, or fix the rule id\n"
       "(`belay lint --rules`)."},
      {{true, {"-- belay:ignore drop-table\ncreate table if not exists t (a int);"}},
       {true, {"-- belay:ignore no-such-rule\ndrop table if exists t;"}},
       {true, {"-- belay:ignore-file truncate\ncreate table if not exists t (a int);"}},
       {false, {"-- belay:ignore drop-table\ndrop table if exists t;"}},
       {false, {"drop table if exists t; -- belay:ignore drop-table"}},
       {false, {"-- belay:ignore-file drop-table\ndrop table if exists t;\ndrop table if exists u;"}}},
      nullptr,
      nullptr};
  return r;
}

}  // namespace belay::lint
