// The in-database evaluator (src/flagstore/eval.sql and eval/, belay.flag_evaluate) against
// the C++ one (src/flags/): MurmurHash3 and buckets, Unleash's published client
// specification, a generated corpus of every strategy, operator and variant rule over
// generated contexts (compared as JSON, result for result), and malformed contexts and
// definitions.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <random>
#include <set>
#include <sstream>

#include "flags/flags.h"
#include "flagstore/sql_text.h"
#include "support.h"
#include "unleash_spec.h"

using nlohmann::json;
namespace flags = belay::flags;
using belay::test::read_spec;
using belay::test::state_document;

namespace {

// The SQL evaluator's static error texts (eval.sql's header).
constexpr const char* kInvalidContext = "the context must be a JSON object of strings, numbers and booleans";
constexpr const char* kParseError = "the flag's definition is not in Unleash's client features form";

// applicationHostname: the host name C++ reads, given to SQL as belay.hostname.
std::string cpp_host_name() {
  std::string h;
  if (const char* env = std::getenv("HOSTNAME"); env && *env) h = env;
  else {
    char buf[256] = {};
    if (gethostname(buf, sizeof buf - 1) == 0) h = buf;
  }
  for (char& c : h) if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return h.empty() ? "undefined" : h;
}

class FlagsSql : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    db_ = new belay::test::TestDb();
    auto c = belay::pg::Conn::open(db_->url(), "flags-sql-test");
    ASSERT_TRUE(c.ok()) << c.error().render();
    conn_ = new belay::pg::Conn(std::move(*c));
    auto st = conn_->exec(std::string(belay::flagstore::detail::eval_sql()));
    ASSERT_TRUE(st.ok()) << st.error().render();
    st = conn_->exec(std::string(belay::flagstore::detail::eval_sql()));  // idempotent
    ASSERT_TRUE(st.ok()) << st.error().render();
    auto r = conn_->query("select set_config('belay.hostname', $1, false)", {cpp_host_name()});
    ASSERT_TRUE(r.ok()) << r.error().render();
  }
  static void TearDownTestSuite() {
    delete conn_;
    delete db_;
    conn_ = nullptr;
    db_ = nullptr;
  }

  // One query: the first column of every row, in order.
  static std::vector<std::string> column(const std::string& sql, const std::vector<std::optional<std::string>>& params) {
    std::vector<std::string> out;
    if (!conn_) {
      ADD_FAILURE() << "no database (see the suite's set-up failure)";
      return out;
    }
    auto r = conn_->query(sql, params);
    EXPECT_TRUE(r.ok()) << r.error().render();
    if (!r.ok()) return out;
    for (int i = 0; i < r->size(); ++i) out.push_back(r->get(i, 0));
    return out;
  }

  // belay.flag_evaluate over every (name, context), in one query.
  static std::vector<json> sql_eval(const json& features, const json& segments,
                                    const std::vector<std::pair<std::string, json>>& cases) {
    json pairs = json::array();
    for (const auto& [name, ctx] : cases) pairs.push_back(json::array({name, ctx}));
    auto rows = column("select belay.flag_evaluate($1::jsonb, $2::jsonb, x ->> 0, x -> 1)::text "
                       "from jsonb_array_elements($3::jsonb) with ordinality t(x, i) order by i",
                       {features.dump(), segments.dump(), pairs.dump()});
    std::vector<json> out;
    for (const auto& r : rows) out.push_back(json::parse(r));
    return out;
  }

  static belay::test::TestDb* db_;
  static belay::pg::Conn* conn_;
};

belay::test::TestDb* FlagsSql::db_ = nullptr;
belay::pg::Conn* FlagsSql::conn_ = nullptr;

// What C++ answers for a context given as JSON (INVALID_CONTEXT where it cannot be read).
json cpp_eval(const flags::Snapshot& s, const std::string& name, const json& ctx) {
  auto c = flags::context_from_json(ctx);
  if (!c.ok()) return flags::to_json(flags::error_evaluation(flags::ErrorCode::invalid_context, kInvalidContext));
  return flags::to_json(flags::variant(s, name, *c));
}

// A client features document as flag_evaluate's two arguments.
json features_object(const json& doc) {
  json o = json::object();
  for (const auto& f : doc.value("features", json::array())) o[f["name"].get<std::string>()] = f;
  return o;
}
json segments_object(const json& doc) {
  json o = json::object();
  for (const auto& s : doc.value("segments", json::array())) o[s["id"].dump()] = s;
  return o;
}

std::string hex(std::string_view bytes) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) { out += d[c >> 4]; out += d[c & 15]; }
  return out;
}

// ---- MurmurHash3 ------------------------------------------------------------------------

