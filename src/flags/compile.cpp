// Document -> Compiled (see compiled.h), and the Snapshot handle around it.
#include <fmt/format.h>
#include <re2/re2.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>

#include "flags/compiled.h"

namespace belay::flags {

namespace detail {

FieldRef field_ref(std::string_view name) {
  static const std::pair<std::string_view, Field> standard[] = {
      {"userId", Field::user_id},         {"sessionId", Field::session_id},
      {"remoteAddress", Field::remote_address}, {"environment", Field::environment},
      {"appName", Field::app_name},       {"currentTime", Field::current_time},
  };
  FieldRef r;
  r.name = std::string(name);
  for (const auto& [n, f] : standard)
    if (n == name) r.field = f;
  return r;
}

namespace {

const std::map<std::string_view, Op>& operators() {
  static const std::map<std::string_view, Op> m = {
      {"IN", Op::in}, {"NOT_IN", Op::not_in}, {"STR_CONTAINS", Op::str_contains},
      {"STR_STARTS_WITH", Op::str_starts_with}, {"STR_ENDS_WITH", Op::str_ends_with},
      {"NUM_EQ", Op::num_eq}, {"NUM_GT", Op::num_gt}, {"NUM_GTE", Op::num_gte},
      {"NUM_LT", Op::num_lt}, {"NUM_LTE", Op::num_lte}, {"DATE_AFTER", Op::date_after},
      {"DATE_BEFORE", Op::date_before}, {"SEMVER_EQ", Op::semver_eq}, {"SEMVER_GT", Op::semver_gt},
      {"SEMVER_GTE", Op::semver_gte}, {"SEMVER_LT", Op::semver_lt}, {"SEMVER_LTE", Op::semver_lte},
      {"REGEX", Op::regex}, {"IN_CIDR", Op::in_cidr},
  };
  return m;
}

// The machine's host name, lower-cased, as Unleash's applicationHostname strategy reads it.
std::string host_name() {
  if (const char* env = std::getenv("HOSTNAME"); env && *env) return ascii_lower(env);
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) == 0 && buf[0]) return ascii_lower(buf);
  return "undefined";
}

// Unleash's cleanValues: empty values dropped, the rest trimmed.
std::vector<std::string> clean_values(const std::vector<std::string>& values) {
  std::vector<std::string> out;
  for (const auto& v : values) {
    if (v.empty()) continue;
    size_t b = v.find_first_not_of(" \t\n\r\f\v"), e = v.find_last_not_of(" \t\n\r\f\v");
    out.push_back(b == std::string::npos ? std::string() : v.substr(b, e - b + 1));
  }
  return out;
}

struct Compiler {
  Compiled& c;
  std::map<int64_t, const Segment*> segments;

  void warn(size_t fi, std::string what) {
    c.warnings.push_back(fmt::format("features[{}] \"{}\": {}", fi, c.doc.features[fi].name, what));
  }

