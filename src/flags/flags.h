// belay flags: feature flags evaluated with Unleash's semantics, in process. The public
// face of src/flags/ (no database, no HTTP: the store and `belay serve` build on this).
//
//   auto snap = flags::parse_client_features(text);   // Unleash's /api/client/features
//   flags::Context ctx; ctx.user_id = "42"; ctx.properties["plan"] = "pro";
//   flags::Evaluation e = flags::is_enabled(*snap, "new-checkout", ctx);
//   if (e.enabled) ...;  e.reason is OpenFeature's (STATIC, SPLIT, TARGETING_MATCH, ...)
//
// Semantics are Unleash's, checked against its published client specification
// (tests/data/unleash-spec/): strategies default, userWithId, gradualRolloutUserId,
// gradualRolloutSessionId, gradualRolloutRandom, flexibleRollout, remoteAddress,
// applicationHostname (unknown strategies are off); every constraint operator with
// `inverted` and `caseInsensitive`; segments; strategy and flag variants with overrides
// and stickiness; dependent features. Bucketing is MurmurHash3 x86_32 over the UTF-8
// bytes of "groupId:stickinessValue": seed 0, `% 100 + 1` for rollouts; seed 86028157,
// `% totalWeight + 1` for variants (bucket() below).
//
// A Snapshot is compiled once (flag index, pre-hashed value sets, parsed numbers, dates,
// semvers, CIDRs, regexes, murmur state of each "groupId:" prefix) and is immutable, so
// one snapshot serves any number of threads; copying it copies a shared pointer.
// Evaluation never throws and does not allocate for the usual strategies.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "util/error.h"

namespace belay::flags {

// ---- The model: Unleash's client features document, field for field ----------------

struct Constraint {
  std::string context_name;            // contextName: userId, environment, a property...
  std::string op;                      // operator: IN, NOT_IN, STR_CONTAINS, NUM_GT, ...
  std::vector<std::string> values;     // list operators (IN, STR_*, IN_CIDR)
  std::optional<std::string> value;    // single-value operators (NUM_*, DATE_*, SEMVER_*, REGEX)
  bool inverted = false;
  bool case_insensitive = false;       // caseInsensitive (IN, NOT_IN, STR_*, REGEX)
};

struct Payload {
  std::string type;                    // "string", "json", "csv", "number"
  std::string value;                   // always text, as Unleash sends it
};

struct Override {
  std::string context_name;
  std::vector<std::string> values;
};

struct VariantDef {
  std::string name;
  int weight = 0;                      // the server has already spread "variable" weights
  std::string weight_type;             // weightType: "variable" or "fix" ("" = absent)
  std::string stickiness;              // "" = absent (default)
  std::optional<Payload> payload;
  std::vector<Override> overrides;
};

struct Strategy {
  std::string name;                    // default, flexibleRollout, userWithId, ...
  std::optional<std::string> title;
  bool disabled = false;               // a disabled strategy never matches
  std::map<std::string, std::string> parameters;  // numbers given as JSON numbers become text
  std::vector<Constraint> constraints;
  std::vector<int64_t> segments;       // segment ids; one that does not exist fails the strategy
  std::vector<VariantDef> variants;    // strategy variants (Unleash 5.4+)
};

struct Dependency {
  std::string feature;                       // the parent flag
  std::optional<bool> enabled;               // absent = must be enabled
  std::optional<std::vector<std::string>> variants;  // parent's variant must be one of these
};

struct Feature {
  std::string name;
  std::optional<std::string> description;
  std::string type;                    // release, experiment, kill-switch, ... ("" = absent)
  std::string project;                 // "" = absent
  bool enabled = false;
  bool stale = false;
  bool impression_data = false;
  std::vector<Strategy> strategies;    // none = on for everyone when enabled
  std::vector<VariantDef> variants;
  std::vector<Dependency> dependencies;
};

struct Segment {
  int64_t id = 0;
  std::optional<std::string> name;
  std::vector<Constraint> constraints;
};

struct Document {
  int version = 2;
  std::vector<Feature> features;
  std::vector<Segment> segments;
};

// ---- The evaluation context: Unleash's ----------------------------------------------

// A standard field that is "" is not given. A property that is "" is given, as in
// unleash-client-node (Number("") is 0 for NUM_*, a REGEX may match ""). A constraint or
// stickiness on a standard field reads the field, then properties[field] when it is empty;
// on any other name it reads properties. DATE_* compare current_time (now when empty).
// caseInsensitive folds ASCII letters only.
struct Context {
  std::string user_id;
  std::map<std::string, std::string, std::less<>> properties;  // next to user_id: both are hot
  std::string session_id;
  std::string remote_address;
  std::string environment;
  std::string app_name;
  std::string current_time;            // ISO 8601 / RFC 3339; "" = now
};

// {userId, sessionId, remoteAddress, environment, appName, currentTime, properties}.
// Numbers and booleans become text, null means absent, other top-level keys go to
// properties (as they would in an SDK). Objects or arrays as values are errors.
Result<Context> parse_context(std::string_view json);
Result<Context> context_from_json(const nlohmann::json& j);

// ---- Snapshots ------------------------------------------------------------------------

namespace detail { struct Compiled; }

class Snapshot {
 public:
  Snapshot();                                   // no flags: everything is FLAG_NOT_FOUND
  // Compiles a model (e.g. built from the database). Fails on an empty or duplicate flag
  // name or a duplicate segment id; everything else that Unleash evaluates to "off"
  // (unknown strategy or operator, bad regex, missing segment or parent) compiles, with
  // a warning naming it.
  static Result<Snapshot> compile(Document doc);