TEST_F(FlagsSql, Murmur3PublishedVectors) {
  struct V { std::string in; uint32_t seed, want; };
  const std::vector<V> vectors = {
      {"", 0, 0}, {"", 1, 0x514E28B7}, {"", 0xffffffff, 0x81F16F39},
      {"hello", 0, 0x248BFA47}, {"The quick brown fox jumps over the lazy dog", 0, 0x2E4FF723},
      {std::string("\0\0\0\0", 4), 0, 0x2362F9DE}, {"\xff\xff\xff\xff", 0, 0x76293B50},
      {"\x21\x43\x65\x87", 0, 0xF55B516B}, {"\x21\x43\x65\x87", 0x5082EDEE, 0x2362F9DE},
      {"\x21\x43\x65", 0, 0x7E4A8634}, {"\x21\x43", 0, 0xA0F7B07A}, {"\x21", 0, 0x72661CF4},
      {"Hello, world!", 0x9747b28c, 0x24884CBA}, {"aaaa", 0x9747b28c, 0x5A97808A},
      {"abc", 0x9747b28c, 0xC84A62DD}, {"ab", 0x9747b28c, 0x74875592}, {"a", 0x9747b28c, 0x7FA09EA6},
      {"\xcf\x80\xcf\x80\xcf\x80\xcf\x80\xcf\x80\xcf\x80\xcf\x80\xcf\x80", 0x9747b28c, 0xD58063C1},  // "ππππππππ"
  };
  json args = json::array();
  for (const auto& v : vectors) args.push_back(json::array({hex(v.in), v.seed}));
  auto got = column("select belay.flag_murmur3(decode(x ->> 0, 'hex'), (x ->> 1)::bigint) "
                    "from jsonb_array_elements($1::jsonb) with ordinality t(x, i) order by i", {args.dump()});
  ASSERT_EQ(got.size(), vectors.size());
  for (size_t i = 0; i < vectors.size(); ++i) {
    EXPECT_EQ(got[i], std::to_string(vectors[i].want)) << hex(vectors[i].in) << " seed " << vectors[i].seed;
    EXPECT_EQ(flags::murmur3_32(vectors[i].in, vectors[i].seed), vectors[i].want);
  }
  // Known Unleash buckets (unleash-client-node's util tests).
  EXPECT_EQ(column("select belay.flag_bucket('gr1', '123', 0, 100)", {}), std::vector<std::string>{"73"});
  EXPECT_EQ(column("select belay.flag_bucket('groupX', '999', 0, 100)", {}), std::vector<std::string>{"25"});
  EXPECT_EQ(column("select belay.flag_bucket('g', 'u', 86028157, 0)", {}), std::vector<std::string>{"0"});
}

// Random UTF-8 text (ASCII, Latin, Greek, CJK, emoji; never NUL, which PostgreSQL text refuses).
std::string random_text(std::mt19937& rng, size_t max_len) {
  static const std::vector<std::string> pieces = {"a", "Z", "0", ":", " ", "-", "é", "ß", "π", "日", "本", "😀", "\t", "~"};
  std::string s;
  size_t n = rng() % (max_len + 1);
  for (size_t i = 0; i < n; ++i) {
    if (rng() % 3 == 0) s += pieces[rng() % pieces.size()];
    else s += static_cast<char>(0x20 + rng() % 95);
  }
  return s;
}

TEST_F(FlagsSql, BucketsMatchCppOnGeneratedStrings) {
  std::mt19937 rng(20261121);
  json args = json::array();
  struct Case { std::string group, value; uint32_t seed; int total; };
  std::vector<Case> cases;
  for (int i = 0; i < 4000; ++i) {
    Case c{random_text(rng, 12), random_text(rng, 40), static_cast<uint32_t>(rng()), 1 + static_cast<int>(rng() % 5000)};
    args.push_back(json::array({c.group, c.value, c.seed, c.total}));
    cases.push_back(std::move(c));
  }
  auto got = column(
      "select concat_ws(' ', belay.flag_murmur3(convert_to(x ->> 1, 'UTF8'), (x ->> 2)::bigint), "
      "belay.flag_bucket(x ->> 0, x ->> 1, 0, 100), belay.flag_bucket(x ->> 0, x ->> 1, 86028157, (x ->> 3)::int)) "
      "from jsonb_array_elements($1::jsonb) with ordinality t(x, i) order by i",
      {args.dump()});
  ASSERT_EQ(got.size(), cases.size());
  int bad = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    std::string want = std::to_string(flags::murmur3_32(c.value, c.seed)) + " " +
                       std::to_string(flags::strategy_bucket(c.group, c.value)) + " " +
                       std::to_string(flags::variant_bucket(c.group, c.value, c.total));
    if (got[i] != want && ++bad <= 10) ADD_FAILURE() << "group \"" << c.group << "\" value \"" << c.value << "\": SQL " << got[i] << ", C++ " << want;
  }
  EXPECT_EQ(bad, 0);
}

// ---- Unleash's client specification ----------------------------------------------------------

