// Unleash's published client specification (tests/data/unleash-spec/, every file listed in
// its index.json) through belay's evaluator: each `tests` case checks is_enabled, each
// `variantTests` case checks variant(). The delta-API files (19, 20) give a list of events
// instead of a document; they are applied here the way an SDK applies them.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "flags/flags.h"
#include "unleash_spec.h"

using nlohmann::json;
namespace flags = belay::flags;
using belay::test::read_spec;
using belay::test::state_document;

namespace {

struct Counts { int files = 0, tests = 0, variant_tests = 0; };

void run_file(const std::string& name, Counts& counts) {
  SCOPED_TRACE(name);
  json spec = read_spec(name);
  auto snap = flags::parse_client_features(state_document(spec["state"]).dump());
  ASSERT_TRUE(snap.ok()) << snap.error().render();
  ++counts.files;
  for (const auto& t : spec.value("tests", json::array())) {
    SCOPED_TRACE(t["description"].get<std::string>());
    auto ctx = flags::context_from_json(t["context"]);
    ASSERT_TRUE(ctx.ok()) << ctx.error().render();
    flags::Evaluation e = flags::is_enabled(*snap, t["toggleName"].get<std::string>(), *ctx);
    EXPECT_EQ(e.enabled, t["expectedResult"].get<bool>());
    ++counts.tests;
  }
  for (const auto& t : spec.value("variantTests", json::array())) {
    SCOPED_TRACE(t["description"].get<std::string>());
    auto ctx = flags::context_from_json(t["context"]);
    ASSERT_TRUE(ctx.ok()) << ctx.error().render();
    flags::Evaluation e = flags::variant(*snap, t["toggleName"].get<std::string>(), *ctx);
    const json& want = t["expectedResult"];
    EXPECT_EQ(std::string(e.variant.name), want["name"].get<std::string>());
    EXPECT_EQ(e.variant.enabled, want["enabled"].get<bool>());
    if (want.contains("feature_enabled")) {
      EXPECT_EQ(e.variant.feature_enabled, want["feature_enabled"].get<bool>());
    }
    if (want.contains("payload")) {
      ASSERT_TRUE(e.variant.payload.has_value());
      EXPECT_EQ(std::string(e.variant.payload->type), want["payload"]["type"].get<std::string>());
      EXPECT_EQ(std::string(e.variant.payload->value), want["payload"]["value"].get<std::string>());
    } else {
      EXPECT_FALSE(e.variant.payload.has_value());
    }
    ++counts.variant_tests;
  }
}

TEST(FlagsSpec, EveryPublishedCasePasses) {
  json index = read_spec("index.json");
  ASSERT_TRUE(index.is_array());
  Counts counts;
  for (const auto& f : index) run_file(f.get<std::string>(), counts);
  // 22 files with 250+ cases: guards against a suite that silently runs nothing.
  EXPECT_EQ(counts.files, 22);
  EXPECT_GT(counts.tests, 200);
  EXPECT_GT(counts.variant_tests, 50);
  std::printf("unleash client specification: %d files, %d is_enabled cases, %d variant cases\n",
              counts.files, counts.tests, counts.variant_tests);
}

// The model round-trips: every spec document -> model -> JSON -> model gives the same JSON.
TEST(FlagsSpec, DocumentsRoundTrip) {
  for (const auto& f : read_spec("index.json")) {
    SCOPED_TRACE(f.get<std::string>());
    json state = state_document(read_spec(f.get<std::string>())["state"]);
    auto a = flags::parse_client_features(state.dump());
    ASSERT_TRUE(a.ok()) << a.error().render();
    json once = flags::to_client_features(*a);
    auto b = flags::parse_client_features(once.dump());
    ASSERT_TRUE(b.ok()) << b.error().render();
    EXPECT_EQ(flags::to_client_features(*b), once);
    EXPECT_EQ(b->size(), state["features"].size());
  }
}

// Every flag of every spec document against hostile contexts: no crash, no throw, and the
// deterministic answers are stable.
TEST(FlagsSpec, GarbageContextsNeverThrow) {
  std::vector<flags::Context> contexts;
  const std::string huge(100000, 'A');
  const std::vector<std::string> weird = {"", " ", "\xff\xfe\xfd", std::string("a\0b", 3), huge,
                                          "9999999999999999999999999", "-0", "1e400", "::ffff:1.2.3.4",
                                          "2001:db8::/200", "300.1.1.1", "1.2.3.4/33", "v1.2.3",
                                          "1.2.3-", "2022-02-30T00:00:00Z", "(((((", "\\", "NaN"};
  for (const auto& w : weird) {
    flags::Context c;
    c.user_id = c.session_id = c.remote_address = c.environment = c.app_name = c.current_time = w;
    for (const char* p : {"customField", "version", "someValue", "email", "nested", "clientId", "customNumber"})
      c.properties[p] = w;
    contexts.push_back(std::move(c));
  }
  for (const auto& f : read_spec("index.json")) {
    json state = state_document(read_spec(f.get<std::string>())["state"]);
    auto snap = flags::parse_client_features(state.dump());
    ASSERT_TRUE(snap.ok());
    for (const auto& feature : snap->document().features)
      for (const auto& c : contexts) {
        flags::Evaluation a = flags::variant(*snap, feature.name, c);
        flags::Evaluation b = flags::is_enabled(*snap, feature.name, c);
        EXPECT_NE(a.reason, flags::Reason::error) << feature.name;
        EXPECT_NE(b.reason, flags::Reason::error) << feature.name;
        // Random rollouts (reason SPLIT) may differ between the two calls.
        if (a.reason != flags::Reason::split && b.reason != flags::Reason::split) {
          EXPECT_EQ(a.enabled, b.enabled) << feature.name;
        }
      }
  }
}

}  // namespace
