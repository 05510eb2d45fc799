// belay flags, beyond the published Unleash suite (flags_spec_test): MurmurHash3 against
// published vectors and known Unleash buckets, each operator's edges, strategies the suite
// does not reach (IPv6 networks, hostnames, random), reasons, variants, malformed
// documents and contexts.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <random>

#include "flags/flags.h"

using nlohmann::json;
namespace flags = belay::flags;

namespace {

flags::Snapshot snapshot(const json& features, const json& segments = json::array()) {
  auto s = flags::parse_client_features(json{{"version", 2}, {"features", features}, {"segments", segments}}.dump());
  EXPECT_TRUE(s.ok()) << s.error().render();
  return s.ok() ? *s : flags::Snapshot();
}

// A flag with one default strategy carrying one constraint.
flags::Snapshot with_constraint(const json& constraint) {
  return snapshot(json::array({{{"name", "f"}, {"enabled", true},
                                {"strategies", json::array({{{"name", "default"}, {"constraints", json::array({constraint})}}})}}}));
}

flags::Context props(std::initializer_list<std::pair<const std::string, std::string>> p) {
  flags::Context c;
  for (const auto& [k, v] : p) c.properties[k] = v;
  return c;
}

bool on(const flags::Snapshot& s, const flags::Context& c, const std::string& name = "f") {
  return flags::is_enabled(s, name, c).enabled;
}

// ---- bucketing ----------------------------------------------------------------------------

TEST(FlagsMurmur, PublishedVectors) {
  struct V { std::string in; uint32_t seed, want; };
  const V vectors[] = {
      {"", 0, 0},
      {"", 1, 0x514E28B7},
      {"", 0xffffffff, 0x81F16F39},
      {std::string("\0\0\0\0", 4), 0, 0x2362F9DE},
      {"\xff\xff\xff\xff", 0, 0x76293B50},
      {"\x21\x43\x65\x87", 0, 0xF55B516B},
      {"\x21\x43\x65\x87", 0x5082EDEE, 0x2362F9DE},
      {"\x21\x43\x65", 0, 0x7E4A8634},
      {"\x21\x43", 0, 0xA0F7B07A},
      {"\x21", 0, 0x72661CF4},
      {std::string("\0\0\0", 3), 0, 0x85F0B427},
      {std::string("\0\0", 2), 0, 0x30F4C306},
      {std::string("\0", 1), 0, 0x514E28B7},
      {"Hello, world!", 0x9747b28c, 0x24884CBA},
      {"The quick brown fox jumps over the lazy dog", 0x9747b28c, 0x2FA826CD},
      {"aaaa", 0x9747b28c, 0x5A97808A},
      {"aaa", 0x9747b28c, 0x283E0130},
      {"aa", 0x9747b28c, 0x5D211726},
      {"a", 0x9747b28c, 0x7FA09EA6},
      {"abcd", 0x9747b28c, 0xF0478627},
      {"abc", 0x9747b28c, 0xC84A62DD},
      {"ab", 0x9747b28c, 0x74875592},
  };
  for (const auto& v : vectors) EXPECT_EQ(flags::murmur3_32(v.in, v.seed), v.want) << v.in << " seed " << v.seed;
}

TEST(FlagsMurmur, KnownUnleashBuckets) {
  // unleash-client-node's util tests: normalizedStrategyValue('123', 'gr1') and ('999', 'groupX').
  EXPECT_EQ(flags::strategy_bucket("gr1", "123"), 73u);
  EXPECT_EQ(flags::strategy_bucket("groupX", "999"), 25u);
  // UTF-8 bytes are hashed, so a non-ASCII group differs from its ASCII look-alike.
  EXPECT_EQ(flags::strategy_bucket("grø", "1"), flags::murmur3_32("grø:1", 0) % 100 + 1);
  EXPECT_EQ(flags::variant_bucket("g", "u", 0), 0u);
  EXPECT_EQ(flags::variant_bucket("g", "u", 1000), flags::murmur3_32("g:u", 86028157) % 1000 + 1);
}

// Buckets hash "groupId:" once and join each value to its pending bytes; every split of
// the stream (0-3 bytes pending, values shorter and longer than a block) must hash as the
// whole string does.
TEST(FlagsMurmur, SplitStreamsHashAsOneString) {
  const std::string bytes = "gr\xc3\xb8up-\x01\xff:abcdefghijklmnopq";
  for (size_t g = 0; g <= 9; ++g)
    for (size_t v = 0; v <= 17; ++v) {
      const std::string group = bytes.substr(0, g), value = bytes.substr(bytes.size() - v);
      const std::string whole = group + ":" + value;
      EXPECT_EQ(flags::strategy_bucket(group, value), flags::murmur3_32(whole, 0) % 100 + 1) << g << " " << v;
      EXPECT_EQ(flags::variant_bucket(group, value, 0x7fffffff),
                flags::murmur3_32(whole, flags::kVariantSeed) % 0x7fffffffu + 1) << g << " " << v;
    }
}

TEST(FlagsMurmur, BucketsAreUniformEnough) {
  int in10 = 0;
  for (int i = 0; i < 100000; ++i) in10 += flags::strategy_bucket("grp", std::to_string(i)) <= 10;
  EXPECT_NEAR(in10, 10000, 600);
}

// ---- operators ------------------------------------------------------------------------------

TEST(FlagsOperators, InNotInAndCaseInsensitive) {
  auto in = with_constraint({{"contextName", "appName"}, {"operator", "IN"}, {"values", {"app", "app2-ios-[v1]"}},
                             {"caseInsensitive", true}});
  EXPECT_TRUE(on(in, props({{"appName", "App"}})));
  EXPECT_TRUE(on(in, props({{"appName", "APP2-IOS-[V1]"}})));
  EXPECT_FALSE(on(in, props({{"appName", "ap"}})));
  auto notin = with_constraint({{"contextName", "appName"}, {"operator", "NOT_IN"}, {"values", {"app"}},
                                {"caseInsensitive", true}});
  EXPECT_FALSE(on(notin, props({{"appName", "APP"}})));
  EXPECT_TRUE(on(notin, flags::Context{}));  // absent is "not in"
  auto exact = with_constraint({{"contextName", "appName"}, {"operator", "IN"}, {"values", {"app"}}});
  EXPECT_FALSE(on(exact, props({{"appName", "App"}})));
  // A standard field wins over a property of the same name.
  flags::Context c = props({{"appName", "nope"}});
  c.app_name = "app";
  EXPECT_TRUE(on(exact, c));
  // Many values take the hashed path.
  json many = json::array();
  for (int i = 0; i < 500; ++i) many.push_back("v" + std::to_string(i));
  auto big = with_constraint({{"contextName", "userId"}, {"operator", "IN"}, {"values", many}});
  flags::Context u;
  u.user_id = "v499";
  EXPECT_TRUE(on(big, u));
  u.user_id = "v500";
  EXPECT_FALSE(on(big, u));
  // Case folding of a value longer than the stack buffer.
  auto ci = with_constraint({{"contextName", "k"}, {"operator", "IN"}, {"values", {std::string(1000, 'a')}},
                             {"caseInsensitive", true}});
  EXPECT_TRUE(on(ci, props({{"k", std::string(1000, 'A')}})));
}

TEST(FlagsOperators, Strings) {
  auto sw = with_constraint({{"contextName", "email"}, {"operator", "STR_STARTS_WITH"}, {"values", {"", "ad"}}});
  EXPECT_TRUE(on(sw, props({{"email", "admin@x"}})));
  EXPECT_FALSE(on(sw, props({{"email", "x@admin"}})));  // the empty value matches nothing
  auto ew = with_constraint({{"contextName", "email"}, {"operator", "STR_ENDS_WITH"}, {"values", {"@X.COM"}},
                             {"caseInsensitive", true}, {"inverted", true}});
  EXPECT_FALSE(on(ew, props({{"email", "a@x.com"}})));
  EXPECT_TRUE(on(ew, props({{"email", "a@y.com"}})));
  EXPECT_TRUE(on(ew, flags::Context{}));  // absent: no match, inverted
}

TEST(FlagsOperators, NumbersFollowJavaScript) {
  auto gt = with_constraint({{"contextName", "n"}, {"operator", "NUM_GT"}, {"value", "10"}});
  EXPECT_TRUE(on(gt, props({{"n", "0x10"}})));  // Number("0x10") is 16
  EXPECT_TRUE(on(gt, props({{"n", " 11 "}})));
  EXPECT_TRUE(on(gt, props({{"n", "1e2"}})));
  EXPECT_TRUE(on(gt, props({{"n", "Infinity"}})));
  EXPECT_FALSE(on(gt, props({{"n", "11abc"}})));
  EXPECT_FALSE(on(gt, props({{"n", "-0x20"}})));
  EXPECT_FALSE(on(gt, flags::Context{}));
  auto eq = with_constraint({{"contextName", "n"}, {"operator", "NUM_EQ"}, {"value", "0"}});
  EXPECT_TRUE(on(eq, props({{"n", "-0"}})));
  EXPECT_TRUE(on(eq, props({{"n", ".0"}})));
  auto bad = with_constraint({{"contextName", "n"}, {"operator", "NUM_LT"}, {"value", "ten"}});
  EXPECT_FALSE(on(bad, props({{"n", "1"}})));
  EXPECT_FALSE(bad.warnings().empty());
  // `values` is not read by single-value operators.
  auto vals = with_constraint({{"contextName", "n"}, {"operator", "NUM_EQ"}, {"values", {"5"}}});
  EXPECT_FALSE(on(vals, props({{"n", "5"}})));
}

TEST(FlagsOperators, Dates) {
  auto after = with_constraint({{"contextName", "currentTime"}, {"operator", "DATE_AFTER"}, {"value", "2022-01-29"}});
  flags::Context c;
  c.current_time = "2022-01-29T00:00:00.001Z";
  EXPECT_TRUE(on(after, c));
  c.current_time = "2022-01-29T01:00:00+02:00";  // 2022-01-28T23:00Z
  EXPECT_FALSE(on(after, c));
  c.current_time = "2022-02-30T00:00:00Z";  // no such day
  EXPECT_FALSE(on(after, c));
  c.current_time.clear();  // now, which is after 2022
  EXPECT_TRUE(on(after, c));
  auto before = with_constraint({{"contextName", "currentTime"}, {"operator", "DATE_BEFORE"}, {"value", "2999-01-01T00:00:00Z"}});
  EXPECT_TRUE(on(before, c));
  auto bad = with_constraint({{"contextName", "currentTime"}, {"operator", "DATE_BEFORE"}, {"value", "tomorrow"}});
  EXPECT_FALSE(on(bad, c));
}

TEST(FlagsOperators, SemverIsStrict) {
  auto gt = with_constraint({{"contextName", "version"}, {"operator", "SEMVER_GT"}, {"value", "1.0.0-alpha.2"}});
  EXPECT_TRUE(on(gt, props({{"version", "1.0.0-alpha.10"}})));  // numeric identifiers compare as numbers
  EXPECT_TRUE(on(gt, props({{"version", "1.0.0-alpha.beta"}})));  // alphanumeric outranks numeric
  EXPECT_FALSE(on(gt, props({{"version", "1.0.0-alpha"}})));  // fewer identifiers rank lower
  EXPECT_TRUE(on(gt, props({{"version", "1.0.0"}})));
  EXPECT_FALSE(on(gt, props({{"version", "01.0.0"}})));  // leading zero: invalid
  EXPECT_FALSE(on(gt, props({{"version", "1.0"}})));
  EXPECT_FALSE(on(gt, props({{"version", "v1.0.0"}})));  // the context may not start with "v"
  EXPECT_TRUE(on(gt, props({{"version", " 1.0.0 "}})));  // npm's semver trims
  auto v = with_constraint({{"contextName", "version"}, {"operator", "SEMVER_EQ"}, {"value", "v2.0.0"}});
  EXPECT_TRUE(on(v, props({{"version", "2.0.0"}})));  // the constraint's value may
  auto eq = with_constraint({{"contextName", "version"}, {"operator", "SEMVER_EQ"}, {"value", "1.2.3"}});
  EXPECT_TRUE(on(eq, props({{"version", "1.2.3+build.7"}})));  // build metadata is ignored
  auto lte = with_constraint({{"contextName", "version"}, {"operator", "SEMVER_LTE"}, {"value", "9007199254740991.0.0"}});
  EXPECT_TRUE(on(lte, props({{"version", "9007199254740990.9.9"}})));
  EXPECT_FALSE(on(lte, props({{"version", "9007199254740992.0.0"}})));  // past 2^53-1: invalid
}

TEST(FlagsOperators, RegexIsRe2Syntax) {
  auto re = with_constraint({{"contextName", "userId"}, {"operator", "REGEX"}, {"value", "^u\\d+$"}, {"inverted", true}});
  flags::Context c;
  c.user_id = "u12";
  EXPECT_FALSE(on(re, c));
  c.user_id = "x";
  EXPECT_TRUE(on(re, c));
  auto look = with_constraint({{"contextName", "userId"}, {"operator", "REGEX"}, {"value", "(?=a)a"}});
  c.user_id = "a";
  EXPECT_FALSE(on(look, c));
  ASSERT_EQ(look.warnings().size(), 1u);
  EXPECT_NE(look.warnings()[0].find("not a valid pattern"), std::string::npos);
}

TEST(FlagsOperators, CidrBothFamilies) {
  auto cidr = with_constraint({{"contextName", "remoteAddress"}, {"operator", "IN_CIDR"},
                               {"values", {"10.0.0.0/8", "2001:db8::/32", "nonsense"}}});
  flags::Context c;
  for (const char* yes : {"10.1.2.3", "::ffff:10.9.9.9", "2001:db8:ffff::1"}) {
    c.remote_address = yes;
    EXPECT_TRUE(on(cidr, c)) << yes;
  }
  for (const char* no : {"11.0.0.1", "2001:db9::1", "10.0.0", ""}) {
    c.remote_address = no;
    EXPECT_FALSE(on(cidr, c)) << no;
  }
  EXPECT_EQ(cidr.warnings().size(), 1u);  // "nonsense" is named
}

// Unleash cleans list values (drops empty ones, trims the rest) and reads a property that
// is "" as present: Number("") is 0 and a regex can match "".
TEST(FlagsOperators, CleanedValuesAndEmptyProperties) {
  auto in = with_constraint({{"contextName", "environment"}, {"operator", "IN"}, {"values", {" dev ", ""}}});
  flags::Context c;
  c.environment = "dev";
  EXPECT_TRUE(on(in, c));
  auto zero = with_constraint({{"contextName", "n"}, {"operator", "NUM_EQ"}, {"value", "0"}});
  EXPECT_TRUE(on(zero, props({{"n", ""}})));
  EXPECT_FALSE(on(zero, flags::Context{}));
  auto empty = with_constraint({{"contextName", "n"}, {"operator", "REGEX"}, {"value", "^$"}});
  EXPECT_TRUE(on(empty, props({{"n", ""}})));
  EXPECT_FALSE(on(empty, flags::Context{}));
  // DATE_* read currentTime whatever the contextName.
  auto date = with_constraint({{"contextName", "signupDate"}, {"operator", "DATE_AFTER"}, {"value", "2020-01-01T00:00:00Z"}});
  flags::Context d = props({{"signupDate", "2019-01-01T00:00:00Z"}});
  d.current_time = "2021-01-01T00:00:00Z";
  EXPECT_TRUE(on(date, d));
}

TEST(FlagsOperators, UnknownOperatorFailsEvenInverted) {
  auto s = with_constraint({{"contextName", "x"}, {"operator", "NOPE"}, {"values", {"a"}}, {"inverted", true}});
  EXPECT_FALSE(on(s, props({{"x", "b"}})));
}

// ---- strategies ----------------------------------------------------------------------------

flags::Snapshot one_strategy(const json& strategy, const std::string& name = "f") {
  return snapshot(json::array({{{"name", name}, {"enabled", true}, {"strategies", json::array({strategy})}}}));
}

TEST(FlagsStrategies, RemoteAddressV4AndV6) {
  auto s = one_strategy({{"name", "remoteAddress"}, {"parameters", {{"IPs", "192.168.0.0/24, 2001:db8::/48,fe80::1"}}}});
  flags::Context c;
  for (const char* yes : {"192.168.0.77", "2001:db8:0:5::1", "fe80::1", "fe80:0::1"}) {
    c.remote_address = yes;
    EXPECT_TRUE(on(s, c)) << yes;
  }
  for (const char* no : {"192.168.1.1", "2001:db8:1::1", "", "junk"}) {
    c.remote_address = no;
    EXPECT_FALSE(on(s, c)) << no;
  }
}

TEST(FlagsStrategies, FlexibleRolloutBucketsLikeUnleash) {
  // groupId defaults to the flag name; stickiness on a custom property.
  auto s = one_strategy({{"name", "flexibleRollout"}, {"parameters", {{"rollout", "30"}, {"stickiness", "tenant"}}}}, "checkout");
  int enabled = 0;
  for (int i = 0; i < 1000; ++i) {
    std::string t = "t" + std::to_string(i);
    bool want = flags::strategy_bucket("checkout", t) <= 30;
    EXPECT_EQ(on(s, props({{"tenant", t}}), "checkout"), want) << t;
    enabled += want;
  }
  EXPECT_NEAR(enabled, 300, 60);
  EXPECT_FALSE(on(s, flags::Context{}, "checkout"));  // no tenant: off, not random
  EXPECT_EQ(flags::is_enabled(s, "checkout", props({{"tenant", "t1"}})).reason,
            on(s, props({{"tenant", "t1"}}), "checkout") ? flags::Reason::split : flags::Reason::default_);
}

TEST(FlagsStrategies, RandomRolloutsAreRandom) {
  auto s = one_strategy({{"name", "gradualRolloutRandom"}, {"parameters", {{"percentage", "50"}}}});
  int n = 0;
  for (int i = 0; i < 2000; ++i) n += on(s, flags::Context{});
  EXPECT_GT(n, 800);
  EXPECT_LT(n, 1200);
  auto f = one_strategy({{"name", "flexibleRollout"}, {"parameters", {{"rollout", "50"}, {"stickiness", "random"}}}});
  flags::Context u;
  u.user_id = "same-user";
  n = 0;
  for (int i = 0; i < 2000; ++i) n += on(f, u);
  EXPECT_GT(n, 800);
  EXPECT_LT(n, 1200);
}

TEST(FlagsStrategies, ApplicationHostname) {
  std::string host;
  if (const char* env = std::getenv("HOSTNAME"); env && *env) host = env;
  else {
    char buf[256] = {};
    ASSERT_EQ(gethostname(buf, sizeof buf - 1), 0);
    host = buf;
  }
  for (char& ch : host) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  EXPECT_TRUE(on(one_strategy({{"name", "applicationHostname"}, {"parameters", {{"hostNames", "other, " + host}}}}), {}));
  EXPECT_FALSE(on(one_strategy({{"name", "applicationHostname"}, {"parameters", {{"hostNames", "not-this-host"}}}}), {}));
}

TEST(FlagsStrategies, UnknownAndDisabledStrategiesAreOff) {
  auto s = snapshot(json::array({{{"name", "f"}, {"enabled", true},
                                  {"strategies", {{{"name", "myCustomStrategy"}},
                                                  {{"name", "default"}, {"disabled", true}}}}}}));
  EXPECT_FALSE(on(s, {}));
  ASSERT_EQ(s.warnings().size(), 1u);
  EXPECT_NE(s.warnings()[0].find("myCustomStrategy"), std::string::npos);
}

TEST(FlagsStrategies, NumericParametersAreAccepted) {
  auto s = one_strategy({{"name", "flexibleRollout"}, {"parameters", {{"rollout", 100}, {"groupId", "g"}}}});
  flags::Context c;
  c.user_id = "1";
  EXPECT_TRUE(on(s, c));
  EXPECT_EQ(s.document().features[0].strategies[0].parameters.at("rollout"), "100");
}

// ---- reasons and results ---------------------------------------------------------------------

TEST(FlagsReasons, OpenFeatureReasons) {
  auto s = snapshot(json::array({
      {{"name", "static"}, {"enabled", true}, {"strategies", json::array()}},
      {{"name", "static-default"}, {"enabled", true}, {"strategies", {{{"name", "default"}}}}},
      {{"name", "off"}, {"enabled", false}, {"strategies", {{{"name", "default"}}}}},
      {{"name", "users"}, {"enabled", true}, {"strategies", {{{"name", "userWithId"}, {"parameters", {{"userIds", "a,b"}}}}}}},
      {{"name", "split"}, {"enabled", true},
       {"strategies", {{{"name", "flexibleRollout"}, {"parameters", {{"rollout", "100"}}}}}},
       {"variants", {{{"name", "x"}, {"weight", 500}}, {{"name", "y"}, {"weight", 500}, {"overrides", {{{"contextName", "userId"}, {"values", {"b"}}}}}}}}},
  }));
  flags::Context a;
  a.user_id = "a";
  flags::Context z;
  z.user_id = "z";
  EXPECT_EQ(flags::is_enabled(s, "static", z).reason, flags::Reason::static_);
  EXPECT_EQ(flags::is_enabled(s, "static-default", z).reason, flags::Reason::static_);
  EXPECT_EQ(flags::is_enabled(s, "off", a).reason, flags::Reason::disabled);
  EXPECT_EQ(flags::is_enabled(s, "users", a).reason, flags::Reason::targeting_match);
  EXPECT_EQ(flags::is_enabled(s, "users", z).reason, flags::Reason::default_);
  EXPECT_EQ(flags::variant(s, "split", a).reason, flags::Reason::split);
  flags::Context b;
  b.user_id = "b";
  auto over = flags::variant(s, "split", b);
  EXPECT_EQ(over.reason, flags::Reason::targeting_match);
  EXPECT_EQ(over.variant.name, "y");
  auto missing = flags::is_enabled(s, "nope", a);
  EXPECT_FALSE(missing.enabled);
  EXPECT_EQ(missing.reason, flags::Reason::error);
  EXPECT_EQ(missing.error_code, flags::ErrorCode::flag_not_found);
  EXPECT_EQ(flags::to_json(missing),
            json::parse(R"({"enabled":false,"reason":"ERROR","errorCode":"FLAG_NOT_FOUND",
              "errorMessage":"no flag of that name in the snapshot",
              "variant":{"name":"disabled","enabled":false,"feature_enabled":false}})"));
  EXPECT_EQ(flags::is_enabled(flags::Snapshot(), "x", a).error_code, flags::ErrorCode::flag_not_found);
}

TEST(FlagsVariants, WeightsStickinessAndPayload) {
  auto s = snapshot(json::array({{{"name", "exp"}, {"enabled", true},
      {"variants", {{{"name", "a"}, {"weight", 250}, {"stickiness", "org"}, {"payload", {{"type", "json"}, {"value", "{\"k\":1}"}}}},
                    {{"name", "none"}, {"weight", 0}},
                    {{"name", "b"}, {"weight", 750}, {"stickiness", "org"}}}}}}));
  int a = 0;
  for (int i = 0; i < 2000; ++i) {
    std::string org = "o" + std::to_string(i);
    auto e = flags::variant(s, "exp", props({{"org", org}}));
    ASSERT_TRUE(e.variant.enabled);
    ASSERT_TRUE(e.variant.feature_enabled);
    uint32_t bucket = flags::variant_bucket("exp", org, 1000);
    EXPECT_EQ(e.variant.name, bucket <= 250 ? "a" : "b") << org;
    if (e.variant.name == "a") {
      ++a;
      ASSERT_TRUE(e.variant.payload.has_value());
      EXPECT_EQ(e.variant.payload->type, "json");
      EXPECT_EQ(flags::to_json(e)["variant"]["payload"]["value"], "{\"k\":1}");
    }
  }
  EXPECT_NEAR(a, 500, 80);
}

// ---- documents and contexts ------------------------------------------------------------------

TEST(FlagsParse, MalformedJsonNamesLineAndColumn) {
  auto r = flags::parse_client_features("{\n  \"features\": [\n    {\"name\": \"a\",}\n  ]\n}");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().line, 3);
  EXPECT_GT(r.error().column, 1);
  EXPECT_NE(r.error().message.find("line 3"), std::string::npos) << r.error().message;
  for (const char* text : {"", "{", "[1,2", "nul", "\"x", "{\"features\": [}", "\xff\xfe"})
    EXPECT_FALSE(flags::parse_client_features(text).ok()) << text;
}

