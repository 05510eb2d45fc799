// Evaluation: is_enabled / variant over a compiled snapshot. The hot path reads the
// context through string_views, folds case into a stack buffer and hashes from the
// precomputed "groupId:" state, so the usual strategies allocate nothing.
#include <re2/re2.h>

#include <cmath>
#include <random>

#include "flags/compiled.h"

namespace belay::flags {

namespace detail {
namespace {

// The hot path (name lookup, rollout, IN/NOT_IN) is forced inline into is_enabled and
// variant, and the rarely taken operators and strategies are kept out of line: an eighth
// fewer instructions per evaluation than leaving it to the compiler (bench/flags_bench).
#define BELAY_HOT [[gnu::always_inline]] inline
#define BELAY_COLD [[gnu::noinline]]

// What resolveContextValue gives: the field, else properties[name]. A standard field that
// is "" is absent; a property that is "" is present and "" (unleash-client-node 6 reads
// `context[field] ?? context.properties[field]`), which matters to NUM_* ("" is 0), REGEX
// and overrides. `found` tells the two apart.
BELAY_HOT std::string_view resolve(const Context& ctx, Field field, std::string_view name, bool& found) {
  found = true;
  const std::string* v = nullptr;
  switch (field) {
    case Field::user_id: v = &ctx.user_id; break;
    case Field::session_id: v = &ctx.session_id; break;
    case Field::remote_address: v = &ctx.remote_address; break;
    case Field::environment: v = &ctx.environment; break;
    case Field::app_name: v = &ctx.app_name; break;
    case Field::current_time: v = &ctx.current_time; break;
    case Field::property: break;
  }
  if (v && !v->empty()) return *v;
  if (ctx.properties.size() <= 4) {
    // A context has few properties: equality tests (length first, bytes inline) beat the
    // tree's two three-way comparisons through memcmp.
    const auto* want = reinterpret_cast<const unsigned char*>(name.data());
    for (const auto& [key, value] : ctx.properties)
      if (key.size() == name.size() &&
          table_bytes::same(reinterpret_cast<const unsigned char*>(key.data()), want, name.size()))
        return value;
  } else {
    auto it = ctx.properties.find(name);
    if (it != ctx.properties.end()) return it->second;
  }
  found = false;
  return {};
}

std::string_view resolve(const Context& ctx, const FieldRef& f, bool& found) {
  return resolve(ctx, f.field, f.name, found);
}

std::string_view resolve(const Context& ctx, const FieldRef& f) {
  bool found;
  return resolve(ctx, f, found);
}

// A per-thread generator for gradualRolloutRandom and random stickiness.
uint32_t random_u32() {
  thread_local uint64_t state = [] {
    uint64_t seed = static_cast<uint64_t>(now_ms());
    seed ^= reinterpret_cast<uintptr_t>(&seed);  // differs per thread
    return seed | 1;
  }();
  // xorshift64*
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return static_cast<uint32_t>((state * 0x2545F4914F6CDD1DULL) >> 32);
}

uint32_t bucket_of(const Murmur3& prefix, std::string_view value, uint32_t modulo) {
  return prefix.finish_with(value) % modulo + 1;
}

// A rollout bucket, 1..100: the constant divisor compiles to a multiply, not a division.
BELAY_HOT uint32_t rollout_bucket(const Murmur3& prefix, std::string_view value) {
  return prefix.finish_with(value) % 100 + 1;
}

bool compare_num(Op op, double a, double b) {
  switch (op) {
    case Op::num_eq: return a == b;
    case Op::num_gt: return a > b;
    case Op::num_gte: return a >= b;
    case Op::num_lt: return a < b;
    case Op::num_lte: return a <= b;
    default: return false;
  }
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

BELAY_COLD bool listed_folded(const Compiled& k, const CConstraint& c, std::string_view v) {
  char buf[256];
  std::string spill;
  return c.set.contains(k.id_pool.data(), k.values.find(ascii_lower(v, buf, sizeof buf, spill)));
}

// Every operator but IN / NOT_IN, before `inverted`.
BELAY_COLD bool check_operands(const Compiled& k, const CConstraint& c, std::string_view v, bool found,
                               const Context& ctx) {
  const ConstraintArgs& a = k.args[c.args];  // every other operator has its operands there
  switch (c.op) {
    case Op::in:
    case Op::not_in:
      return false;  // answered by check()
    case Op::str_contains:
    case Op::str_starts_with:
    case Op::str_ends_with: {
      if (v.empty()) return false;
      char buf[256];
      std::string spill;
      if (c.case_insensitive) v = ascii_lower(v, buf, sizeof buf, spill);
      for (const auto& s : a.strs) {
        if (c.op == Op::str_contains ? v.find(s) != std::string_view::npos
            : c.op == Op::str_starts_with ? v.substr(0, s.size()) == s
                                          : ends_with(v, s))
          return true;
      }
      return false;
    }
    case Op::num_eq: case Op::num_gt: case Op::num_gte: case Op::num_lt: case Op::num_lte: {
      if (!a.num || !found) return false;
      auto n = parse_js_number(v);  // "" is 0, as Number("")
      return n && compare_num(c.op, *n, *a.num);
    }
    case Op::date_after:
    case Op::date_before: {
      // Unleash compares the context's currentTime (now when absent), whatever contextName says.
      if (!a.date_ms) return false;
      std::optional<int64_t> t = ctx.current_time.empty() ? now_ms() : parse_date_ms(ctx.current_time);
      if (!t) return false;
      return c.op == Op::date_after ? *t > *a.date_ms : *t < *a.date_ms;
    }
    case Op::semver_eq: case Op::semver_gt: case Op::semver_gte: case Op::semver_lt: case Op::semver_lte: {
      // The context's version may not start with "v" (the constraint's may).
      if (!a.semver || v.empty() || v.front() == 'v') return false;
      auto s = parse_semver(v);
      if (!s) return false;
      int r = compare(*s, *a.semver);
      switch (c.op) {
        case Op::semver_eq: return r == 0;
        case Op::semver_gt: return r > 0;
        case Op::semver_gte: return r >= 0;
        case Op::semver_lt: return r < 0;
        default: return r <= 0;
      }
    }
    case Op::regex:
      return a.re && found && RE2::PartialMatch(re2::StringPiece(v.data(), v.size()), *a.re);
    case Op::in_cidr: {
      if (v.empty() || a.nets.empty()) return false;
      auto ip = parse_ip_or_cidr(v);
      if (!ip) return false;
      for (const auto& n : a.nets) if (n.contains(*ip)) return true;
      return false;
    }
    case Op::unknown:
      return false;
  }
  return false;
}

// The operator's own answer, before `inverted`.
BELAY_HOT bool check(const Compiled& k, const CConstraint& c, const Context& ctx) {
  bool found = false;
  std::string_view v = resolve(ctx, c.field, k.names[c.name], found);
  if (c.op != Op::in && c.op != Op::not_in) return check_operands(k, c, v, found, ctx);
  bool listed = false;
  if (!v.empty())
    listed = c.case_insensitive ? listed_folded(k, c, v) : c.set.contains(k.id_pool.data(), k.values.find(v));
  return c.op == Op::in ? listed : !listed;
}

BELAY_HOT bool constraints_ok(const Compiled& k, const CStrategy& s, const Unit* cs, const Context& ctx) {
  for (uint32_t i = 0; i < s.n_constraints; ++i) {
    const CConstraint& c = cs[i].constraint;
    if (c.never) return false;
    if (c.op == Op::unknown) return false;  // unknown operators fail, inverted or not
    if (check(k, c, ctx) == c.inverted) return false;
  }
  return true;
}

// Bucket 1..100 within the rollout (see CStrategy::threshold).
BELAY_HOT bool in_rollout(const CStrategy& s, uint32_t bucket) { return bucket <= s.threshold; }

BELAY_COLD bool remote_address_on(const StrategyExtra& x, const Context& ctx) {
  if (x.ip_texts.empty() || ctx.remote_address.empty()) return false;
  std::optional<IpNet> addr;
  bool parsed = false;
  for (size_t i = 0; i < x.ip_texts.size(); ++i) {
    if (x.ip_texts[i] == ctx.remote_address) return true;
    if (!x.ips[i]) continue;
    if (!parsed) { addr = parse_ip_or_cidr(ctx.remote_address); parsed = true; }
    if (addr && addr->prefix == (addr->v6 ? 128 : 32) && x.ips[i]->contains(*addr)) return true;
  }
  return false;
}

BELAY_HOT bool strategy_on(const Compiled& k, const CStrategy& s, const Context& ctx) {
  if (s.kind == Kind::flexible && s.stick == Stick::standard && !ctx.user_id.empty())  // the usual rollout
    return in_rollout(s, rollout_bucket(s.prefix, ctx.user_id));
  switch (s.kind) {
    case Kind::standard:
      return true;
    case Kind::user_with_id:
      return !ctx.user_id.empty() && k.extras[s.extra].ids.contains(ctx.user_id);
    case Kind::gradual_user:
      return !ctx.user_id.empty() && in_rollout(s, rollout_bucket(s.prefix, ctx.user_id));
    case Kind::gradual_session:
      return !ctx.session_id.empty() && in_rollout(s, rollout_bucket(s.prefix, ctx.session_id));
    case Kind::gradual_random:
      return in_rollout(s, random_u32() % 100 + 1);
    case Kind::flexible: {
      std::string_view id;
      switch (s.stick) {
        case Stick::standard:
          id = !ctx.user_id.empty() ? std::string_view(ctx.user_id) : std::string_view(ctx.session_id);
          if (id.empty()) return in_rollout(s, random_u32() % 100 + 1);
          break;
        case Stick::random:
          return in_rollout(s, random_u32() % 100 + 1);
        case Stick::field:
          id = resolve(ctx, k.extras[s.extra].stick_field);
          if (id.empty()) return false;
          break;
      }
      return in_rollout(s, rollout_bucket(s.prefix, id));
    }
    case Kind::remote_address:
      return remote_address_on(k.extras[s.extra], ctx);
    case Kind::hostname:
      return s.host_match;
    case Kind::unknown:
      return false;
  }
  return false;
}

// Unleash's selectVariantDefinition: overrides first, then the weighted bucket.
// `how` tells whether an override or the split decided.
const CVariant* select(const CVariants& vs, const Context& ctx, Reason& how) {
  if (vs.total <= 0) return nullptr;
  if (vs.any_override) {
    for (const auto& v : vs.list)
      for (const auto& o : v.overrides) {
        bool found = false;
        std::string_view val = resolve(ctx, o.field, found);
        if (found && o.values.contains(val)) {
          how = Reason::targeting_match;
          return &v;
        }
      }
  }
  std::string_view seed;
  switch (vs.stick) {
    case Stick::standard:
      seed = !ctx.user_id.empty() ? std::string_view(ctx.user_id)
           : !ctx.session_id.empty() ? std::string_view(ctx.session_id)
                                     : std::string_view(ctx.remote_address);
      break;
    case Stick::field:
      seed = resolve(ctx, vs.stick_field);
      break;
    case Stick::random:
      break;
  }
  uint32_t total = static_cast<uint32_t>(vs.total);
  uint32_t target = seed.empty() ? random_u32() % total + 1 : bucket_of(vs.prefix, seed, total);
  uint32_t counter = 0;
  for (const auto& v : vs.list) {
    if (v.weight == 0) continue;
    counter += static_cast<uint32_t>(v.weight);
    if (counter >= target) {
      if (vs.nonzero > 1) how = Reason::split;
      return &v;
    }
  }
  return nullptr;
}

struct Outcome {
  bool enabled = false;
  Reason reason = Reason::default_;
  const CVariant* variant = nullptr;  // a strategy variant, when asked for and selected
};

BELAY_HOT Outcome evaluate(const Compiled& c, const Unit* head, const Context& ctx, bool want_variant);

Variant to_variant(const CVariant* v, bool feature_enabled) {
  Variant out;
  out.feature_enabled = feature_enabled;
  if (!v) return out;
  out.name = v->def->name;
  out.enabled = true;
  if (v->def->payload) out.payload = VariantPayload{v->def->payload->type, v->def->payload->value};
  return out;
}

// getVariant: the strategy's variant, else the flag's, else "disabled".
BELAY_HOT Evaluation resolve_variant(const Compiled& c, const Unit* head, const Context& ctx) {
  Outcome o = evaluate(c, head, ctx, true);
  Evaluation e;
  e.enabled = o.enabled;
  e.reason = o.reason;
  if (!o.enabled) {
    e.variant = to_variant(nullptr, false);
    return e;
  }
  const CVariant* v = o.variant;
  const CVariants& flag_variants = c.flags[head->head.flag].variants;
  if (!v && !flag_variants.list.empty()) v = select(flag_variants, ctx, e.reason);
  e.variant = to_variant(v, true);
  return e;
}

BELAY_COLD bool dependencies_ok(const Compiled& c, const CFlag& f, const Context& ctx) {
  for (const auto& d : f.deps) {
    if (d.parent < 0) return false;
    const CFlag& parent = c.flags[static_cast<size_t>(d.parent)];
    if (!parent.deps.empty()) return false;  // one level only, as Unleash
    const Unit* head = &c.units[parent.unit];
    if (!d.want_enabled) {
      if (evaluate(c, head, ctx, false).enabled) return false;
      continue;
    }
    if (d.variants.empty()) {
      if (!evaluate(c, head, ctx, false).enabled) return false;
      continue;
    }
    Evaluation pv = resolve_variant(c, head, ctx);
    if (!pv.enabled) return false;
    bool listed = false;
    for (const auto& name : d.variants) listed = listed || name == pv.variant.name;
    if (!listed) return false;
  }
  return true;
}

BELAY_HOT Outcome evaluate(const Compiled& c, const Unit* head, const Context& ctx, bool want_variant) {
  const CHead& h = head->head;
  if (!h.enabled) return {false, Reason::disabled, nullptr};
  if (h.has_deps && !dependencies_ok(c, c.flags[h.flag], ctx)) return {false, Reason::default_, nullptr};
  if (h.n_strategies == 0) return {true, Reason::static_, nullptr};
  const Unit* u = head + 1;
  for (uint32_t i = 0; i < h.n_strategies; ++i) {
    const CStrategy& s = u->strategy;
    const Unit* constraints = u + 1;
    u = constraints + s.n_constraints;
    // The strategy's own test first: bucketing is arithmetic on the context, cheaper than
    // constraint lookups, and the order cannot change the answer (Unleash requires both).
    if (s.disabled || !strategy_on(c, s, ctx) || !constraints_ok(c, s, constraints, ctx)) continue;
    Outcome o{true, static_cast<Reason>(s.on_reason), nullptr};
    if (want_variant) {
      const CVariants& vs = c.extras[s.extra].variants;
      if (!vs.list.empty()) o.variant = select(vs, ctx, o.reason);
    }
    return o;
  }
  return {false, Reason::default_, nullptr};
}

// The flag's head unit, or null.
BELAY_HOT const Unit* lookup(const Snapshot& s, std::string_view name) {
  const Compiled* c = s.compiled();
  if (!c) return nullptr;
  int32_t at = c->index.find(name);
  return at < 0 ? nullptr : &c->units[static_cast<size_t>(at)];
}

}  // namespace
}  // namespace detail

Evaluation error_evaluation(ErrorCode code, std::string_view message) {
  Evaluation e;
  e.reason = Reason::error;
  e.error_code = code;
  e.error_message = message;
  return e;
}

Evaluation is_enabled(const Snapshot& s, std::string_view name, const Context& ctx) noexcept {
  try {
    const detail::Unit* f = detail::lookup(s, name);
    if (!f) return error_evaluation(ErrorCode::flag_not_found, "no flag of that name in the snapshot");
    detail::Outcome o = detail::evaluate(*s.compiled(), f, ctx, false);
    Evaluation e;
    e.enabled = o.enabled;
    e.reason = o.reason;
    e.variant.feature_enabled = o.enabled;
    return e;
  } catch (...) {  // only std::bad_alloc can get here (a long case-folded value)
    return error_evaluation(ErrorCode::general, "out of memory while evaluating");
  }
}

Evaluation variant(const Snapshot& s, std::string_view name, const Context& ctx) noexcept {
  try {
    const detail::Unit* f = detail::lookup(s, name);
    if (!f) return error_evaluation(ErrorCode::flag_not_found, "no flag of that name in the snapshot");
    return detail::resolve_variant(*s.compiled(), f, ctx);
  } catch (...) {
    return error_evaluation(ErrorCode::general, "out of memory while evaluating");
  }
}

std::string_view reason_name(Reason r) {
  switch (r) {
    case Reason::static_: return "STATIC";
    case Reason::default_: return "DEFAULT";
    case Reason::targeting_match: return "TARGETING_MATCH";
    case Reason::split: return "SPLIT";
    case Reason::disabled: return "DISABLED";
    case Reason::error: return "ERROR";
  }
  return "UNKNOWN";
}

std::string_view error_code_name(ErrorCode c) {
  switch (c) {
    case ErrorCode::none: return "";
    case ErrorCode::flag_not_found: return "FLAG_NOT_FOUND";
    case ErrorCode::parse_error: return "PARSE_ERROR";
    case ErrorCode::type_mismatch: return "TYPE_MISMATCH";
    case ErrorCode::invalid_context: return "INVALID_CONTEXT";
    case ErrorCode::general: return "GENERAL";
  }
  return "GENERAL";
}

nlohmann::json to_json(const Evaluation& e) {
  nlohmann::json v = {{"name", std::string(e.variant.name)}, {"enabled", e.variant.enabled},
                      {"feature_enabled", e.variant.feature_enabled}};
  if (e.variant.payload)
    v["payload"] = {{"type", std::string(e.variant.payload->type)}, {"value", std::string(e.variant.payload->value)}};
  nlohmann::json j = {{"enabled", e.enabled}, {"variant", std::move(v)}, {"reason", std::string(reason_name(e.reason))}};
  if (e.error_code != ErrorCode::none) {
    j["errorCode"] = std::string(error_code_name(e.error_code));
    j["errorMessage"] = std::string(e.error_message);
  }
  return j;
}

uint32_t murmur3_32(std::string_view bytes, uint32_t seed) {
  return detail::Murmur3(seed).finish_with(bytes);
}

uint32_t strategy_bucket(std::string_view group_id, std::string_view value) {
  detail::Murmur3 m(0);
  m.update(group_id);
  m.update(":");
  return m.finish_with(value) % 100 + 1;  // as evaluation computes it
}

uint32_t variant_bucket(std::string_view group_id, std::string_view value, int total_weight) {
  if (total_weight <= 0) return 0;
  detail::Murmur3 m(kVariantSeed);
  m.update(group_id);
  m.update(":");
  return m.finish_with(value) % static_cast<uint32_t>(total_weight) + 1;
}

}  // namespace belay::flags

#undef BELAY_HOT
#undef BELAY_COLD