TEST_F(FlagsSql, EveryPublishedSpecCaseAgrees) {
  int files = 0, tests = 0, variant_tests = 0;
  for (const auto& file : read_spec("index.json")) {
    SCOPED_TRACE(file.get<std::string>());
    json spec = read_spec(file.get<std::string>());
    json doc = state_document(spec["state"]);
    auto snap = flags::parse_client_features(doc.dump());
    ASSERT_TRUE(snap.ok()) << snap.error().render();
    ++files;
    std::vector<std::pair<std::string, json>> cases;
    std::vector<json> expected;
    std::vector<bool> is_variant;
    for (const auto& t : spec.value("tests", json::array())) {
      cases.emplace_back(t["toggleName"].get<std::string>(), t["context"]);
      expected.push_back(t);
      is_variant.push_back(false);
    }
    for (const auto& t : spec.value("variantTests", json::array())) {
      cases.emplace_back(t["toggleName"].get<std::string>(), t["context"]);
      expected.push_back(t);
      is_variant.push_back(true);
    }
    auto got = sql_eval(features_object(doc), segments_object(doc), cases);
    ASSERT_EQ(got.size(), cases.size());
    for (size_t i = 0; i < cases.size(); ++i) {
      SCOPED_TRACE(expected[i]["description"].get<std::string>());
      const json& g = got[i];
      const json& want = expected[i]["expectedResult"];
      if (!is_variant[i]) {
        EXPECT_EQ(g["enabled"], want) << g.dump();
        ++tests;
      } else {
        EXPECT_EQ(g["variant"]["name"], want["name"]) << g.dump();
        EXPECT_EQ(g["variant"]["enabled"], want["enabled"]) << g.dump();
        if (want.contains("feature_enabled")) {
          EXPECT_EQ(g["variant"]["feature_enabled"], want["feature_enabled"]);
        }
        if (want.contains("payload")) {
          EXPECT_EQ(g["variant"]["payload"], want["payload"]) << g.dump();
        } else {
          EXPECT_FALSE(g["variant"].contains("payload")) << g.dump();
        }
        ++variant_tests;
      }
      // And the answer is C++'s: all of it for variant cases; enabled and reason for the
      // others (some of their contexts leave a flag's variant to chance, e.g. no userId).
      json cpp = cpp_eval(*snap, cases[i].first, cases[i].second);
      if (is_variant[i]) {
        EXPECT_EQ(g, cpp) << cases[i].second.dump();
      } else {
        EXPECT_EQ(g["enabled"], cpp["enabled"]) << cases[i].second.dump();
        EXPECT_EQ(g["reason"], cpp["reason"]) << cases[i].second.dump();
      }
    }
  }
  // The same counts flags_spec_test guards: a suite that silently ran nothing fails.
  EXPECT_EQ(files, 22);
  EXPECT_GT(tests, 200);
  EXPECT_GT(variant_tests, 50);
}

// ---- A generated corpus ---------------------------------------------------------------------

// Deterministic choices from one seeded generator (rng() % n: the same on every platform).
struct Gen {
  std::mt19937 rng{424242};
  size_t n(size_t k) { return rng() % k; }
  bool p(int percent) { return static_cast<int>(rng() % 100) < percent; }
  template <typename T> const T& pick(const std::vector<T>& v) { return v[n(v.size())]; }
};

// Names constraints, stickiness and overrides read: standard fields and properties.
const std::vector<std::string> kNames = {"userId", "sessionId", "remoteAddress", "environment", "appName",
                                         "currentTime", "tenant", "plan", "version", "email", "n", "ip",
                                         "region", "beta", "ü-name", "missing"};

// Values that exercise each operator's parsing, shared by contexts and constraints.
const std::vector<std::string> kValues = {
    "a", "A", "abc", "ABC", "Pro", "pro", " pro ", "", " ", "ü", "Ü", "über", "ÜBER", "日本", "x@y.com", "X@Y.COM",
    "u1", "u2", "u3", "s1", "s2", "prod", "dev", "web", "ios",
    "1", "1.5", "-3", "0", "-0", "0x10", "0b11", "1e3", " 7 ", "Infinity", "-Infinity", "abc1", "1e400", "1e-400", ".5",
    "2005-01-01T00:00:00Z", "2010-06-15", "2019-12-31T23:59:59.999+02:00", "2095-01-01T00:00:00Z",
    "2021-02-29", "2015-03-01T10:00", "2012-01-01t00:00:00z", "2000-01-01 12:00:00-0130", "2017-13-01",
    "1.2.3", "1.2.3-alpha", "1.2.3-alpha.10", "1.2.3-alpha.2", "1.2.3-beta", "v1.0.0", "2.0.0+build.1",
    "01.2.3", "1.2", "1.2.3-01", "10.0.0", " 1.2.3 ", "1.2.3-rc.1+b",
    "10.1.2.3", "10.0.0.0/8", "192.168.1.1", "192.168.1.0/24", "::ffff:10.1.1.1", "2001:db8::1",
    "2001:db8::/32", "fe80::1", "fe80:0::1", "::1", "300.1.1.1", "1.2.3.4/33", "010.1.1.1", "::ffff:0:0/96",
    "^a", "b$", "a.c", "[0-9]+", "(pro|dev)", "x{2,}", "^$"};