TEST(FlagsParse, WrongTypesNameThePath) {
  struct Case { const char* doc; const char* path; };
  const Case cases[] = {
      {R"([])", "$"},
      {R"({"version": 2})", "$"},
      {R"({"features": {}})", "$.features"},
      {R"({"features": [{"enabled": true}]})", "$.features[0]"},
      {R"({"features": [{"name": 7}]})", "$.features[0].name"},
      {R"({"features": [{"name": "a", "enabled": "yes"}]})", "$.features[0].enabled"},
      {R"({"features": [{"name": "a", "strategies": [{"name": "default", "constraints": [{"contextName": "x", "operator": "IN", "values": [{}]}]}]}]})",
       "$.features[0].strategies[0].constraints[0].values[0]"},
      {R"({"features": [{"name": "a", "strategies": [{"name": "default", "parameters": {"rollout": [1]}}]}]})",
       "$.features[0].strategies[0].parameters.rollout"},
      {R"({"features": [{"name": "a", "variants": [{"name": "v", "weight": -1}]}]})", "$.features[0].variants[0].weight"},
      {R"({"features": [{"name": "a", "variants": [{"name": "v", "weight": 1.5}]}]})", "$.features[0].variants[0].weight"},
      {R"({"features": [{"name": "a", "dependencies": [{"enabled": true}]}]})", "$.features[0].dependencies[0]"},
      {R"({"features": [], "segments": [{"constraints": []}]})", "$.segments[0].id"},
      {R"({"features": [{"name": "a", "strategies": [{"name": "default", "segments": ["1"]}]}]})",
       "$.features[0].strategies[0].segments[0]"},
  };
  for (const auto& c : cases) {
    auto r = flags::parse_client_features(c.doc);
    ASSERT_FALSE(r.ok()) << c.doc;
    EXPECT_EQ(r.error().object, c.path) << r.error().render();
    EXPECT_FALSE(r.error().next.empty());
  }
}