  // A constraint unit; operands other than IN sets go to c.args.
  CConstraint constraint(const Constraint& k, const std::string& where, size_t fi) {
    CConstraint out;
    out.inverted = k.inverted;
    out.case_insensitive = k.case_insensitive;
    out.field = field_ref(k.context_name).field;
    out.name = name_id(k.context_name);
    ConstraintArgs args;
    auto it = operators().find(k.op);
    out.op = it == operators().end() ? Op::unknown : it->second;
    // Single-value operators read `value` only; `values` is ignored for them, as in Unleash.
    const std::string single = k.value.value_or("");
    switch (out.op) {
      case Op::in:
      case Op::not_in: {
        std::vector<std::string> vals;
        for (const auto& v : clean_values(k.values)) vals.push_back(k.case_insensitive ? ascii_lower(v) : v);
        out.set = intern(vals);
        break;
      }
      case Op::str_contains:
      case Op::str_starts_with:
      case Op::str_ends_with:
        for (const auto& v : clean_values(k.values)) args.strs.push_back(k.case_insensitive ? ascii_lower(v) : v);
        break;
      case Op::num_eq: case Op::num_gt: case Op::num_gte: case Op::num_lt: case Op::num_lte:
        if (k.value) args.num = parse_js_number(single);
        if (!args.num) warn(fi, fmt::format("{} {} needs a number value, has \"{}\": no match", where, k.op, single));
        break;
      case Op::date_after:
      case Op::date_before:
        args.date_ms = parse_date_ms(single);
        if (!args.date_ms) warn(fi, fmt::format("{} {} needs an ISO 8601 date value, has \"{}\": no match", where, k.op, single));
        break;
      case Op::semver_eq: case Op::semver_gt: case Op::semver_gte: case Op::semver_lt: case Op::semver_lte:
        args.semver_text = std::make_shared<const std::string>(single);
        args.semver = parse_semver(*args.semver_text);
        if (!args.semver) warn(fi, fmt::format("{} {} needs a semantic version value, has \"{}\": no match", where, k.op, single));
        break;
      case Op::regex: {
        RE2::Options opt;
        opt.set_log_errors(false);  // the library never prints; the warning says it
        opt.set_case_sensitive(!k.case_insensitive);
        auto re = std::make_shared<const RE2>(single, opt);
        if (re->ok() && k.value) args.re = std::move(re);
        else if (!k.value) warn(fi, fmt::format("{} REGEX has no \"value\": no match", where));
        else warn(fi, fmt::format("{} REGEX \"{}\" is not a valid pattern ({}): no match", where, single, re->error()));
        break;
      }
      case Op::in_cidr:
        for (const auto& v : clean_values(k.values)) {
          if (auto n = parse_ip_or_cidr(v)) args.nets.push_back(*n);
          else warn(fi, fmt::format("{} IN_CIDR value \"{}\" is not an address or network: ignored", where, v));
        }
        break;
      case Op::unknown:
        warn(fi, fmt::format("{} operator \"{}\" is unknown: no match", where, k.op));
        break;
    }
    if (out.op != Op::in && out.op != Op::not_in) {
      out.args = static_cast<uint32_t>(c.args.size());
      c.args.push_back(std::move(args));
    }
    return out;
  }

  uint32_t name_id(const std::string& name) {
    int32_t id = c.name_ids.find(name);
    if (id < 0) {
      id = static_cast<int32_t>(c.names.size());
      c.names.push_back(name);
      c.name_ids.insert(name, id);
    }
    return static_cast<uint32_t>(id);
  }

  void push(const CConstraint& k) {
    c.units.emplace_back();
    c.units.back().constraint = k;
  }

  // The values' ids in the snapshot's shared table, as a bitset over the words they span
  // when that is at most a few words per value, else as a sorted list (ids of values first
  // seen together are adjacent, so sets rarely need the list).
  IdSet intern(const std::vector<std::string>& vals) {
    std::vector<uint32_t> ids;
    for (const auto& v : vals) {
      int32_t id = c.values.find(v);
      if (id < 0) {
        id = static_cast<int32_t>(c.values.size());
        c.values.insert(v, id);
      }
      ids.push_back(static_cast<uint32_t>(id));
    }
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    IdSet out;
    out.off = static_cast<uint32_t>(c.id_pool.size());
    if (ids.empty()) return out;
    const uint32_t first_word = ids.front() / 64, words = ids.back() / 64 - first_word + 1;
    if (words <= 4 + 2 * ids.size()) {
      out.base = first_word * 64;
      out.n = words;
      c.id_pool.resize(c.id_pool.size() + words, 0);
      for (uint32_t id : ids) c.id_pool[out.off + (id - out.base) / 64] |= uint64_t{1} << ((id - out.base) % 64);
    } else {
      out.sorted = true;
      out.n = static_cast<uint32_t>(ids.size());
      c.id_pool.insert(c.id_pool.end(), ids.begin(), ids.end());
    }
    return out;
  }

  // Weights, overrides and stickiness of a variant list; `group` is the bucketing group.
  CVariants variants(const std::vector<VariantDef>& defs, std::string_view group, std::string_view stickiness) {
    CVariants out;
    for (const auto& d : defs) {
      CVariant v;
      v.def = &d;
      v.weight = d.weight;
      out.total += d.weight;
      if (d.weight != 0) ++out.nonzero;
      for (const auto& o : d.overrides) {
        COverride co;
        co.field = field_ref(o.context_name);
        co.values.build(o.values);
        v.overrides.push_back(std::move(co));
        out.any_override = true;
      }
      out.list.push_back(std::move(v));
    }
    set_stickiness(stickiness, out.stick, out.stick_field);
    out.prefix.update(group);
    out.prefix.update(":");
    return out;
  }

  static void set_stickiness(std::string_view s, Stick& stick, FieldRef& field) {
    if (s.empty() || s == "default") stick = Stick::standard;
    else if (s == "random") stick = Stick::random;
    else { stick = Stick::field; field = field_ref(s); }
  }