  const Document& document() const;
  size_t size() const;                          // number of flags
  bool contains(std::string_view name) const;
  // Things that will evaluate to "off" whatever the context, one line each naming the
  // flag and strategy ("features[3] \"x\": strategy 1 \"foo\" is unknown: off").
  const std::vector<std::string>& warnings() const;

  const detail::Compiled* compiled() const { return c_.get(); }

 private:
  static Result<Snapshot> compile_unchecked(Document doc);
  std::shared_ptr<const detail::Compiled> c_;
};

// Unleash's client features document {version, features, segments} -> a compiled
// snapshot. Errors name the line:column of malformed JSON, or the path of the offending
// field (object = "features[2].strategies[0].constraints[1].values[3]").
Result<Snapshot> parse_client_features(std::string_view json);
Result<Document> document_from_json(const nlohmann::json& j);
// The document back, in the form /api/client/features serves; parse(to(x)) == x.
nlohmann::json to_client_features(const Snapshot& s);
nlohmann::json to_json(const Document& d);

// ---- Evaluation -------------------------------------------------------------------------

// OpenFeature's resolution reasons.
enum class Reason {
  static_,          // STATIC: on for everyone (no strategy, or default without constraints)
  default_,         // DEFAULT: the flag is on but no strategy matched this context,
                    //          or a parent dependency is not satisfied
  targeting_match,  // TARGETING_MATCH: a strategy's targeting (constraints, segments,
                    //          user ids, addresses) or a variant override matched
  split,            // SPLIT: a percentage rollout or a weighted variant decided
  disabled,         // DISABLED: the flag is switched off (the kill switch)
  error,            // ERROR: see error_code
};

// OpenFeature's error codes.
enum class ErrorCode { none, flag_not_found, parse_error, type_mismatch, invalid_context, general };

std::string_view reason_name(Reason r);         // "STATIC", "DEFAULT", ...
std::string_view error_code_name(ErrorCode c);  // "", "FLAG_NOT_FOUND", "PARSE_ERROR", ...

// The string views below point into the Snapshot (or static text): keep the snapshot
// alive while you use them (copy the Snapshot; it is a shared handle).
struct VariantPayload {
  std::string_view type;
  std::string_view value;
};

struct Variant {
  std::string_view name = "disabled";           // "disabled" when there is no variant
  bool enabled = false;                         // a real variant was selected
  std::optional<VariantPayload> payload;
  bool feature_enabled = false;                 // the flag itself was on for this context
};

struct Evaluation {
  bool enabled = false;
  Variant variant;                              // filled by variant(); "disabled" by is_enabled()
  Reason reason = Reason::default_;
  ErrorCode error_code = ErrorCode::none;
  std::string_view error_message;               // static text
};

// Never throw. An unknown name is {enabled: false, reason: ERROR, FLAG_NOT_FOUND}.
Evaluation is_enabled(const Snapshot& s, std::string_view name, const Context& ctx) noexcept;
Evaluation variant(const Snapshot& s, std::string_view name, const Context& ctx) noexcept;

// {"enabled", "variant": {"name", "enabled", "payload"?, "feature_enabled"}, "reason",
//  "errorCode"?, "errorMessage"?} — what `belay flags eval --json` prints.
nlohmann::json to_json(const Evaluation& e);

// An ERROR evaluation for callers that fail before evaluating (e.g. PARSE_ERROR on a
// context they could not parse); message must outlive the result (use static text).
Evaluation error_evaluation(ErrorCode code, std::string_view message);

// ---- Bucketing (what the SQL function must reproduce) -------------------------------------

// MurmurHash3 x86_32 of the bytes.
uint32_t murmur3_32(std::string_view bytes, uint32_t seed);

inline constexpr uint32_t kVariantSeed = 86028157;
// Rollout bucket 1..100 of "groupId:value" (seed 0).
uint32_t strategy_bucket(std::string_view group_id, std::string_view value);
// Variant bucket 1..total_weight of "groupId:value" (seed 86028157); 0 if total_weight <= 0.
uint32_t variant_bucket(std::string_view group_id, std::string_view value, int total_weight);

}  // namespace belay::flags