TEST(FlagsParse, WeightsAndValuesBuiltInCode) {
  auto heavy = flags::parse_client_features(R"({"features": [{"name": "a", "variants": [
      {"name": "x", "weight": 1000000}, {"name": "y", "weight": 1000000}]}]})");
  EXPECT_TRUE(heavy.ok());
  json many = json::array();
  for (int i = 0; i < 1001; ++i) many.push_back({{"name", "v" + std::to_string(i)}, {"weight", 1000000}});
  auto over = flags::parse_client_features(json{{"features", {{{"name", "a"}, {"variants", many}}}}}.dump());
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().object, "$.features[0].variants");
  // A document built in code with bytes nlohmann refuses to print: an error, not a throw.
  json doc = {{"features", {{{"name", "a"}, {"variants", {{{"name", "v"}, {"weight", 1},
      {"payload", {{"type", "json"}, {"value", {{"k", std::string("\xff")}}}}}}}}}}}};
  auto r = flags::document_from_json(doc);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("could not be read"), std::string::npos) << r.error().message;
}

TEST(FlagsParse, DuplicatesAndEmptyNamesAreRefused) {
  auto dup = flags::parse_client_features(R"({"features": [{"name": "a"}, {"name": "a"}]})");
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().object, "features[1]");
  EXPECT_FALSE(flags::parse_client_features(R"({"features": [{"name": ""}]})").ok());
  EXPECT_FALSE(flags::parse_client_features(R"({"features": [], "segments": [{"id": 1}, {"id": 1}]})").ok());
}