const std::vector<std::string> kOps = {"IN", "NOT_IN", "STR_CONTAINS", "STR_STARTS_WITH", "STR_ENDS_WITH",
                                       "NUM_EQ", "NUM_GT", "NUM_GTE", "NUM_LT", "NUM_LTE", "DATE_AFTER",
                                       "DATE_BEFORE", "SEMVER_EQ", "SEMVER_GT", "SEMVER_GTE", "SEMVER_LT",
                                       "SEMVER_LTE", "REGEX", "IN_CIDR", "NOT_AN_OPERATOR"};

json random_scalar_value(Gen& g) {
  switch (g.n(12)) {
    case 0: return static_cast<int>(g.n(20)) - 5;
    case 1: return 1.5;
    case 2: return g.p(50);
    default: return g.pick(kValues);
  }
}

json random_constraint(Gen& g) {
  const std::string& op = g.pick(kOps);
  json c = {{"contextName", g.pick(kNames)}, {"operator", op}};
  bool single = op.rfind("NUM_", 0) == 0 || op.rfind("DATE_", 0) == 0 || op.rfind("SEMVER_", 0) == 0 || op == "REGEX";
  if (single) {
    if (!g.p(8)) c["value"] = random_scalar_value(g);
    if (g.p(10)) c["values"] = json::array({g.pick(kValues)});  // ignored by single-value operators
  } else {
    json vals = json::array();
    for (size_t i = 0, k = g.n(6); i < k; ++i) vals.push_back(random_scalar_value(g));
    c["values"] = vals;
  }
  if (g.p(30)) c["inverted"] = g.p(70);
  if (g.p(30)) c["caseInsensitive"] = g.p(70);
  // RE2 folds the case of all letters, PostgreSQL's regex (in the test cluster's C locale)
  // only ASCII ones (eval.sql's header): case-insensitive patterns stay in the common subset.
  if (op == "REGEX" && c.value("caseInsensitive", false) && c.contains("value") && c["value"].is_string()) {
    for (unsigned char ch : c["value"].get<std::string>())
      if (ch >= 0x80) c["caseInsensitive"] = false;
  }
  return c;
}

// What makes an evaluation draw a random number, so the corpus can skip those contexts.
struct RandomUse {
  bool no_user_or_session = false;           // flexibleRollout, default stickiness, 0 < rollout < 100
  bool no_user_session_or_address = false;  // variants with default stickiness
  std::set<std::string> empty_field;         // variants sticking to a field
  void merge(const RandomUse& o) {
    no_user_or_session |= o.no_user_or_session;
    no_user_session_or_address |= o.no_user_session_or_address;
    empty_field.insert(o.empty_field.begin(), o.empty_field.end());
  }
};

const std::vector<std::string> kStick = {"", "default", "userId", "sessionId", "tenant", "ü-name", "remoteAddress", "plan"};

// A variant list; `stick_out` is the effective stickiness of its first variant ("" = none given).
json random_variants(Gen& g, bool allow_random_stickiness, std::string& first_stickiness, int& nonzero) {
  json vs = json::array();
  size_t k = 1 + g.n(4);
  nonzero = 0;
  first_stickiness.clear();
  for (size_t i = 0; i < k; ++i) {
    json v = {{"name", "v" + std::to_string(i) + (g.p(10) ? "-ü" : "")}};
    int w = g.p(10) ? 0 : static_cast<int>(g.n(600));
    if (!g.p(5)) v["weight"] = w;
    else w = 0;
    if (w != 0) ++nonzero;
    if (g.p(60)) v["weightType"] = g.p(50) ? "variable" : "fix";
    if (i == 0 && g.p(50)) {
      std::string s = g.pick(kStick);
      if (allow_random_stickiness && g.p(10)) s = "random";
      if (!s.empty()) v["stickiness"] = s;
      first_stickiness = s;
    }
    if (g.p(50)) {
      switch (g.n(4)) {
        case 0: v["payload"] = {{"type", "string"}, {"value", g.pick(kValues)}}; break;
        case 1: v["payload"] = {{"type", "json"}, {"value", "{\"k\": [1, \"ü\"]}"}}; break;
        case 2: v["payload"] = {{"type", "number"}, {"value", "42"}}; break;
        default: v["payload"] = {{"type", "csv"}}; break;
      }
    }
    if (g.p(25)) {
      json ovs = json::array();
      for (size_t j = 0, m = 1 + g.n(2); j < m; ++j) {
        json vals = json::array();
        for (size_t q = 0, r = g.n(4); q < r; ++q) vals.push_back(random_scalar_value(g));
        ovs.push_back({{"contextName", g.pick(kNames)}, {"values", vals}});
      }
      v["overrides"] = ovs;
    }
    vs.push_back(v);
  }
  return vs;
}

// Records what a variant list's selection would need to avoid random().
void note_variants(RandomUse& use, const std::string& stickiness, int nonzero) {
  if (nonzero < 2) return;  // one weighted variant wins whatever the bucket
  if (stickiness.empty() || stickiness == "default") use.no_user_session_or_address = true;
  else use.empty_field.insert(stickiness);
}

