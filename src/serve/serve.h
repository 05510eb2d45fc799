// belay serve: the flag store over HTTP. The public face of src/serve/.
//
//   serve::Options o; o.dsn = target_dsn; o.port = 4242;
//   BELAY_ASSIGN(auto srv, serve::Server::start(o));   // loads snapshots, LISTENs, binds
//   srv->run();                                          // until srv->stop()
//
// It speaks Unleash's client API (/api/client/features with ETag, register, metrics) and
// frontend API (/api/frontend), OpenFeature's OFREP (/ofrep/v1/evaluate/flags[/{key}]),
// an admin API over flagstore (every change audited with the token's name as actor),
// /healthz and /metrics (Prometheus text). Tokens come from belay.flag_tokens: the
// token's kind decides what it may call and its environment which snapshot answers.
//
// Evaluation reads an immutable snapshot per environment, swapped atomically when the
// store NOTIFYs belay_flags: requests never wait on the database, and a server that
// loses its database keeps answering from the last snapshot, saying so (/healthz 503
// "stale", header X-Belay-Snapshot: stale) until it reconnects.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "flags/flags.h"
#include "util/error.h"

namespace belay::serve {

struct Options {
  std::string dsn;                        // the target; the password is never printed
  std::string host = "127.0.0.1";
  int port = 4242;                        // 0 = any free port (see Server::port())
  std::vector<std::string> environments;  // empty = every environment in the store
  // Event-loop threads, at most one per core is used (each serves any number of
  // keep-alive connections asynchronously); 1 serves from the calling thread alone.
  int threads = 64;
  size_t max_body = 1 << 20;              // larger bodies: 413
  int reconnect_max_ms = 2000;            // backoff ceiling while the database is away
};

class Server {
 public:
  // Connects to the target (the store must be installed), loads every served
  // environment and the tokens, starts the LISTEN thread and binds the port.
  static Result<std::unique_ptr<Server>> start(const Options& o);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  int port() const;                       // the bound port
  std::vector<std::string> environments() const;  // served now
  // Serves until stop(); fails if the listening socket fails.
  Status run();
  void stop();                            // thread-safe; run() returns soon after

  struct Impl;
 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// ---- Request parsing (what the fuzzer drives; none of these throws) --------------------
//
// Failures are Error{code usage} with `object` set to the error code the API answers
// with: "PARSE_ERROR" (not JSON), "INVALID_CONTEXT" (a context of the wrong shape) or
// "INVALID_BODY" (any other body of the wrong shape); the message says where.

using Params = std::multimap<std::string, std::string>;  // decoded query parameters

// Unleash's frontend API query: userId, sessionId, remoteAddress, environment, appName,
// currentTime, properties[name]=value; any other parameter is a property (as Unleash
// does). A parameter given twice keeps the first.
Result<flags::Context> context_from_query(const Params& q);
// {"context": {...}} (POST /api/frontend); an empty body or no "context" is an empty context.
Result<flags::Context> frontend_context(std::string_view body);
// OFREP's {"context": {"targetingKey": ..., ...}}: targetingKey is the userId (unless a
// userId is given too); other keys as in an Unleash context. Empty body: empty context.
Result<flags::Context> ofrep_context(std::string_view body);

// POST /api/client/register: {appName, instanceId?, sdkVersion?, strategies?, started?, interval?}.
struct ClientApp {
  std::string app_name, instance_id, sdk_version;
};
Result<ClientApp> parse_register(std::string_view body);

// POST /api/client/metrics: {appName, instanceId?, bucket: {start, stop, toggles:
// {flag: {yes, no, variants?: {variant: n}}}}}; counts are non-negative integers.
struct ToggleCount {
  std::string flag;
  uint64_t yes = 0, no = 0;
  std::vector<std::pair<std::string, uint64_t>> variants;
};
struct ClientMetrics {
  std::string app_name, instance_id;
  std::vector<ToggleCount> toggles;
};
Result<ClientMetrics> parse_client_metrics(std::string_view body);

// ---- Responses built on the hot path (reserved strings, no JSON trees) ------------------

// {"toggles": [...]}: the flags enabled for ctx, as Unleash's frontend API answers:
// {name, enabled: true, variant: {name, enabled, payload?, feature_enabled}, impressionData}.
std::string frontend_json(const flags::Snapshot& s, const flags::Context& ctx);
// OFREP's success body for one flag: {key, value (enabled), reason, variant, metadata}.
std::string ofrep_json(std::string_view key, const flags::Evaluation& e);
// A JSON string literal (quotes included); invalid UTF-8 becomes U+FFFD.
void append_json_string(std::string& out, std::string_view s);

}  // namespace belay::serve