TEST(FlagsParse, NullsAreAbsent) {
  auto r = flags::parse_client_features(R"({"features": [{"name": "a", "enabled": true, "description": null,
      "strategies": [{"name": "default", "parameters": null, "constraints": null, "segments": null, "variants": null}],
      "variants": null, "dependencies": null}], "segments": null})");
  ASSERT_TRUE(r.ok()) << r.error().render();
  EXPECT_TRUE(on(*r, {}, "a"));
}

// Random corruptions of a valid document: each parses or fails cleanly.
TEST(FlagsParse, MutatedDocumentsNeverCrash) {
  const std::string base = json{{"version", 2},
      {"features", {{{"name", "f"}, {"enabled", true},
        {"strategies", {{{"name", "flexibleRollout"}, {"parameters", {{"rollout", "50"}}}, {"segments", {1}},
                         {"constraints", {{{"contextName", "v"}, {"operator", "SEMVER_GT"}, {"value", "1.0.0"}}}},
                         {"variants", {{{"name", "x"}, {"weight", 1}}}}}}},
        {"dependencies", {{{"feature", "g"}, {"variants", {"x"}}}}}}, {{"name", "g"}, {"enabled", true}}}},
      {"segments", {{{"id", 1}, {"constraints", {{{"contextName", "r"}, {"operator", "REGEX"}, {"value", "a+"}}}}}}}}.dump();
  std::mt19937 rng(7);
  int ok = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string doc = base;
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      size_t at = rng() % doc.size();
      switch (rng() % 4) {
        case 0: doc[at] = static_cast<char>(rng() % 256); break;
        case 1: doc.erase(at, 1 + rng() % 8); break;
        case 2: doc.insert(at, 1, "{}[]\",:0-e\\"[rng() % 11]); break;
        default: doc.resize(at); break;
      }
      if (doc.empty()) doc = "x";
    }
    auto r = flags::parse_client_features(doc);
    if (r.ok()) {
      ++ok;
      for (const auto& f : r->document().features) (void)flags::variant(*r, f.name, props({{"v", "2.0.0"}, {"r", "aa"}}));
    } else {
      EXPECT_FALSE(r.error().message.empty());
    }
  }
  EXPECT_GT(ok, 0);  // some mutations stay valid (e.g. inside strings)
}