std::string pct_text(Gen& g, bool extremes_only, double& value) {
  static const std::vector<std::string> extremes = {"0", "100", "150", "-5", "abc"};
  static const std::vector<double> extreme_values = {0, 100, 150, -5, NAN};
  if (extremes_only || g.p(15)) {
    size_t i = g.n(extremes.size());
    value = extreme_values[i];
    return extremes[i];
  }
  int v = static_cast<int>(g.n(101));
  value = v;
  if (g.p(10)) { value = v + 0.5; return std::to_string(v) + ".5"; }
  return std::to_string(v);
}

json random_strategy(Gen& g, const std::string& host, int segment_count, RandomUse& use) {
  static const std::vector<std::string> kinds = {"default", "userWithId", "gradualRolloutUserId", "gradualRolloutSessionId",
                                                 "gradualRolloutRandom", "flexibleRollout", "flexibleRollout",
                                                 "remoteAddress", "applicationHostname", "myCustomStrategy"};
  const std::string kind = g.pick(kinds);
  json s = {{"name", kind}};
  json params = json::object();
  double pct = 0;
  std::string stick;
  if (kind == "userWithId") {
    params["userIds"] = g.p(50) ? "u1, u2 ,u3" : (g.p(50) ? "42,u9" : "");
  } else if (kind == "gradualRolloutUserId" || kind == "gradualRolloutSessionId") {
    params["percentage"] = pct_text(g, false, pct);
    if (g.p(60)) params["groupId"] = g.p(50) ? "grp" : "grü";
  } else if (kind == "gradualRolloutRandom") {
    params["percentage"] = pct_text(g, true, pct);
  } else if (kind == "flexibleRollout") {
    stick = g.pick(kStick);
    if (g.p(10)) stick = "random";
    std::string text = pct_text(g, stick == "random", pct);
    if (g.p(15) && text.find_first_not_of("0123456789") == std::string::npos) params["rollout"] = std::stoi(text);
    else params["rollout"] = text;
    if (!stick.empty() || g.p(50)) params["stickiness"] = stick;
    if (g.p(50)) params["groupId"] = g.p(50) ? "grp" : "";
    if ((stick.empty() || stick == "default") && pct > 0 && pct < 100) use.no_user_or_session = true;
  } else if (kind == "remoteAddress") {
    params["IPs"] = g.p(50) ? "10.0.0.0/8, 192.168.1.1,2001:db8::/32, junk" : (g.p(50) ? "fe80::1" : "");
  } else if (kind == "applicationHostname") {
    params["hostNames"] = g.p(50) ? "other, " + host : "not-this-host";
  }
  if (!params.empty() || g.p(50)) s["parameters"] = params;
  json cs = json::array();
  for (size_t i = 0, k = g.n(4); i < k; ++i) cs.push_back(random_constraint(g));
  if (!cs.empty() || g.p(50)) s["constraints"] = cs;
  if (g.p(25)) {
    json ids = json::array();
    for (size_t i = 0, k = 1 + g.n(2); i < k; ++i) ids.push_back(g.p(90) ? static_cast<int>(1 + g.n(segment_count)) : 99);
    s["segments"] = ids;
  }
  if (g.p(8)) s["disabled"] = g.p(80);
  if (g.p(25)) {
    std::string first;
    int nonzero = 0;
    // Random strategy stickiness with unsticky variants would always be random: give them one.
    s["variants"] = random_variants(g, false, first, nonzero);
    std::string eff = first.empty() ? stick : first;
    if (eff == "random") {
      s["variants"][0]["stickiness"] = "userId";
      eff = "userId";
    }
    note_variants(use, eff, nonzero);
  }
  return s;
}

struct Corpus {
  json doc;                                  // {version, features, segments}
  std::vector<RandomUse> random_use;          // per feature, parents included
};

Corpus generate_corpus(Gen& g, int flag_count, const std::string& host) {
  Corpus c;
  const int segment_count = 8;
  json segments = json::array();
  for (int i = 1; i <= segment_count; ++i) {
    json cs = json::array();
    for (size_t k = 0, m = g.n(3); k < m; ++k) cs.push_back(random_constraint(g));
    json s = {{"id", i}, {"constraints", cs}};
    if (g.p(50)) s["name"] = "segment " + std::to_string(i);
    segments.push_back(s);
  }
  json features = json::array();
  std::vector<std::string> names;
  for (int i = 0; i < flag_count; ++i) {
    std::string name = (g.p(10) ? "flag-ü-" : "f") + std::to_string(i);
    RandomUse use;
    json f = {{"name", name}, {"enabled", !g.p(12)}};
    if (g.p(20)) f["type"] = "release";
    json strategies = json::array();
    for (size_t k = 0, m = g.n(4); k < m; ++k) strategies.push_back(random_strategy(g, host, segment_count, use));
    if (!strategies.empty() || g.p(50)) f["strategies"] = strategies;
    if (g.p(40)) {
      std::string first;
      int nonzero = 0;
      f["variants"] = random_variants(g, true, first, nonzero);
      if (first == "random" && nonzero >= 2) {
        f["variants"][0]["stickiness"] = "tenant";
        first = "tenant";
      }
      note_variants(use, first, nonzero);
    }
    if (g.p(18) && !names.empty()) {
      json deps = json::array();
      for (size_t k = 0, m = 1 + g.n(2); k < m; ++k) {
        size_t parent = g.n(names.size() + 1);
        json d = {{"feature", parent == names.size() ? std::string("ghost") : names[parent]}};
        if (parent < names.size()) use.merge(c.random_use[parent]);
        if (g.p(30)) d["enabled"] = g.p(40);
        if (g.p(30)) d["variants"] = g.p(70) ? json::array({"v0", "v1"}) : json::array();
        deps.push_back(d);
      }
      f["dependencies"] = deps;
    }
    names.push_back(name);
    c.random_use.push_back(use);
    features.push_back(f);
  }
  c.doc = {{"version", 2}, {"features", features}, {"segments", segments}};
  return c;
}

