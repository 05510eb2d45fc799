// The rule list, from rules/all.h.
#include "lint/rule.h"
#include "lint/rules/all.h"

namespace belay::lint {

#define BELAY_DECLARE_RULE(name) const Rule& rule_##name();
BELAY_LINT_RULES(BELAY_DECLARE_RULE)
#undef BELAY_DECLARE_RULE

const std::vector<const Rule*>& all_rules() {
#define BELAY_RULE_ADDR(name) &rule_##name(),
  static const std::vector<const Rule*> list = {BELAY_LINT_RULES(BELAY_RULE_ADDR)};
#undef BELAY_RULE_ADDR
  return list;
}

}  // namespace belay::lint
