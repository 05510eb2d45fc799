// Internal to src/flags: a Document compiled for evaluation. Everything that can be worked
// out without the context is worked out here once: which context field a name reads, the
// numbers, dates, versions, networks and regexes constraints compare against, value sets
// (lower-cased when caseInsensitive), segment constraints inlined into each strategy,
// parents resolved to indexes, and the MurmurHash3 state after "groupId:".
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "flags/flags.h"
#include "flags/values.h"

namespace re2 { class RE2; }

namespace belay::flags::detail {

// Where a context name is read from. A standard field falls back to properties[name] when
// empty, as Unleash's resolveContextValue does.
enum class Field : uint8_t { user_id, session_id, remote_address, environment, app_name, current_time, property };

struct FieldRef {
  Field field = Field::property;
  std::string name;
};
FieldRef field_ref(std::string_view name);

enum class Op : uint8_t {
  in, not_in, str_contains, str_starts_with, str_ends_with,
  num_eq, num_gt, num_gte, num_lt, num_lte, date_after, date_before,
  semver_eq, semver_gt, semver_gte, semver_lt, semver_lte, regex, in_cidr, unknown,
};

// Fields in the order evaluation reads them: the first cache line serves the common case.
struct CConstraint {
  Op op = Op::unknown;
  bool inverted = false;
  bool case_insensitive = false;
  bool never = false;                  // a segment that does not exist: the strategy fails
  FieldRef field;
  StringSet set;                       // IN / NOT_IN
  std::vector<std::string> strs;       // STR_* (folded when case_insensitive), empties dropped
  std::optional<double> num;           // NUM_*
  std::optional<int64_t> date_ms;      // DATE_*
  std::shared_ptr<const std::string> semver_text;  // owns the text semver points into (on the
                                                  // heap: a moved short string would move it)
  std::optional<SemVer> semver;        // SEMVER_*
  std::shared_ptr<const re2::RE2> re;  // REGEX; null when the pattern is invalid
  std::vector<IpNet> nets;             // IN_CIDR
};

enum class Stick : uint8_t { standard, random, field };  // "default" stickiness is `standard`

struct COverride {
  FieldRef field;
  StringSet values;
};

struct CVariant {
  const VariantDef* def = nullptr;     // points into Compiled::doc
  int weight = 0;
  std::vector<COverride> overrides;
};

struct CVariants {
  std::vector<CVariant> list;
  int total = 0;                       // sum of weights
  int nonzero = 0;                     // variants with a weight (SPLIT when more than one)
  bool any_override = false;
  Stick stick = Stick::standard;
  FieldRef stick_field;
  Murmur3 prefix{kVariantSeed};        // state after "groupId:"
};

enum class Kind : uint8_t {
  standard, user_with_id, gradual_user, gradual_session, gradual_random, flexible,
  remote_address, hostname, unknown,
};

struct CStrategy {
  Kind kind = Kind::unknown;
  bool disabled = false;
  Stick stick = Stick::standard;
  bool host_match = false;               // applicationHostname, decided at compile time
  Reason on_reason = Reason::targeting_match;  // why the flag is on when this matches
  double percentage = 0;                 // rollout / percentage; NaN never matches
  Murmur3 prefix{0};                     // state after "groupId:"
  std::vector<CConstraint> constraints;  // the strategy's, then each segment's
  FieldRef stick_field;
  StringSet ids;                         // userWithId
  std::vector<std::string> ip_texts;     // remoteAddress, compared as text first
  std::vector<std::optional<IpNet>> ips;
  CVariants variants;
};

struct CDependency {
  int32_t parent = -1;                   // index into flags; -1 = no such flag
  bool want_enabled = true;
  std::vector<std::string> variants;
};

struct CFlag {
  bool enabled = false;
  std::vector<CStrategy> strategies;
  std::vector<CDependency> deps;
  const Feature* def = nullptr;          // points into Compiled::doc
  CVariants variants;
};

struct Compiled {
  Document doc;
  std::vector<CFlag> flags;
  NameIndex index;
  std::vector<std::string> warnings;
};

}  // namespace belay::flags::detail