json random_context(Gen& g) {
  if (g.p(3)) {  // not a context at all
    static const std::vector<json> bad = {json::array(), "x", 1, nullptr, {{"userId", json::object()}},
                                          {{"properties", json::array()}}, {{"properties", {{"a", json::array({1})}}}}};
    return g.pick(bad);
  }
  json c = json::object();
  auto value = [&]() -> json {
    if (g.p(8)) return "";
    if (g.p(8)) return static_cast<int>(g.n(100));
    if (g.p(5)) return g.p(50);
    if (g.p(3)) return 2.5;
    if (g.p(3)) return nullptr;
    if (g.p(40)) return g.pick(kValues);
    return "u" + std::to_string(g.n(500));
  };
  for (const char* f : {"userId", "sessionId", "remoteAddress", "environment", "appName", "currentTime"})
    if (g.p(55)) c[f] = value();
  if (c.contains("currentTime") && g.p(70)) c["currentTime"] = g.pick(kValues);
  if (c.contains("remoteAddress") && g.p(60)) c["remoteAddress"] = g.pick(kValues);
  json props = json::object();
  for (size_t i = 0, k = g.n(5); i < k; ++i) props[g.pick(kNames)] = value();
  if (!props.empty() || g.p(30)) c["properties"] = props;
  if (g.p(15)) c[g.pick(kNames) == "userId" ? "tenant" : g.pick(kNames)] = value();  // top-level keys are properties
  return c;
}

// Whether evaluating with this context could draw a random number (see RandomUse).
bool draws_random(const RandomUse& use, const flags::Context& c) {
  if (use.no_user_or_session && c.user_id.empty() && c.session_id.empty()) return true;
  if (use.no_user_session_or_address && c.user_id.empty() && c.session_id.empty() && c.remote_address.empty()) return true;
  for (const auto& f : use.empty_field) {
    std::string v = f == "userId" ? c.user_id : f == "sessionId" ? c.session_id : f == "remoteAddress" ? c.remote_address
                  : f == "environment" ? c.environment : f == "appName" ? c.app_name : f == "currentTime" ? c.current_time : "";
    if (v.empty()) {
      auto it = c.properties.find(f);
      if (it != c.properties.end()) v = it->second;
    }
    if (v.empty()) return true;
  }
  return false;
}

TEST_F(FlagsSql, GeneratedCorpusAgreesWithCpp) {
  Gen g;
  const std::string host = cpp_host_name();
  Corpus corpus = generate_corpus(g, 240, host);  // within belay.flag_bad's memo of 256
  auto snap = flags::parse_client_features(corpus.doc.dump());
  ASSERT_TRUE(snap.ok()) << snap.error().render();
  const json& features = corpus.doc["features"];

  std::vector<json> contexts;
  for (int i = 0; i < 400; ++i) contexts.push_back(random_context(g));

  std::vector<std::pair<std::string, json>> cases;
  std::vector<json> want;
  int skipped_random = 0;
  std::map<std::string, int> reasons;
  while (cases.size() < 24000) {
    size_t fi = g.n(features.size() + 5);
    const json& ctx = contexts[g.n(contexts.size())];
    std::string name = fi < features.size() ? features[fi]["name"].get<std::string>() : "no-such-flag-" + std::to_string(fi);
    if (fi < features.size()) {
      auto c = flags::context_from_json(ctx);
      if (c.ok() && draws_random(corpus.random_use[fi], *c)) {
        ++skipped_random;
        continue;
      }
    }
    want.push_back(cpp_eval(*snap, name, ctx));
    reasons[want.back()["reason"].get<std::string>()]++;
    cases.emplace_back(std::move(name), ctx);
  }
  auto got = sql_eval(features_object(corpus.doc), segments_object(corpus.doc), cases);
  ASSERT_EQ(got.size(), cases.size());
  int mismatches = 0;
  std::map<std::string, json> by_name;
  for (const auto& f : features) by_name[f["name"].get<std::string>()] = f;
  for (size_t i = 0; i < cases.size(); ++i) {
    if (got[i] == want[i]) continue;
    if (++mismatches <= 10) {
      ADD_FAILURE() << "flag " << (by_name.count(cases[i].first) ? by_name[cases[i].first].dump() : cases[i].first)
                    << "\ncontext " << cases[i].second.dump() << "\nSQL " << got[i].dump() << "\nC++ " << want[i].dump();
    }
  }
  EXPECT_EQ(mismatches, 0) << "of " << cases.size();
  // The corpus reaches every outcome (a generator that drifted into "all off" fails here).
  for (const char* r : {"STATIC", "DEFAULT", "TARGETING_MATCH", "SPLIT", "DISABLED", "ERROR"})
    EXPECT_GT(reasons[r], 200) << r;
  std::printf("corpus: %zu evaluations compared (%d skipped as random), reasons:", cases.size(), skipped_random);
  for (const auto& [r, n] : reasons) std::printf(" %s=%d", r.c_str(), n);
  std::printf("\n");
}