TEST(FlagsContext, ParsesUnleashContexts) {
  auto c = flags::parse_context(R"({"userId": 42, "sessionId": null, "remoteAddress": "10.0.0.1",
      "environment": "prod", "appName": "web", "currentTime": "2024-01-01T00:00:00Z",
      "tenant": "acme", "properties": {"plan": "pro", "seats": 12.0, "beta": true, "gone": null}})");
  ASSERT_TRUE(c.ok()) << c.error().render();
  EXPECT_EQ(c->user_id, "42");
  EXPECT_EQ(c->session_id, "");
  EXPECT_EQ(c->remote_address, "10.0.0.1");
  EXPECT_EQ(c->properties.at("tenant"), "acme");
  EXPECT_EQ(c->properties.at("seats"), "12");
  EXPECT_EQ(c->properties.at("beta"), "true");
  EXPECT_EQ(c->properties.count("gone"), 0u);
  for (const char* bad : {"[]", "{\"userId\": {}}", "{\"properties\": []}", "{\"properties\": {\"a\": [1]}}", "{", ""}) {
    auto r = flags::parse_context(bad);
    EXPECT_FALSE(r.ok()) << bad;
  }
  auto err = flags::error_evaluation(flags::ErrorCode::parse_error, "bad context");
  EXPECT_EQ(flags::to_json(err)["errorCode"], "PARSE_ERROR");
}

