// The routes: tokens, the Unleash client and frontend APIs, OFREP, /healthz, /metrics.
// The admin API is in admin.cpp.
#include <ctime>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "serve/internal.h"

namespace belay::serve {
namespace {

using json = nlohmann::json;

enum Kind : unsigned { kClient = 1, kFrontend = 2, kAdmin = 4 };

unsigned kind_bit(std::string_view k) {
  if (k == "client") return kClient;
  if (k == "frontend") return kFrontend;
  if (k == "admin") return kAdmin;
  return 0;
}

std::string_view strip(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The secret from `Authorization: <secret>` (Unleash), `Authorization: Bearer <secret>`
// or OFREP's `X-API-Key: <secret>`.
std::string_view secret_of(const Request& req) {
  auto a = strip(req.header("Authorization"));
  if (a.size() > 7 && (a.substr(0, 7) == "Bearer " || a.substr(0, 7) == "bearer ")) return strip(a.substr(7));
  if (!a.empty()) return a;
  return strip(req.header("X-API-Key"));
}

// SHA-256 per request is the largest cost of a small request after HTTP itself; a
// keep-alive connection stays on one thread and sends one token, so one entry per
// thread catches nearly every request.
const std::string& hash_of(std::string_view secret) {
  thread_local std::string last_secret, last_hash;
  if (last_hash.empty() || secret != last_secret) {
    last_secret.assign(secret);
    last_hash = flagstore::token_hash(secret);
  }
  return last_hash;
}

struct Authorized {
  std::shared_ptr<const Tokens> tokens;      // keeps *token alive
  const TokenInfo* token = nullptr;
  std::shared_ptr<const EnvSnapshot> snap;   // the token's environment, when it has to be served
};

// Checks the token against the kinds a route accepts. On failure fills `err`.
bool authorize(State& st, const Request& req, unsigned kinds, bool need_snapshot, Authorized& a, Response& err) {
  auto secret = secret_of(req);
  if (secret.empty()) {
    err = error_response(401, "unauthorized", "no token: send the header Authorization: <token> (or Bearer <token>)");
    return false;
  }
  a.tokens = st.tokens();
  auto it = a.tokens->find(hash_of(secret));
  if (it == a.tokens->end()) {
    err = error_response(401, "unauthorized", "the token is not known or was revoked");
    return false;
  }
  a.token = &it->second;
  if (!(kind_bit(a.token->kind) & kinds)) {
    err = error_response(403, "forbidden",
                         fmt::format("a {} token may not call this route (token \"{}\")", a.token->kind, a.token->name));
    return false;
  }
  if (need_snapshot) {
    auto snaps = st.snapshots();
    auto s = snaps->find(a.token->environment);
    if (s == snaps->end()) {
      err = error_response(403, "environment_not_served",
                           fmt::format("token \"{}\" is for environment \"{}\", which this server does not serve",
                                       a.token->name, a.token->environment));
      return false;
    }
    a.snap = s->second;
  }
  return true;
}

// If-None-Match against our one current tag (a list, W/ and * allowed).
bool etag_matches(std::string_view inm, std::string_view etag) {
  while (!inm.empty()) {
    auto comma = inm.find(',');
    auto one = strip(inm.substr(0, comma));
    if (one.starts_with("W/")) one.remove_prefix(2);
    if (one == etag || one == "*") return true;
    if (comma == std::string_view::npos) break;
    inm.remove_prefix(comma + 1);
  }
  return false;
}

Response bad_request(const Error& e) {
  return error_response(400, e.object.empty() ? "INVALID_BODY" : e.object, e.message);
}

Response ofrep_error(int status, std::string_view key, std::string_view code, std::string_view details) {
  Response r;
  r.status = status;
  r.body = "{";
  if (!key.empty()) {
    r.body += "\"key\":";
    append_json_string(r.body, key);
    r.body += ',';
  }
  r.body += "\"errorCode\":";
  append_json_string(r.body, code);
  r.body += ",\"errorDetails\":";
  append_json_string(r.body, details);
  r.body += '}';
  return r;
}

// A stable tag of a context: the same fields in the same order give the same tag.
std::string context_tag(const flags::Context& c) {
  std::string s;
  s.reserve(128);
  for (auto* f : {&c.user_id, &c.session_id, &c.remote_address, &c.environment, &c.app_name, &c.current_time}) {
    s += *f;
    s += '\x1f';
  }
  for (auto& [k, v] : c.properties) {
    s += k;
    s += '\x1e';
    s += v;
    s += '\x1f';
  }
  return fmt::format("{:08x}{:08x}", flags::murmur3_32(s, 0), flags::murmur3_32(s, 0x9747b28c));
}

Response healthz(State& st) {
  auto v = st.view();
  auto now = std::chrono::steady_clock::now();
  json revs = json::object(), ages = json::object(), envs = json::array();
  for (auto& [env, s] : *v.snapshots) {
    envs.push_back(env);
    revs[env] = s->loaded.revision;
    ages[env] = std::chrono::duration_cast<std::chrono::milliseconds>(now - s->loaded_at).count();
  }
  json j = {{"status", v.stale ? "stale" : "ok"}, {"environments", envs}, {"revision", revs}, {"snapshot_age_ms", ages}};
  Response r;
  if (v.stale) {
    r.status = 503;
    j["database"] = "unreachable";
    j["since_ms"] = v.stale_since_ms;
    auto t = static_cast<time_t>(v.stale_since_ms / 1000);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    j["since"] = buf;
    j["error"] = v.last_error;
  } else {
    j["database"] = "connected";
  }
  r.body = j.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

Response method_not_allowed(const Request& req, const char* allow) {
  auto r = error_response(405, "method_not_allowed", fmt::format("{} {} is not allowed; use {}", req.method, req.path, allow));
  r.headers.emplace_back("Allow", allow);
  return r;
}

// ---- the evaluation routes ----------------------------------------------------------------

Response frontend(State& st, const Request& req, std::string_view name) {
  Authorized a;
  Response err;
  if (!authorize(st, req, kClient | kFrontend | kAdmin, true, a, err)) return err;
  auto ctx = req.method == "GET" ? context_from_query(*req.params) : frontend_context(req.body);
  if (!ctx.ok()) return bad_request(ctx.error());
  // As Unleash's frontend API: the caller's address unless the context names one.
  if (ctx->remote_address.empty()) ctx->remote_address = std::string(req.remote_addr);
  const auto& snap = a.snap->loaded.snapshot;
  Response r;
  if (name.empty()) {
    frontend_into(r.body, snap, *ctx, a.snap->counters.data());
    return r;
  }
  auto it = a.snap->index.find(std::string(name));
  if (it == a.snap->index.end()) {
    st.metrics.eval_errors.fetch_add(1, std::memory_order_relaxed);
    return error_response(404, "not_found", fmt::format("no flag named \"{}\"", name));
  }
  auto e = flags::variant(snap, name, *ctx);
  a.snap->counters[it->second]->count(e.enabled);
  // Unleash answers 404 for a flag that is off for this context, too.
  if (!e.enabled) return error_response(404, "not_enabled", fmt::format("\"{}\" is not enabled for this context", name));
  r.body.reserve(256);
  append_toggle(r.body, name, e, snap.document().features[it->second].impression_data);
  return r;
}

Response ofrep_flag(State& st, const Request& req, std::string_view key) {
  Authorized a;
  Response err;
  if (!authorize(st, req, kClient | kFrontend | kAdmin, true, a, err)) return err;
  auto ctx = ofrep_context(req.body);
  if (!ctx.ok()) return ofrep_error(400, key, ctx.error().object, ctx.error().message);
  auto it = a.snap->index.find(std::string(key));
  if (it == a.snap->index.end()) {
    st.metrics.eval_errors.fetch_add(1, std::memory_order_relaxed);
    return ofrep_error(404, key, "FLAG_NOT_FOUND", fmt::format("flag \"{}\" was not found", key));
  }
  const auto& snap = a.snap->loaded.snapshot;
  auto e = flags::variant(snap, key, *ctx);
  a.snap->counters[it->second]->count(e.enabled);
  Response r;
  r.body.reserve(256);
  ofrep_into(r.body, key, e, snap.document().features[it->second].impression_data);
  return r;
}

Response ofrep_bulk(State& st, const Request& req) {
  Authorized a;
  Response err;
  if (!authorize(st, req, kClient | kFrontend | kAdmin, true, a, err)) return err;
  auto ctx = ofrep_context(req.body);
  if (!ctx.ok()) return ofrep_error(400, "", ctx.error().object, ctx.error().message);
  std::string etag = fmt::format("\"{}:{}:{}\"", a.snap->environment, a.snap->loaded.revision, context_tag(*ctx));
  Response r;
  r.headers.emplace_back("ETag", etag);
  if (etag_matches(req.header("If-None-Match"), etag)) {
    r.status = 304;
    return r;
  }
  const auto& snap = a.snap->loaded.snapshot;
  const auto& features = snap.document().features;
  r.body.reserve(16 + features.size() * 160);
  r.body += "{\"flags\":[";
  for (size_t i = 0; i < features.size(); ++i) {
    auto e = flags::variant(snap, features[i].name, *ctx);
    a.snap->counters[i]->count(e.enabled);
    if (i) r.body += ',';
    ofrep_into(r.body, features[i].name, e, features[i].impression_data);
  }
  r.body += "]}";
  return r;
}

Response ofrep_configuration(State& st, const Request& req) {
  Authorized a;
  Response err;
  if (!authorize(st, req, kClient | kFrontend | kAdmin, false, a, err)) return err;
  Response r;
  r.body = R"({"name":"belay","capabilities":{"cacheInvalidation":{"polling":{"enabled":true,"minPollingIntervalMs":1000}},)"
           R"("flagEvaluation":{"supportedTypes":["boolean"]}}})";
  return r;
}

Response client_features(State& st, const Request& req) {
  Authorized a;
  Response err;
  if (!authorize(st, req, kClient | kAdmin, true, a, err)) return err;
  Response r;
  r.headers.emplace_back("ETag", a.snap->loaded.etag);
  if (etag_matches(req.header("If-None-Match"), a.snap->loaded.etag)) {
    r.status = 304;
    return r;
  }
  r.body = a.snap->loaded.document;
  return r;
}

Response client_register(State& st, const Request& req) {
  Authorized a;
  Response err;
  if (!authorize(st, req, kClient | kAdmin, false, a, err)) return err;
  auto app = parse_register(req.body);
  if (!app.ok()) return bad_request(app.error());
  st.metrics.app_registered(*app, a.token->environment);
  Response r;
  r.status = 202;
  return r;
}

Response client_metrics(State& st, const Request& req) {
  Authorized a;
  Response err;
  if (!authorize(st, req, kClient | kAdmin, true, a, err)) return err;
  auto m = parse_client_metrics(req.body);
  if (!m.ok()) return bad_request(m.error());
  st.metrics.client_report(*m, a.token->environment, a.snap->index);
  Response r;
  r.status = 202;
  return r;
}

}  // namespace

Response error_response(int status, std::string_view error, std::string_view message) {
  Response r;
  r.status = status;
  r.body = error_body(error, message);
  return r;
}

Response dispatch(State& st, const Request& req, Route& route) {
  std::string_view p = req.path;
  const auto& m = req.method;
  bool get = m == "GET" || m == "HEAD", post = m == "POST";
  if (p == "/healthz") {
    route = Route::healthz;
    return get ? healthz(st) : method_not_allowed(req, "GET");
  }
  if (p == "/metrics") {
    route = Route::metrics;
    if (!get) return method_not_allowed(req, "GET");
    Response r;
    r.body = st.metrics.render(st.view());
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    return r;
  }
  if (p == "/api/frontend" || p == "/api/frontend/") {
    route = Route::frontend;
    return get || post ? frontend(st, req, {}) : method_not_allowed(req, "GET, POST");
  }
  if (p.starts_with("/api/frontend/features/") && p.size() > 23) {
    route = Route::frontend_feature;
    return get || post ? frontend(st, req, p.substr(23)) : method_not_allowed(req, "GET, POST");
  }
  if (p == "/ofrep/v1/evaluate/flags") {
    route = Route::ofrep_bulk;
    return post ? ofrep_bulk(st, req) : method_not_allowed(req, "POST");
  }
  if (p.starts_with("/ofrep/v1/evaluate/flags/") && p.size() > 25) {
    route = Route::ofrep_flag;
    return post ? ofrep_flag(st, req, p.substr(25)) : method_not_allowed(req, "POST");
  }
  if (p == "/ofrep/v1/configuration") {
    route = Route::ofrep_configuration;
    return get ? ofrep_configuration(st, req) : method_not_allowed(req, "GET");
  }
  if (p == "/api/client/features") {
    route = Route::client_features;
    return get ? client_features(st, req) : method_not_allowed(req, "GET");
  }
  if (p == "/api/client/register") {
    route = Route::client_register;
    return post ? client_register(st, req) : method_not_allowed(req, "POST");
  }
  if (p == "/api/client/metrics") {
    route = Route::client_metrics;
    return post ? client_metrics(st, req) : method_not_allowed(req, "POST");
  }
  if (p.starts_with("/api/admin/")) {
    route = Route::admin;
    Authorized a;
    Response err;
    if (!authorize(st, req, kAdmin, false, a, err)) return err;
    return admin_route(st, req, *a.token, p.substr(11));
  }
  route = Route::unknown;
  return error_response(404, "not_found", fmt::format("no route {} {}", m, p));
}

}  // namespace belay::serve