// ---- Malformed input ------------------------------------------------------------------------

// flag_context gives the C++ model's context, field for field (numbers as C++ prints them).
TEST_F(FlagsSql, ContextsReadAsCppReadsThem) {
  const std::vector<std::string> texts = {
      R"({})", R"({"userId": 42, "sessionId": null, "remoteAddress": "10.0.0.1", "tenant": "acme",
          "properties": {"plan": "pro", "seats": 12.0, "beta": true, "gone": null, "tenant": "explicit"}})",
      R"({"userId": 1.5, "appName": -0.0, "environment": 12345678901234567, "currentTime": 1e-7,
          "properties": {"a": 0.1, "b": 123456.789, "c": 1e20, "d": -2.5e-5, "e": 0.0001, "f": 9007199254740993,
                         "g": 18446744073709551615, "h": -9223372036854775808, "i": 1e15, "j": 123456789012345.6}})",
      R"({"properties": null, "userId": false, "x": "ü", "userId2": ""})",
      R"({"properties": {"userId": "shadow"}, "userId": ""})",
      R"([])", R"("x")", R"(1)", R"(null)", R"({"userId": {}})", R"({"userId": [1]})", R"({"properties": []})",
      R"({"properties": "x"})", R"({"properties": {"a": [1]}})", R"({"properties": {"a": {}}})", R"({"tenant": {"a": 1}})"};
  json args = json::array();
  for (const auto& t : texts) args.push_back(json::parse(t));
  auto got = column("select coalesce(belay.flag_context(x)::text, 'null') from jsonb_array_elements($1::jsonb) "
                    "with ordinality t(x, i) order by i", {args.dump()});
  ASSERT_EQ(got.size(), texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    auto c = flags::context_from_json(json::parse(texts[i]));
    json want = nullptr;
    if (c.ok()) {
      json props = json::object();
      for (const auto& [k, v] : c->properties) props[k] = v;
      want = {{"userId", c->user_id}, {"sessionId", c->session_id}, {"remoteAddress", c->remote_address},
              {"environment", c->environment}, {"appName", c->app_name}, {"currentTime", c->current_time},
              {"properties", props}};
    }
    EXPECT_EQ(json::parse(got[i]), want) << texts[i];
  }
}