TEST(FlagsSnapshot, SharedAcrossThreadsAndCopies) {
  auto s = one_strategy({{"name", "flexibleRollout"}, {"parameters", {{"rollout", "50"}, {"groupId", "g"}}}});
  flags::Snapshot copy = s;
  EXPECT_EQ(copy.compiled(), s.compiled());
  EXPECT_EQ(copy.size(), 1u);
  EXPECT_TRUE(copy.contains("f"));
  EXPECT_FALSE(copy.contains("g"));
}

// The compiled form interns every IN value of the snapshot once and keeps each set as a
// bitset (or, for scattered ids, a sorted list), and keeps names of any length in its
// tables: every shape answers exactly as the values listed.
TEST(FlagsSnapshot, ManyFlagsLongNamesAndScatteredValueSets) {
  std::vector<std::string> all;
  for (int i = 0; i < 1000; ++i) all.push_back("value-" + std::to_string(i));
  const std::string long_value(300, 'v');
  all.push_back(long_value);
  auto in = [](const json& values, bool ci = false) {
    return json::array({{{"name", "default"},
                         {"constraints", json::array({{{"contextName", "k"}, {"operator", "IN"},
                                                       {"values", values}, {"caseInsensitive", ci}}})}}});
  };
  json features = json::array();
  features.push_back({{"name", "all"}, {"enabled", true}, {"strategies", in(all)}});
  // ids 0 and 999 only: too scattered for a bitset of that span.
  features.push_back({{"name", "ends"}, {"enabled", true}, {"strategies", in({"value-0", "value-999"})}});
  // A run in the middle: a bitset that does not start at id 0.
  json mid = json::array();
  for (int i = 640; i < 700; ++i) mid.push_back("value-" + std::to_string(i));
  features.push_back({{"name", "mid"}, {"enabled", true}, {"strategies", in(mid)}});
  features.push_back({{"name", "folded"}, {"enabled", true}, {"strategies", in({"Value-5", long_value}, true)}});
  // Names of every length around the inline limit, and a few thousand of them.
  for (size_t len : {1, 19, 20, 21, 64, 500})
    features.push_back({{"name", std::string(len, 'n')}, {"enabled", true}});
  for (int i = 0; i < 3000; ++i) features.push_back({{"name", "bulk.flag-" + std::to_string(i)}, {"enabled", i % 2 == 0}});
  auto s = snapshot(features);
  ASSERT_EQ(s.size(), 4u + 6u + 3000u);

  auto with = [](const std::string& v) { return props({{"k", v}}); };
  for (int i = 0; i < 1000; i += 37) EXPECT_TRUE(on(s, with("value-" + std::to_string(i)), "all")) << i;
  EXPECT_TRUE(on(s, with(long_value), "all"));
  EXPECT_FALSE(on(s, with(long_value + "v"), "all"));
  EXPECT_FALSE(on(s, with("value-1000"), "all"));
  EXPECT_TRUE(on(s, with("value-0"), "ends"));
  EXPECT_TRUE(on(s, with("value-999"), "ends"));
  for (const char* v : {"value-1", "value-500", "value-998", "value-1000", "other"}) EXPECT_FALSE(on(s, with(v), "ends")) << v;
  for (int i = 600; i < 760; ++i) EXPECT_EQ(on(s, with("value-" + std::to_string(i)), "mid"), i >= 640 && i < 700) << i;
  EXPECT_TRUE(on(s, with("VALUE-5"), "folded"));
  EXPECT_TRUE(on(s, with(std::string(300, 'V')), "folded"));
  EXPECT_TRUE(on(s, with("value-5"), "folded"));
  EXPECT_FALSE(on(s, with("VALUE-5"), "all"));  // only the caseInsensitive set folds

  for (size_t len : {1, 19, 20, 21, 64, 500}) {
    EXPECT_TRUE(on(s, {}, std::string(len, 'n'))) << len;
    EXPECT_FALSE(s.contains(std::string(len, 'm'))) << len;                      // same length, other bytes
    EXPECT_FALSE(s.contains(std::string(len, 'n') + "x")) << len;                // one byte longer
  }
  for (int i = 0; i < 3000; i += 7) EXPECT_EQ(on(s, {}, "bulk.flag-" + std::to_string(i)), i % 2 == 0) << i;
  EXPECT_EQ(flags::is_enabled(s, "bulk.flag-3000", {}).error_code, flags::ErrorCode::flag_not_found);
}

}  // namespace