  static std::string param(const Strategy& s, const char* key) {
    auto it = s.parameters.find(key);
    return it == s.parameters.end() ? std::string() : it->second;
  }
  static bool has_param(const Strategy& s, const char* key) { return s.parameters.count(key) != 0; }

  // Number(parameters[key]) as Unleash reads it: absent or unparsable is NaN.
  static double percent(const Strategy& s, const char* key) {
    if (!has_param(s, key)) return NAN;
    auto v = parse_js_number(param(s, key));
    return v ? *v : NAN;
  }

  // The largest integer bucket (1..100) a percentage lets in; see CStrategy::threshold.
  static uint8_t threshold(double pct) {
    if (!(pct > 0)) return 0;  // NaN too
    return pct >= 100 ? 100 : static_cast<uint8_t>(std::floor(pct));
  }

  // Appends the strategy's unit, then its constraints' (the strategy's, then each segment's).
  void strategy(const Feature& f, const Strategy& s, size_t fi, size_t si) {
    const size_t at = c.units.size();
    c.units.emplace_back();
    CStrategy out;
    StrategyExtra extra;
    out.disabled = s.disabled;
    const std::string where = fmt::format("strategy {} \"{}\"", si, s.name);
    static const std::map<std::string_view, Kind> kinds = {
        {"default", Kind::standard}, {"userWithId", Kind::user_with_id},
        {"gradualRolloutUserId", Kind::gradual_user}, {"gradualRolloutSessionId", Kind::gradual_session},
        {"gradualRolloutRandom", Kind::gradual_random}, {"flexibleRollout", Kind::flexible},
        {"remoteAddress", Kind::remote_address}, {"applicationHostname", Kind::hostname},
    };
    auto k = kinds.find(s.name);
    out.kind = k == kinds.end() ? Kind::unknown : k->second;
    if (out.kind == Kind::unknown) warn(fi, where + " is unknown: never matches");

    for (size_t i = 0; i < s.constraints.size(); ++i)
      push(constraint(s.constraints[i], fmt::format("{} constraint {}", where, i), fi));
    for (int64_t id : s.segments) {
      auto seg = segments.find(id);
      if (seg == segments.end()) {
        warn(fi, fmt::format("{} uses segment {} which does not exist: never matches", where, id));
        CConstraint never;
        never.never = true;
        push(never);
        continue;
      }
      for (size_t i = 0; i < seg->second->constraints.size(); ++i)
        push(constraint(seg->second->constraints[i], fmt::format("{} segment {} constraint {}", where, id, i), fi));
    }
    out.n_constraints = static_cast<uint32_t>(c.units.size() - at - 1);

    std::string group = param(s, "groupId");
    double pct = 100;
    switch (out.kind) {
      case Kind::user_with_id:
        extra.ids.build(split_list(param(s, "userIds")));
        break;
      case Kind::gradual_user:
      case Kind::gradual_session:
      case Kind::gradual_random:
        pct = percent(s, "percentage");
        out.threshold = threshold(pct);
        break;
      case Kind::flexible:
        pct = percent(s, "rollout");
        out.threshold = threshold(pct);
        if (group.empty()) group = f.name;
        set_stickiness(param(s, "stickiness"), out.stick, extra.stick_field);
        break;
      case Kind::remote_address:
        if (has_param(s, "IPs") && !param(s, "IPs").empty())
          for (auto& ip : split_list(param(s, "IPs"))) {
            extra.ips.push_back(parse_ip_or_cidr(ip));
            extra.ip_texts.push_back(std::move(ip));
          }
        break;
      case Kind::hostname: {
        static const std::string host = host_name();
        for (const auto& h : split_list(ascii_lower(param(s, "hostNames"))))
          if (h == host) out.host_match = true;
        break;
      }
      default:
        break;
    }
    out.prefix.update(group);
    out.prefix.update(":");

    // Strategy variants bucket on the strategy's groupId (the flag's name when absent) and
    // the first variant's stickiness, else the strategy's (as unleash-client-node 6).
    std::string vstick = s.variants.empty() ? std::string() : s.variants.front().stickiness;
    if (vstick.empty()) vstick = param(s, "stickiness");
    extra.variants = variants(s.variants, group.empty() ? std::string_view(f.name) : std::string_view(group), vstick);

    bool percentage_kind = out.kind == Kind::gradual_user || out.kind == Kind::gradual_session ||
                           out.kind == Kind::gradual_random || out.kind == Kind::flexible;
    Reason on = Reason::targeting_match;
    if (percentage_kind && !(pct >= 100)) on = Reason::split;
    else if (out.n_constraints == 0 && (out.kind == Kind::standard || percentage_kind)) on = Reason::static_;
    out.on_reason = static_cast<uint8_t>(on);
    out.extra = static_cast<uint32_t>(c.extras.size());
    c.extras.push_back(std::move(extra));
    c.units[at].strategy = out;
  }

};

}  // namespace

}  // namespace detail

