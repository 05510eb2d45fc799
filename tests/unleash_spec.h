// Reading Unleash's published client specification (tests/data/unleash-spec/), shared by
// the tests that run it: flags_spec_test (C++) and flags_sql_test (SQL). Needs
// BELAY_TEST_DATA (the tests/data folder).
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>
#include <string>

namespace belay::test {

using nlohmann::json;

inline json read_spec(const std::string& name) {
  std::ifstream in(std::string(BELAY_TEST_DATA) + "/unleash-spec/" + name);
  EXPECT_TRUE(in) << name;
  std::stringstream ss;
  ss << in.rdbuf();
  return json::parse(ss.str());
}

// The state as a client features document: as given, or built from delta events.
inline json state_document(const json& state) {
  if (!state.contains("events")) return state;
  json features = json::array(), segments = json::array();
  auto drop = [](json& list, const char* key, const json& value) {
    json kept = json::array();
    for (auto& x : list) if (x[key] != value) kept.push_back(x);
    list = kept;
  };
  for (const auto& e : state["events"]) {
    const std::string type = e["type"];
    if (type == "hydration") {
      features = e.value("features", json::array());
      segments = e.value("segments", json::array());
    } else if (type == "feature-updated") {
      drop(features, "name", e["feature"]["name"]);
      features.push_back(e["feature"]);
    } else if (type == "feature-removed") {
      drop(features, "name", e["featureName"]);
    } else if (type == "segment-updated") {
      drop(segments, "id", e["segment"]["id"]);
      segments.push_back(e["segment"]);
    } else if (type == "segment-removed") {
      drop(segments, "id", e["segmentId"]);
    } else {
      ADD_FAILURE() << "unknown delta event " << type;
    }
  }
  return {{"version", 2}, {"features", features}, {"segments", segments}};
}

}  // namespace belay::test
