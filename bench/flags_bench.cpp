// In-process flag evaluations per second on one core (issue 7, section 4): a 200-flag
// snapshot where every flag is a flexibleRollout with an IN constraint, evaluated for a
// million distinct contexts. Flags are looked up by name each time, as a server would.
//
//   flags_bench [evaluations=50000000] [rounds=5] [write-document-to.json] [contexts=1000000]
//
// Prints evaluations/s for is_enabled (the figure the target is about) and for
// variant(), best and median over the rounds, and the share of evaluations that were on
// (a sanity check that the constraint and the rollout both decide). The document is
// written out for the Node SDK floor (bench/flags_node_floor.js) to run the same flags.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <string>
#include <vector>

#include "flags/flags.h"

namespace flags = belay::flags;
using nlohmann::json;

namespace {

constexpr int kFlags = 200;

flags::Snapshot build_snapshot() {
  json features = json::array();
  for (int i = 0; i < kFlags; ++i) {
    json tenants = json::array();
    for (int t = 0; t < 50; ++t) tenants.push_back("tenant-" + std::to_string((t * 2 + i) % 100));
    char name[32];
    std::snprintf(name, sizeof name, "checkout.flag-%03d", i);
    features.push_back({
        {"name", name},
        {"enabled", true},
        {"strategies", json::array({{
             {"name", "flexibleRollout"},
             {"parameters", {{"rollout", std::to_string(1 + i % 100)}, {"stickiness", "default"}, {"groupId", name}}},
             {"constraints", json::array({{{"contextName", "tenant"}, {"operator", "IN"}, {"values", tenants}}})},
         }})},
        {"variants", json::array({{{"name", "control"}, {"weight", 500}, {"stickiness", "default"}},
                                  {{"name", "treatment"}, {"weight", 500}, {"stickiness", "default"},
                                   {"payload", {{"type", "string"}, {"value", "on"}}}}})},
    });
  }
  auto snap = flags::parse_client_features(json{{"version", 2}, {"features", features}}.dump());
  if (!snap.ok()) {
    std::fprintf(stderr, "%s\n", snap.error().render().c_str());
    std::exit(1);
  }
  return *snap;
}

// CPU time of this thread: on a shared machine, what one core actually spent.
double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const long n = argc > 1 ? std::atol(argv[1]) : 50000000L;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 5;
  flags::Snapshot snap = build_snapshot();
  if (argc > 3 && argv[3][0]) std::ofstream(argv[3]) << flags::to_client_features(snap).dump();

  std::vector<std::string> names;
  for (const auto& f : snap.document().features) names.push_back(f.name);
  const int n_contexts = argc > 4 ? std::atoi(argv[4]) : 1000000;
  std::vector<flags::Context> contexts(static_cast<size_t>(std::max(1, n_contexts)));
  for (int i = 0; i < static_cast<int>(contexts.size()); ++i) {
    contexts[i].user_id = "user-" + std::to_string(i);
    contexts[i].environment = "production";
    // Tenants scattered over contexts (a multiplicative hash), so the constraint passes
    // for about half the evaluations, uncorrelated with the flag order.
    contexts[i].properties["tenant"] = "tenant-" + std::to_string((static_cast<uint32_t>(i) * 2654435761u >> 7) % 100);
  }

  // Returns {wall seconds, thread CPU seconds}. Strided (the default and the recorded
  // figure): a new context for every evaluation, flags in a stride that visits all 200 in
  // every 200 evaluations, so neither the context nor the flag is in L1 when evaluated.
  // Per context: each context asks for every flag in turn, as a server answering one
  // request for all flags does (the context stays in cache, the million still stream).
  auto run = [&](bool with_variant, bool per_context, long& on) {
    on = 0;
    const double cpu0 = thread_cpu_seconds();
    auto t0 = std::chrono::steady_clock::now();
    size_t c = 0, f = 0;
    for (long i = 0; i < n; ++i) {
      const flags::Evaluation e = with_variant ? flags::variant(snap, names[f], contexts[c])
                                               : flags::is_enabled(snap, names[f], contexts[c]);
      on += e.enabled;
      if (per_context) {
        if (++f == names.size()) {
          f = 0;
          if (++c == contexts.size()) c = 0;
        }
        continue;
      }
      if (++c == contexts.size()) c = 0;
      f += 73;
      if (f >= names.size()) f -= names.size();
    }
    return std::pair<double, double>(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
                                     thread_cpu_seconds() - cpu0);
  };

  for (auto [with_variant, per_context] : {std::pair{false, false}, {true, false}, {false, true}, {true, true}}) {
    std::vector<double> rates, cpu_rates;
    long on = 0;
    for (int r = 0; r < rounds; ++r) {
      auto [wall, cpu] = run(with_variant, per_context, on);
      rates.push_back(static_cast<double>(n) / wall);
      cpu_rates.push_back(static_cast<double>(n) / cpu);
    }
    std::printf("%-10s %-11s %ld evaluations x %d rounds: best %.2f M/s, median %.2f M/s wall; "
                "median %.2f M/s per CPU-second (on: %.1f%%)\n",
                with_variant ? "variant" : "is_enabled", per_context ? "per-context" : "strided", n, rounds,
                *std::max_element(rates.begin(), rates.end()) / 1e6, median(rates) / 1e6,
                median(cpu_rates) / 1e6, 100.0 * static_cast<double>(on) / static_cast<double>(n));
  }
  return 0;
}
