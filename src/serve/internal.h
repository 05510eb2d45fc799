// Internals of belay serve shared by its files (not a public header).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "flags/flags.h"
#include "flagstore/flagstore.h"
#include "pg/pg.h"
#include "serve/serve.h"

namespace belay::serve {

// ---- Metrics --------------------------------------------------------------------------

// Exposure counts of one flag in one environment. Kept for the life of the server
// (snapshots come and go, counters stay), so snapshots hold plain pointers to them.
struct FlagCounters {
  std::atomic<uint64_t> on{0}, off{0};                 // evaluated here
  std::atomic<uint64_t> client_yes{0}, client_no{0};   // reported by SDKs (/api/client/metrics)
  void count(bool enabled) { (enabled ? on : off).fetch_add(1, std::memory_order_relaxed); }
};

enum class Route : int {
  client_features, client_register, client_metrics, frontend, frontend_feature, ofrep_flag,
  ofrep_bulk, ofrep_configuration, admin, healthz, metrics, unknown, count_
};
std::string_view route_name(Route r);

class Metrics {
 public:
  static constexpr std::array<double, 13> kBuckets = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                      0.01,    0.025,  0.05,    0.1,    0.5,    1.0};
  static constexpr std::array<int, 14> kStatuses = {200, 201, 202, 304, 400, 401, 403, 404, 405, 409, 413, 500, 503, 0};

  // Stable for the life of the Metrics object.
  FlagCounters* flag(std::string_view environment, std::string_view name);
  void observe(Route r, int status, double seconds);
  void app_registered(const ClientApp& a, std::string_view environment);
  // Adds an SDK's report; counts only flags the environment has (so a report cannot grow
  // the server's memory); returns how many toggles were unknown.
  size_t client_report(const ClientMetrics& m, std::string_view environment,
                       const std::unordered_map<std::string, uint32_t>& known);

  std::atomic<uint64_t> eval_errors{0};     // evaluations answered with an error (unknown flag, ...)
  std::atomic<uint64_t> reloads{0}, reload_errors{0}, reconnects{0}, notifications{0};
  std::atomic<uint64_t> admin_changes{0};

  // Prometheus text exposition.
  std::string render(const struct StateView& v) const;
  size_t apps() const;

 private:
  struct RouteStats {
    std::array<std::atomic<uint64_t>, kBuckets.size() + 1> buckets{};
    std::atomic<uint64_t> sum_ns{0}, count{0};
    std::array<std::atomic<uint64_t>, kStatuses.size()> statuses{};
  };
  std::array<RouteStats, static_cast<size_t>(Route::count_)> routes_{};

  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, std::unique_ptr<FlagCounters>, std::less<>> flags_;
  struct App {
    std::string environment, sdk_version;
    uint64_t registrations = 0, reports = 0;
  };
  std::map<std::pair<std::string, std::string>, App> apps_;   // (appName, instanceId)
  std::map<std::tuple<std::string, std::string, std::string>, uint64_t> client_variants_;
};

// ---- Snapshots and tokens --------------------------------------------------------------

struct EnvSnapshot {
  std::string environment;
  flagstore::Loaded loaded;
  std::vector<FlagCounters*> counters;               // by document feature index
  std::unordered_map<std::string, uint32_t> index;   // flag name -> feature index
  std::chrono::steady_clock::time_point loaded_at;
};
using Snapshots = std::map<std::string, std::shared_ptr<const EnvSnapshot>, std::less<>>;

struct TokenInfo {
  std::string name, kind, environment;
};
using Tokens = std::unordered_map<std::string, TokenInfo>;   // by SHA-256 of the secret

// What /healthz and /metrics report about the state.
struct StateView {
  std::shared_ptr<const Snapshots> snapshots;
  bool stale = false;
  int64_t stale_since_ms = 0;      // unix ms
  std::string last_error;
};

// The served state: snapshots per environment and tokens, both swapped atomically by
// the listener thread, which LISTENs on the store's channel and reconnects with backoff.
class State {
 public:
  State(Options o) : opt_(std::move(o)) {}
  ~State() { stop(); }

  // First connection and load; starts the listener thread.
  Status start();
  void stop();

  std::shared_ptr<const Snapshots> snapshots() const { return snaps_.load(std::memory_order_acquire); }
  std::shared_ptr<const Tokens> tokens() const { return tokens_.load(std::memory_order_acquire); }
  bool stale() const { return stale_.load(std::memory_order_relaxed); }
  StateView view() const;

  // The connection for admin calls, one call at a time: hold admin_mu() while using it.
  // Reopened when it was lost.
  Result<pg::Conn*> admin_conn();
  std::mutex& admin_mu() { return admin_mu_; }

  Metrics metrics;
  const Options& options() const { return opt_; }

 private:
  Status connect_and_load();                       // on the listener connection
  Status reload(const std::vector<std::string>& envs);
  Status reload_tokens();
  void loop();
  void mark_stale(const std::string& why);

  Options opt_;
  std::optional<pg::Conn> conn_;                  // the listener's (loads go through it too)
  std::atomic<std::shared_ptr<const Snapshots>> snaps_;
  std::atomic<std::shared_ptr<const Tokens>> tokens_;
  std::atomic<bool> stale_{false};
  std::atomic<int64_t> stale_since_ms_{0};
  mutable std::mutex err_mu_;
  std::string last_error_;

  std::thread thread_;
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;

  std::mutex admin_mu_;
  std::optional<pg::Conn> admin_;
};

// ---- Requests ---------------------------------------------------------------------------

// A request as the routes see it (the HTTP library's request stays behind an adapter).
struct Request {
  std::string_view method, path, body, remote_addr;
  const Params* params = nullptr;
  const void* raw = nullptr;
  std::string_view (*header_fn)(const void*, std::string_view) = nullptr;
  std::string_view header(std::string_view name) const { return header_fn ? header_fn(raw, name) : std::string_view(); }
};

struct Response {
  int status = 200;
  std::string body;
  const char* content_type = "application/json";
  std::vector<std::pair<const char*, std::string>> headers;
};

// Routes every request; fills `route` for the metrics.
Response dispatch(State& st, const Request& req, Route& route);
Response admin_route(State& st, const Request& req, const TokenInfo& tok, std::string_view rest);

// An object body ({} when empty); errors as the parse functions of serve.h.
Result<nlohmann::json> parse_object_body(std::string_view body);

// ---- Rendering (render.cpp) ---------------------------------------------------------------

void frontend_into(std::string& out, const flags::Snapshot& s, const flags::Context& ctx,
                   FlagCounters* const* counters);
void append_toggle(std::string& out, std::string_view name, const flags::Evaluation& e, bool impression_data);
void ofrep_into(std::string& out, std::string_view key, const flags::Evaluation& e, bool impression_data);
size_t utf8_len(std::string_view s, size_t i);   // valid UTF-8 sequence at s[i]; 0 if none
std::string error_body(std::string_view error, std::string_view message);
Response error_response(int status, std::string_view error, std::string_view message);
int64_t unix_ms();

}  // namespace belay::serve