Snapshot::Snapshot() = default;

Result<Snapshot> Snapshot::compile(Document doc) {
  try {
    return compile_unchecked(std::move(doc));
  } catch (const std::exception& e) {  // std::bad_alloc: the library never lets one escape
    return Error::failure(fmt::format("the flag snapshot could not be compiled: {}", e.what()));
  }
}

Result<Snapshot> Snapshot::compile_unchecked(Document doc) {
  using namespace detail;
  auto c = std::make_shared<Compiled>();
  c->doc = std::move(doc);
  Compiler k{*c, {}};
  for (size_t i = 0; i < c->doc.segments.size(); ++i) {
    const Segment& s = c->doc.segments[i];
    if (!k.segments.emplace(s.id, &s).second)
      return Error::usage(fmt::format("segment id {} appears twice in the document", s.id))
          .with_object(fmt::format("segments[{}]", i))
          .with_next("give every segment its own id");
  }
  for (size_t i = 0; i < c->doc.features.size(); ++i) {
    const Feature& f = c->doc.features[i];
    if (f.name.empty())
      return Error::usage("a feature has an empty name").with_object(fmt::format("features[{}]", i))
          .with_next("name every feature");
    if (!c->index.insert(f.name, static_cast<int32_t>(i)))
      return Error::usage(fmt::format("feature \"{}\" appears twice in the document", f.name))
          .with_object(fmt::format("features[{}]", i))
          .with_next("keep one definition per feature name");
  }
  c->flags.reserve(c->doc.features.size());
  for (size_t i = 0; i < c->doc.features.size(); ++i) {
    const Feature& f = c->doc.features[i];
    CFlag flag;
    flag.def = &f;
    flag.unit = static_cast<uint32_t>(c->units.size());
    c->units.emplace_back();
    CHead head;
    head.enabled = f.enabled;
    head.has_deps = !f.dependencies.empty();
    head.n_strategies = static_cast<uint32_t>(f.strategies.size());
    head.flag = static_cast<uint32_t>(i);
    c->units.back().head = head;
    for (size_t s = 0; s < f.strategies.size(); ++s) k.strategy(f, f.strategies[s], i, s);
    flag.variants = k.variants(f.variants, f.name, f.variants.empty() ? std::string_view() : f.variants.front().stickiness);
    for (const auto& d : f.dependencies) {
      CDependency cd;
      cd.parent = c->index.find(d.feature);
      cd.want_enabled = d.enabled.value_or(true);
      if (d.variants) cd.variants = *d.variants;
      if (cd.parent < 0) k.warn(i, fmt::format("depends on \"{}\" which does not exist: off", d.feature));
      else if (!c->doc.features[static_cast<size_t>(cd.parent)].dependencies.empty())
        k.warn(i, fmt::format("depends on \"{}\" which has dependencies itself (Unleash allows one level): off", d.feature));
      flag.deps.push_back(std::move(cd));
    }
    c->flags.push_back(std::move(flag));
  }
  // Evaluation finds a flag's head unit by name; the index held flag positions until now
  // (units did not exist while dependencies were resolved).
  NameIndex heads;
  for (const CFlag& f : c->flags) heads.insert(f.def->name, static_cast<int32_t>(f.unit));
  c->index = std::move(heads);
  Snapshot s;
  s.c_ = std::move(c);
  return s;
}

const Document& Snapshot::document() const {
  static const Document empty;
  return c_ ? c_->doc : empty;
}

size_t Snapshot::size() const { return c_ ? c_->flags.size() : 0; }

bool Snapshot::contains(std::string_view name) const { return c_ && c_->index.find(name) >= 0; }

const std::vector<std::string>& Snapshot::warnings() const {
  static const std::vector<std::string> none;
  return c_ ? c_->warnings : none;
}

}  // namespace belay::flags
