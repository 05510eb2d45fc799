// libFuzzer target for belay serve's request parsing: any bytes as a POST body (frontend
// and OFREP contexts, client registration, client metrics) and as a query string; every
// context that parses is evaluated against a fixed snapshot and the response must be
// valid JSON. Nothing may crash, hang or leak.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "serve/serve.h"

namespace {

const belay::flags::Snapshot& snapshot() {
  static const belay::flags::Snapshot s = [] {
    auto r = belay::flags::parse_client_features(R"({"version": 2,
      "segments": [{"id": 1, "constraints": [{"contextName": "plan", "operator": "IN", "values": ["pro"]}]}],
      "features": [
        {"name": "a", "enabled": true, "strategies": [{"name": "flexibleRollout",
          "parameters": {"rollout": "50", "stickiness": "default", "groupId": "a"},
          "constraints": [{"contextName": "country", "operator": "STR_CONTAINS", "values": ["o"], "caseInsensitive": true}]}]},
        {"name": "b", "enabled": true, "strategies": [{"name": "default", "segments": [1]}],
         "variants": [{"name": "x", "weight": 1000, "payload": {"type": "string", "value": "v"}}]},
        {"name": "c", "enabled": true, "strategies": [{"name": "remoteAddress", "parameters": {"IPs": "10.0.0.0/8"}},
          {"name": "userWithId", "parameters": {"userIds": "1,2"}}]},
        {"name": "d", "enabled": true, "strategies": [{"name": "default", "constraints": [
          {"contextName": "currentTime", "operator": "DATE_AFTER", "value": "2020-01-01T00:00:00Z"},
          {"contextName": "n", "operator": "NUM_GT", "value": "3"},
          {"contextName": "v", "operator": "SEMVER_LT", "value": "2.0.0"}]}]}]})");
    if (!r.ok()) std::abort();
    return *r;
  }();
  return s;
}

void check(const belay::Result<belay::flags::Context>& c) {
  if (!c.ok()) {
    if (c.error().object.empty()) std::abort();   // every rejection names its error code
    return;
  }
  if (!nlohmann::json::accept(belay::serve::frontend_json(snapshot(), *c))) std::abort();
  for (auto* name : {"a", "b", "c", "d", "missing"}) {
    auto e = belay::flags::variant(snapshot(), name, *c);
    if (!nlohmann::json::accept(belay::serve::ofrep_json(name, e))) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  check(belay::serve::frontend_context(text));
  check(belay::serve::ofrep_context(text));
  (void)belay::serve::parse_register(text);
  (void)belay::serve::parse_client_metrics(text);
  // As a query string: name=value pairs split at '&' (already decoded, as the HTTP layer hands them over).
  belay::serve::Params q;
  size_t start = 0;
  while (start <= text.size()) {
    size_t amp = text.find('&', start);
    auto pair = text.substr(start, amp == std::string_view::npos ? std::string_view::npos : amp - start);
    auto eq = pair.find('=');
    q.emplace(std::string(pair.substr(0, eq)), eq == std::string_view::npos ? "" : std::string(pair.substr(eq + 1)));
    if (amp == std::string_view::npos) break;
    start = amp + 1;
  }
  check(belay::serve::context_from_query(q));
  std::string s;
  belay::serve::append_json_string(s, text);
  if (!nlohmann::json::accept(s)) std::abort();
  return 0;
}