// Every node of a definition replaced by a value of another type, or removed: C++ refuses
// the document exactly where SQL answers PARSE_ERROR; elsewhere the answers are equal.
TEST_F(FlagsSql, MutatedDefinitionsAgreeOrFailCleanly) {
  const json base_feature = json::parse(R"({"name": "f", "enabled": true, "description": "d", "type": "release",
    "strategies": [
      {"name": "flexibleRollout", "parameters": {"rollout": "100", "stickiness": "x", "groupId": "g"},
       "constraints": [{"contextName": "userId", "operator": "IN", "values": ["u1", "u2"], "inverted": false,
                        "caseInsensitive": true},
                       {"contextName": "n", "operator": "NUM_GT", "value": "1"}],
       "segments": [1],
       "variants": [{"name": "sv", "weight": 1000, "stickiness": "x", "payload": {"type": "string", "value": "p"},
                     "overrides": [{"contextName": "userId", "values": ["u1"]}]}]},
      {"name": "default", "title": "t", "disabled": false}],
    "variants": [{"name": "a", "weight": 500, "weightType": "variable", "payload": {"type": "json", "value": "{}"}},
                 {"name": "b", "weight": 500, "stickiness": "x"}],
    "dependencies": [{"feature": "g", "enabled": true, "variants": ["gv"]}]})");
  const json base_parent = json::parse(R"({"name": "g", "enabled": true,
    "strategies": [{"name": "default", "constraints": [{"contextName": "x", "operator": "STR_CONTAINS", "values": ["x"]}]}],
    "variants": [{"name": "gv", "weight": 1, "payload": {"type": "string", "value": "q"}}]})");
  const json base_segment = json::parse(R"({"id": 1, "name": "s",
    "constraints": [{"contextName": "x", "operator": "REGEX", "value": "^x", "caseInsensitive": false}]})");
  const json ctx = json::parse(R"({"userId": "u1", "sessionId": "s1", "remoteAddress": "10.0.0.1",
    "properties": {"x": "xv", "n": "5"}})");
  const std::vector<json> replacements = {nullptr, 1, 1.5, "x", true, json::array(), json::object(),
                                          json::array({1}), json::object({{"a", json::array({1, 2.5, "\n"})}}), -1, 2000000};

  // Every path (as JSON pointers) inside a value.
  std::function<void(const json&, const json::json_pointer&, std::vector<json::json_pointer>&)> paths =
      [&](const json& j, const json::json_pointer& at, std::vector<json::json_pointer>& out) {
        if (j.is_object()) for (auto it = j.begin(); it != j.end(); ++it) { out.push_back(at / it.key()); paths(*it, at / it.key(), out); }
        if (j.is_array()) for (size_t i = 0; i < j.size(); ++i) { out.push_back(at / i); paths(j[i], at / i, out); }
      };

  int refused = 0, accepted = 0;
  std::vector<std::pair<std::string, json>> cases;
  std::vector<json> want, features_list, segments_list;
  for (int target = 0; target < 3; ++target) {
    const json& base = target == 0 ? base_feature : target == 1 ? base_parent : base_segment;
    std::vector<json::json_pointer> all;
    paths(base, json::json_pointer(), all);
    for (const auto& p : all) {
      for (size_t r = 0; r <= replacements.size(); ++r) {
        json m = base;
        if (r == replacements.size()) {
          json& parent = m.at(p.parent_pointer());
          if (parent.is_object()) parent.erase(p.back());
          else parent.erase(static_cast<size_t>(std::stoul(p.back())));
        } else {
          // A flag's name is its key in flag_evaluate's object: only a non-string breaks it.
          if (target < 2 && p.to_string() == "/name" && replacements[r].is_string()) continue;
          m.at(p) = replacements[r];
        }
        json f = target == 0 ? m : base_feature, gp = target == 1 ? m : base_parent, s = target == 2 ? m : base_segment;
        json doc = {{"version", 2}, {"features", {f, gp}}, {"segments", {s}}};
        auto snap = flags::parse_client_features(doc.dump());
        if (snap.ok()) {
          ++accepted;
          want.push_back(cpp_eval(*snap, "f", ctx));
        } else {
          ++refused;
          want.push_back(flags::to_json(flags::error_evaluation(flags::ErrorCode::parse_error, kParseError)));
        }
        features_list.push_back({{"f", f}, {"g", gp}});
        // Keyed by its id, or as the segment strategy 0 names when the id is no integer
        // (SQL checks the segments a strategy names, C++ all of them).
        bool integral_id = s.is_object() && s.contains("id") && s["id"].is_number_integer();
        segments_list.push_back({{integral_id ? s["id"].dump() : std::string("1"), s}});
        cases.emplace_back("f", ctx);
      }
    }
  }
  // One query: each case carries its own definitions.
  json args = json::array();
  for (size_t i = 0; i < cases.size(); ++i) args.push_back(json::array({features_list[i], segments_list[i]}));
  auto rows = column("select belay.flag_evaluate(x -> 0, x -> 1, 'f', $2::jsonb)::text "
                     "from jsonb_array_elements($1::jsonb) with ordinality t(x, i) order by i",
                     {args.dump(), ctx.dump()});
  ASSERT_EQ(rows.size(), cases.size());
  int bad = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    json got = json::parse(rows[i]);
    if (got != want[i] && ++bad <= 10)
      ADD_FAILURE() << "features " << features_list[i].dump() << "\nsegments " << segments_list[i].dump()
                    << "\nSQL " << got.dump() << "\nC++ " << want[i].dump();
  }
  EXPECT_EQ(bad, 0) << "of " << rows.size();
  EXPECT_GT(refused, 100);
  EXPECT_GT(accepted, 100);

  // Arguments that are not objects at all.
  auto odd = column("select concat_ws(' ', belay.flag_evaluate('[]', null, 'f', '{}') ->> 'errorCode', "
                    "belay.flag_evaluate(null, null, 'f', null) ->> 'errorCode', "
                    "belay.flag_evaluate('{\"f\": {\"name\": \"f\", \"enabled\": true}}', '[]', 'f', '{}') ->> 'errorCode', "
                    "belay.flag_evaluate('{\"f\": {\"name\": \"f\", \"enabled\": true}}', null, null, '{}') ->> 'errorCode', "
                    "belay.flag_evaluate('{\"f\": null}', null, 'f', '{}') ->> 'errorCode', "
                    "belay.flag_evaluate('{\"f\": {\"name\": \"f\", \"enabled\": true}}', null, 'f', null) ->> 'reason')", {});
  EXPECT_EQ(odd, std::vector<std::string>{"FLAG_NOT_FOUND FLAG_NOT_FOUND PARSE_ERROR FLAG_NOT_FOUND PARSE_ERROR STATIC"});
}

}  // namespace
