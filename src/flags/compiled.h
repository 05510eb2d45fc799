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

// A set of interned value ids (Compiled::values): a bitset over the words that hold its ids,
// or, when the ids are too scattered for that to be small, their sorted list. Either lives
// in Compiled::id_pool, so every IN set of a snapshot is one contiguous array and a lookup
// is one probe of the shared table plus a bit test, whatever the number of flags.
struct IdSet {
  uint32_t off = 0;                    // where the words or ids start in the pool
  uint32_t base = 0;                   // bitset: id of bit 0 of the first word
  uint32_t n = 0;                      // bitset: words; sorted: ids
  uint32_t sorted = 0;
  bool contains(const uint64_t* pool, int32_t id) const;
};

enum class Op : uint8_t {
  in, not_in, str_contains, str_starts_with, str_ends_with,
  num_eq, num_gt, num_gte, num_lt, num_lte, date_after, date_before,
  semver_eq, semver_gt, semver_gte, semver_lt, semver_lte, regex, in_cidr, unknown,
};

// Operands of the constraints that are not IN / NOT_IN (Compiled::args).
struct ConstraintArgs {
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

// What a strategy needs beyond its unit (Compiled::extras).
struct StrategyExtra {
  FieldRef stick_field;
  StringSet ids;                         // userWithId
  std::vector<std::string> ip_texts;     // remoteAddress, compared as text first
  std::vector<std::optional<IpNet>> ips;
  CVariants variants;
};

// The evaluation program: Compiled::units holds, for each flag, a head followed by each of
// its strategies, each followed by its constraints (the strategy's, then each segment's).
// Units are 32 bytes and a flag's are adjacent, so the usual flag (one strategy, one
// constraint) is 96 contiguous bytes whose addresses are all known once the name is found:
// a 200-flag snapshot's program is 19 KB, and an evaluation waits on no pointer chain.
struct CHead {
  bool enabled = false;
  bool has_deps = false;
  uint32_t n_strategies = 0;
  uint32_t flag = 0;                     // index into Compiled::flags
};

struct CStrategy {
  Kind kind = Kind::unknown;
  bool disabled = false;
  Stick stick = Stick::standard;
  bool host_match = false;               // applicationHostname, decided at compile time
  uint8_t on_reason = static_cast<uint8_t>(Reason::targeting_match);  // why the flag is on when this matches
  // The rollout as the largest bucket (1..100) that is in: percentage > 0 && bucket <=
  // percentage, NaN never, is bucket <= threshold for integer buckets.
  uint8_t threshold = 0;
  uint32_t n_constraints = 0;
  uint32_t extra = 0;                    // index into Compiled::extras
  Murmur3 prefix{0};                     // state after "groupId:"
};

struct CConstraint {
  Op op = Op::unknown;
  bool inverted = false;
  bool case_insensitive = false;
  bool never = false;                  // a segment that does not exist: the strategy fails
  Field field = Field::property;
  uint32_t name = 0;                   // the context name, index into Compiled::names
  uint32_t args = 0;                   // index into Compiled::args (not IN / NOT_IN)
  IdSet set;                           // IN / NOT_IN: ids in Compiled::values
};

union alignas(32) Unit {
  Unit() : head() {}
  CHead head;
  CStrategy strategy;
  CConstraint constraint;
};
static_assert(sizeof(Unit) == 32);

struct CDependency {
  int32_t parent = -1;                   // index into flags; -1 = no such flag
  bool want_enabled = true;
  std::vector<std::string> variants;
};

struct CFlag {
  uint32_t unit = 0;                     // the flag's head in Compiled::units
  std::vector<CDependency> deps;
  const Feature* def = nullptr;          // points into Compiled::doc
  CVariants variants;
};

struct Compiled {
  Document doc;
  std::vector<CFlag> flags;
  std::vector<Unit> units;
  std::vector<StrategyExtra> extras;
  std::vector<ConstraintArgs> args;
  std::vector<std::string> names;      // constraints' context names
  StringTable name_ids;                // name -> index into names
  NameIndex index;                     // flag name -> its head in units
  StringTable values;                  // every IN / NOT_IN value of the snapshot -> its id
  std::vector<uint64_t> id_pool;       // the IdSets' words and id lists
  std::vector<std::string> warnings;
};

inline bool IdSet::contains(const uint64_t* pool, int32_t id) const {
  if (id < 0) return false;
  const uint64_t* p = pool + off;
  if (!sorted) {
    const uint32_t rel = static_cast<uint32_t>(id) - base;  // wraps when id < base
    return rel < n * 64u && (p[rel >> 6] >> (rel & 63) & 1) != 0;
  }
  size_t lo = 0, hi = n;  // lower bound over the sorted ids
  while (lo < hi) {
    const size_t mid = (lo + hi) / 2;
    if (p[mid] < static_cast<uint64_t>(id)) lo = mid + 1; else hi = mid;
  }
  return lo < n && p[lo] == static_cast<uint64_t>(id);
}

}  // namespace belay::flags::detail
