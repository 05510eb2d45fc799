// belay serve: real server processes against a real database, spoken to over HTTP.
// Status codes of every route, ETag/304, tokens, bad input, agreement with the in-process
// evaluator, an Unleash SDK's request flow, propagation to two servers within 1 s, the kill
// switch, and a stale snapshot served while the database is away. The request parsers
// are also tested directly, with the fuzz corpus replayed.
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <thread>

#include <fmt/format.h>
#include <csignal>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "flags/flags.h"
#include "flagstore/flagstore.h"
#include "serve/serve.h"
#include "support.h"
#include "util/fs.h"

namespace belay {
namespace {

// A server may answer 413 and close before a large body is sent in full; the client then
// writes to a closed socket, which must be an error, not the death of the test process.
const bool kIgnoreSigpipe = [] { std::signal(SIGPIPE, SIG_IGN); return true; }();

using json = nlohmann::json;
using namespace std::chrono_literals;
using test::TempProject;
using test::TestDb;

// A client features document exercising what the frontend and OFREP answers carry:
// rollouts, user ids, segments, constraints, flag and strategy variants with payloads,
// addresses, a dependency, impression data and a disabled flag.
const char* kDocument = R"({"version": 2,
 "segments": [{"id": 1, "name": "paying", "constraints": [{"contextName": "plan", "operator": "IN", "values": ["pro", "team"]}]}],
 "features": [
  {"name": "on-for-all", "enabled": true, "strategies": []},
  {"name": "off", "enabled": false, "strategies": [{"name": "default"}]},
  {"name": "rollout-50", "enabled": true, "strategies": [{"name": "flexibleRollout",
     "parameters": {"rollout": "50", "stickiness": "default", "groupId": "rollout-50"}}]},
  {"name": "users", "enabled": true, "strategies": [{"name": "userWithId", "parameters": {"userIds": "u1,u7,u9"}}]},
  {"name": "paying", "enabled": true, "strategies": [{"name": "default", "segments": [1]}]},
  {"name": "nordic", "enabled": true, "strategies": [{"name": "flexibleRollout",
     "parameters": {"rollout": "100", "stickiness": "userId", "groupId": "nordic"},
     "constraints": [{"contextName": "country", "operator": "IN", "values": ["no", "se"], "caseInsensitive": true}]}]},
  {"name": "colours", "enabled": true, "strategies": [{"name": "default"}], "variants": [
     {"name": "blue", "weight": 500, "weightType": "variable", "stickiness": "default", "payload": {"type": "string", "value": "b\"lue\n"}},
     {"name": "green", "weight": 500, "weightType": "variable", "stickiness": "default", "payload": {"type": "json", "value": "{\"x\": 1}"}}]},
  {"name": "split", "enabled": true, "strategies": [{"name": "flexibleRollout",
     "parameters": {"rollout": "100", "stickiness": "default", "groupId": "split"},
     "variants": [{"name": "a", "weight": 500, "weightType": "variable", "stickiness": "default"},
                  {"name": "b", "weight": 500, "weightType": "variable", "stickiness": "default"}]}]},
  {"name": "office", "enabled": true, "strategies": [{"name": "remoteAddress", "parameters": {"IPs": "10.0.0.0/8, 127.0.0.1"}}]},
  {"name": "child", "enabled": true, "strategies": [], "dependencies": [{"feature": "rollout-50"}]},
  {"name": "watched", "enabled": true, "impressionData": true, "strategies": []}
 ]})";

json parse(const std::string& s) {
  auto j = json::parse(s, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << s;
  return j;
}

int64_t ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
}

// One `belay serve` process on a free port.
class Served {
 public:
  Served(const std::string& url, const TempProject& p, std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"serve", "--listen", "127.0.0.1:0", "--target", url};
    args.insert(args.end(), extra.begin(), extra.end());
    bg_ = test::spawn_belay(args, p.dir());
    std::regex re("listening on http://127\\.0\\.0\\.1:(\\d+)");
    for (int i = 0; i < 600 && port_ == 0; ++i) {
      std::smatch m;
      auto out = bg_.stdout_text();
      if (std::regex_search(out, m, re)) port_ = std::stoi(m[1]);
      else std::this_thread::sleep_for(20ms);
    }
    EXPECT_GT(port_, 0) << "server did not start: " << bg_.stderr_text();
  }
  ~Served() { stop(); }
  int stop() {
    if (bg_.pid <= 0) return -3;
    ::kill(bg_.pid, SIGTERM);
    return bg_.wait();
  }
  int port() const { return port_; }
  std::string stderr_text() const { return bg_.stderr_text(); }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port_);
    c.set_connection_timeout(2);
    c.set_read_timeout(10);
    return c;
  }

 private:
  test::Background bg_;
  int port_ = 0;
};

httplib::Headers auth(const std::string& token) { return {{"Authorization", token}}; }

// A database with the store, the document above in production, and one token per kind.
struct Fixture {
  TestDb db;
  TempProject project{"serve"};
  std::string client, frontend, admin;
  Fixture() {
    auto c = db.connect();
    EXPECT_TRUE(flagstore::install(c).ok());
    auto imp = flagstore::import_unleash(c, kDocument, "production", {"test", "fixture"});
    EXPECT_TRUE(imp.ok()) << (imp.ok() ? "" : imp.error().render());
    auto tok = [&](const char* name, const char* kind) {
      auto t = flagstore::create_token(c, name, kind, "production", {"test", ""});
      EXPECT_TRUE(t.ok()) << (t.ok() ? "" : t.error().render());
      return t.ok() ? *t : std::string();
    };
    client = tok("sdk", "client");
    frontend = tok("web", "frontend");
    admin = tok("ops", "admin");
  }
  flags::Snapshot snapshot() {
    auto c = db.connect();
    auto l = flagstore::load(c, "production");
    EXPECT_TRUE(l.ok()) << (l.ok() ? "" : l.error().render());
    return l.ok() ? l->snapshot : flags::Snapshot();
  }
};

// Polls until pred() holds or `ms` pass; returns the time it took (or -1).
template <class F>
int64_t within(int ms, F pred) {
  auto t0 = std::chrono::steady_clock::now();
  while (ms_since(t0) <= ms) {
    if (pred()) return ms_since(t0);
    std::this_thread::sleep_for(5ms);
  }
  return -1;
}

bool toggle_on(httplib::Client& c, const std::string& token, const std::string& flag) {
  auto r = c.Get(("/api/frontend/features/" + flag).c_str(), auth(token));
  return r && r->status == 200;
}

// ------------------------------------------------------------------- parsing, no server

TEST(ServeParse, QueryContext) {
  serve::Params q{{"userId", "42"}, {"sessionId", "s"}, {"remoteAddress", "10.0.0.1"}, {"appName", "web"},
                  {"environment", "prod"}, {"currentTime", "2026-01-01T00:00:00Z"}, {"properties[plan]", "pro"},
                  {"country", "NO"}, {"userId", "second"}};
  auto c = serve::context_from_query(q);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->user_id, "42");   // the first of a repeated parameter
  EXPECT_EQ(c->session_id, "s");
  EXPECT_EQ(c->remote_address, "10.0.0.1");
  EXPECT_EQ(c->app_name, "web");
  EXPECT_EQ(c->environment, "prod");
  EXPECT_EQ(c->current_time, "2026-01-01T00:00:00Z");
  EXPECT_EQ(c->properties.at("plan"), "pro");
  EXPECT_EQ(c->properties.at("country"), "NO");   // unknown parameters are properties
  for (auto bad : {"properties[]", "properties[x", "properties"}) {
    auto r = serve::context_from_query({{bad, "v"}});
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().object, "INVALID_CONTEXT");
  }
}

TEST(ServeParse, BodyContexts) {
  auto c = serve::frontend_context(R"({"context": {"userId": "7", "properties": {"plan": "pro"}, "n": 3}})");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->user_id, "7");
  EXPECT_EQ(c->properties.at("plan"), "pro");
  EXPECT_EQ(c->properties.at("n"), "3");
  EXPECT_TRUE(serve::frontend_context("").ok());
  EXPECT_TRUE(serve::frontend_context("{}").ok());
  auto o = serve::ofrep_context(R"({"context": {"targetingKey": "u9", "plan": "team"}})");
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->user_id, "u9");
  EXPECT_EQ(o->properties.count("targetingKey"), 0u);
  auto both = serve::ofrep_context(R"({"context": {"targetingKey": "t", "userId": "u"}})");
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(both->user_id, "u");
  struct Case { const char* body; const char* code; };
  for (auto [body, code] : {Case{"{", "PARSE_ERROR"}, Case{"nul", "PARSE_ERROR"}, Case{"[1]", "INVALID_BODY"},
                            Case{R"({"context": 3})", "INVALID_CONTEXT"},
                            Case{R"({"context": {"userId": {"a": 1}}})", "INVALID_CONTEXT"},
                            Case{R"({"context": {"targetingKey": 5}})", "INVALID_CONTEXT"}}) {
    auto r = serve::ofrep_context(body);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.error().object, code) << body;
  }
  std::string deep(100000, '[');
  auto d = serve::frontend_context(deep);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().object, "PARSE_ERROR");
}

TEST(ServeParse, RegisterAndMetricsBodies) {
  auto a = serve::parse_register(R"({"appName": "web", "instanceId": "i1", "sdkVersion": "unleash-client-node:6",
                                     "strategies": ["default"], "started": "2026-01-01T00:00:00Z", "interval": 15000})");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->app_name, "web");
  EXPECT_EQ(a->sdk_version, "unleash-client-node:6");
  for (auto bad : {R"({})", R"({"appName": ""})", R"({"appName": 3})", R"({"appName": "x", "strategies": [1]})",
                   R"({"appName": "x", "interval": "soon"})", R"([])", "x"})
    EXPECT_FALSE(serve::parse_register(bad).ok()) << bad;
  auto m = serve::parse_client_metrics(R"({"appName": "web", "instanceId": "i1", "bucket": {"start": "a", "stop": "b",
      "toggles": {"f": {"yes": 3, "no": 1, "variants": {"blue": 2}}, "g": {"yes": 0, "no": 0}}}})");
  ASSERT_TRUE(m.ok());
  ASSERT_EQ(m->toggles.size(), 2u);
  EXPECT_EQ(m->toggles[0].flag, "f");
  EXPECT_EQ(m->toggles[0].yes, 3u);
  EXPECT_EQ(m->toggles[0].variants.at(0).second, 2u);
  for (auto bad : {R"({"appName": "web"})", R"({"appName": "web", "bucket": {"start": "a", "stop": "b"}})",
                   R"({"appName": "web", "bucket": {"start": "a", "stop": "b", "toggles": {"f": {"yes": -1}}}})",
                   R"({"appName": "web", "bucket": {"start": "a", "stop": "b", "toggles": {"f": {"yes": 1.5}}}})",
                   R"({"appName": "web", "bucket": {"start": "a", "toggles": {}}})",
                   R"({"appName": "web", "bucket": {"start": "a", "stop": "b", "toggles": {"f": 1}}})"})
    EXPECT_FALSE(serve::parse_client_metrics(bad).ok()) << bad;
}

TEST(ServeParse, JsonStringsAreAlwaysValid) {
  std::string out;
  serve::append_json_string(out, std::string("a\"b\\c\n\x01\xff\xc3\xa9\xed\xa0\x80z", 14));
  auto j = json::parse(out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << out;
  EXPECT_EQ(j.get<std::string>(), "a\"b\\c\n\x01\xEF\xBF\xBD\xC3\xA9\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBDz");
}

TEST(ServeParse, FrontendJsonMatchesEvaluator) {
  auto snap = flags::parse_client_features(kDocument);
  ASSERT_TRUE(snap.ok());
  flags::Context ctx;
  ctx.user_id = "u7";
  ctx.properties["plan"] = "pro";
  auto j = parse(serve::frontend_json(*snap, ctx));
  std::set<std::string> got, want;
  for (auto& t : j["toggles"]) got.insert(t["name"]);
  for (auto& f : snap->document().features)
    if (flags::variant(*snap, f.name, ctx).enabled) want.insert(f.name);
  EXPECT_EQ(got, want);
  EXPECT_TRUE(got.count("users") && got.count("paying") && !got.count("off"));
}

// Every input the fuzzer kept, through every parser, without a crash.
TEST(ServeFuzzCorpus, EveryInputParsesWithoutCrashing) {
  auto dir = std::filesystem::path(BELAY_SOURCE_DIR) / "fuzz/corpus/serve";
  ASSERT_TRUE(std::filesystem::is_directory(dir)) << dir;
  auto snap = flags::parse_client_features(kDocument);
  ASSERT_TRUE(snap.ok());
  int n = 0;
  for (auto& e : std::filesystem::directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    auto text = fs::read_file(e.path());
    ASSERT_TRUE(text.ok());
    for (auto* f : {&serve::frontend_context, &serve::ofrep_context}) {
      auto c = (*f)(*text);
      if (c.ok()) EXPECT_FALSE(parse(serve::frontend_json(*snap, *c)).is_discarded());
      else EXPECT_FALSE(c.error().object.empty());
    }
    (void)serve::parse_register(*text);
    (void)serve::parse_client_metrics(*text);
    ++n;
  }
  EXPECT_GT(n, 10);
}

// ------------------------------------------------------------------- a running server

TEST(Serve, HealthzAndMetricsNeedNoToken) {
  Fixture fx;
  Served s(fx.db.url(), fx.project);
  auto c = s.client();
  auto h = c.Get("/healthz");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  auto j = parse(h->body);
  EXPECT_EQ(j["status"], "ok");
  EXPECT_EQ(j["environments"], json::array({"production"}));
  EXPECT_GT(j["revision"]["production"].get<int64_t>(), 0);
  EXPECT_TRUE(j["snapshot_age_ms"]["production"].is_number());
  EXPECT_EQ(h->get_header_value("X-Belay-Snapshot"), "");
  c.Get("/api/frontend?userId=u1", auth(fx.frontend));
  auto m = c.Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->status, 200);
  EXPECT_NE(m->get_header_value("Content-Type").find("text/plain"), std::string::npos);
  for (auto want : {"belay_snapshot_stale 0", "belay_snapshot_revision{environment=\"production\"}",
                    "belay_flag_evaluations_total{environment=\"production\",flag=\"users\",result=\"enabled\"} 1",
                    "belay_flag_evaluations_total{environment=\"production\",flag=\"off\",result=\"disabled\"} 1",
                    "belay_http_requests_total{route=\"frontend\",status=\"200\"} 1",
                    "belay_http_request_duration_seconds_bucket{route=\"frontend\",le=\"+Inf\"} 1",
                    "# TYPE belay_http_request_duration_seconds histogram"})
    EXPECT_NE(m->body.find(want), std::string::npos) << want << "\n" << m->body;
  EXPECT_EQ(c.Post("/healthz", "", "text/plain")->status, 405);
  EXPECT_EQ(s.stop(), 0) << s.stderr_text();   // SIGTERM: a clean stop
}

TEST(Serve, ClientFeaturesWithEtag) {
  Fixture fx;
  Served s(fx.db.url(), fx.project);
  auto c = s.client();
  auto r = c.Get("/api/client/features", auth(fx.client));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto etag = r->get_header_value("ETag");
  EXPECT_FALSE(etag.empty());
  auto doc = parse(r->body);
  EXPECT_EQ(doc["version"], 2);
  EXPECT_EQ(doc["features"].size(), 11u);
  auto again = c.Get("/api/client/features", {{"Authorization", fx.client}, {"If-None-Match", etag}});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 304);
  EXPECT_TRUE(again->body.empty());
  EXPECT_EQ(again->get_header_value("ETag"), etag);
  auto other = c.Get("/api/client/features", {{"Authorization", fx.client}, {"If-None-Match", "\"production:0\""}});
  EXPECT_EQ(other->status, 200);
  // A change gives a new tag, and the old one no longer answers 304.
  auto conn = fx.db.connect();
  ASSERT_TRUE(flagstore::set_enabled(conn, "off", "production", true, {"test", "etag"}).ok());
  EXPECT_GE(within(1000, [&] {
    auto x = c.Get("/api/client/features", {{"Authorization", fx.client}, {"If-None-Match", etag}});
    return x && x->status == 200 && x->get_header_value("ETag") != etag;
  }), 0);
  // Frontend tokens may not read the client API; admin tokens may.
  EXPECT_EQ(c.Get("/api/client/features", auth(fx.frontend))->status, 403);
  EXPECT_EQ(c.Get("/api/client/features", auth(fx.admin))->status, 200);
}

TEST(Serve, Tokens) {
  Fixture fx;
  Served s(fx.db.url(), fx.project);
  auto c = s.client();
  auto none = c.Get("/api/frontend");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 401);
  EXPECT_EQ(parse(none->body)["error"], "unauthorized");
  EXPECT_EQ(c.Get("/api/frontend", auth("frontend:production.nope"))->status, 401);
  EXPECT_EQ(c.Get("/api/frontend", {{"Authorization", "Bearer " + fx.frontend}})->status, 200);
  auto ofrep = c.Post("/ofrep/v1/evaluate/flags", {{"X-API-Key", fx.frontend}}, "{}", "application/json");
  EXPECT_EQ(ofrep->status, 200);
  // Kinds: frontend tokens cannot use the client or admin APIs; client tokens not admin.
  auto wrong = c.Get("/api/admin/flags", auth(fx.frontend));
  EXPECT_EQ(wrong->status, 403);
  EXPECT_EQ(parse(wrong->body)["error"], "forbidden");
  EXPECT_EQ(c.Get("/api/admin/flags", auth(fx.client))->status, 403);
  EXPECT_EQ(c.Post("/api/client/register", auth(fx.frontend), R"({"appName": "x"})", "application/json")->status, 403);
  EXPECT_EQ(c.Get("/api/frontend", auth(fx.client))->status, 200);
  // A revoked token stops working within a second (the token table is announced too).
  auto conn = fx.db.connect();
  ASSERT_TRUE(flagstore::revoke_token(conn, "web", {"test", "leaked"}).ok());
  EXPECT_GE(within(1000, [&] { return c.Get("/api/frontend", auth(fx.frontend))->status == 401; }), 0);
  // A token for an environment this server does not serve.
  ASSERT_TRUE(conn.exec("insert into belay.flag_environments (name) values ('staging')").ok());
  auto st = flagstore::create_token(conn, "stage", "frontend", "staging", {"test", ""});
  ASSERT_TRUE(st.ok());
  Served only(fx.db.url(), fx.project, {"--environment", "production"});
  auto oc = only.client();
  EXPECT_GE(within(1000, [&] { return oc.Get("/api/frontend", auth(*st))->status == 403; }), 0);
}

TEST(Serve, BadInput) {
  Fixture fx;
  Served s(fx.db.url(), fx.project);
  auto c = s.client();
  auto h = auth(fx.admin);
  auto expect_error = [&](const httplib::Result& r, int status, const std::string& error) {
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, status) << r->body;
    auto j = parse(r->body);
    EXPECT_EQ(j["error"], error) << r->body;
    EXPECT_TRUE(j["message"].is_string()) << r->body;
  };
  expect_error(c.Post("/api/frontend", h, "{\"context\": ", "application/json"), 400, "PARSE_ERROR");
  expect_error(c.Post("/api/frontend", h, "[1, 2]", "application/json"), 400, "INVALID_BODY");
  expect_error(c.Post("/api/frontend", h, R"({"context": {"userId": [1]}})", "application/json"), 400, "INVALID_CONTEXT");
  expect_error(c.Post("/api/client/metrics", h, R"({"appName": "x"})", "application/json"), 400, "INVALID_BODY");
  expect_error(c.Post("/api/client/register", h, "not json", "application/json"), 400, "PARSE_ERROR");
  expect_error(c.Get("/api/frontend?properties[=x", h), 400, "INVALID_CONTEXT");
  expect_error(c.Get("/nope", h), 404, "not_found");
  expect_error(c.Get("/api/frontend/features/no-such-flag", h), 404, "not_found");
  expect_error(c.Delete("/api/frontend", h), 405, "method_not_allowed");
  auto wm = c.Get("/ofrep/v1/evaluate/flags", h);
  EXPECT_EQ(wm->status, 405);
  EXPECT_EQ(wm->get_header_value("Allow"), "POST");
  expect_error(c.Post("/api/frontend", h, std::string(2 << 20, ' '), "application/json"), 413, "payload_too_large");
  std::string deep(500000, '[');
  expect_error(c.Post("/api/frontend", h, deep, "application/json"), 400, "PARSE_ERROR");
  // OFREP's own error shapes.
  auto nf = c.Post("/ofrep/v1/evaluate/flags/no-such-flag", h, "{}", "application/json");
  ASSERT_TRUE(nf);
  EXPECT_EQ(nf->status, 404);
  EXPECT_EQ(parse(nf->body), json({{"key", "no-such-flag"}, {"errorCode", "FLAG_NOT_FOUND"},
                                   {"errorDetails", "flag \"no-such-flag\" was not found"}}));
  auto pe = c.Post("/ofrep/v1/evaluate/flags/users", h, "{oops", "application/json");
  EXPECT_EQ(pe->status, 400);
  EXPECT_EQ(parse(pe->body)["errorCode"], "PARSE_ERROR");
  EXPECT_EQ(parse(pe->body)["key"], "users");
  auto ic = c.Post("/ofrep/v1/evaluate/flags", h, R"({"context": {"targetingKey": {}}})", "application/json");
  EXPECT_EQ(ic->status, 400);
  EXPECT_EQ(parse(ic->body)["errorCode"], "INVALID_CONTEXT");
  // A raw garbage request line gets a 400, and the server keeps answering.
  httplib::Client raw("127.0.0.1", s.port());
  auto junk = raw.Get("/healthz", {{"Content-Length", "abc"}});
  EXPECT_EQ(c.Get("/healthz")->status, 200);
  (void)junk;
}

// Frontend (GET and POST) and OFREP (single and bulk) answer what flags::variant answers
// on the same snapshot, for a few hundred contexts.
TEST(Serve, AnswersEqualTheEvaluator) {
  Fixture fx;
  auto snap = fx.snapshot();
  ASSERT_EQ(snap.size(), 11u);
  Served s(fx.db.url(), fx.project);
  auto c = s.client();
  std::mt19937 rng(7);
  const char* plans[] = {"", "free", "pro", "team"};
  const char* countries[] = {"", "NO", "se", "US"};
  const char* addrs[] = {"", "10.1.2.3", "192.168.1.1"};
  int checked = 0;
  for (int i = 0; i < 150; ++i) {
    flags::Context ctx;
    serve::Params q;
    json body = json::object();
    if (rng() % 5) { ctx.user_id = "u" + std::to_string(rng() % 40); q.emplace("userId", ctx.user_id); body["userId"] = ctx.user_id; }
    // Default stickiness falls back to random without a userId or sessionId: always one.
    if (ctx.user_id.empty() || rng() % 2) { ctx.session_id = "s" + std::to_string(rng() % 1000); q.emplace("sessionId", ctx.session_id); body["sessionId"] = ctx.session_id; }
    if (auto p = plans[rng() % 4]; *p) { ctx.properties["plan"] = p; q.emplace("properties[plan]", p); body["properties"]["plan"] = p; }
    if (auto k = countries[rng() % 4]; *k) { ctx.properties["country"] = k; q.emplace("country", k); body["country"] = k; }
    auto addr = addrs[rng() % 3];
    if (*addr) { ctx.remote_address = addr; q.emplace("remoteAddress", addr); body["remoteAddress"] = addr; }
    flags::Context fctx = ctx;   // the frontend API fills in the caller's address
    if (fctx.remote_address.empty()) fctx.remote_address = "127.0.0.1";

    std::map<std::string, flags::Evaluation> want, want_f;
    for (auto& f : snap.document().features) {
      want[f.name] = flags::variant(snap, f.name, ctx);
      want_f[f.name] = flags::variant(snap, f.name, fctx);
    }
    auto check_frontend = [&](const httplib::Result& r) {
      ASSERT_TRUE(r);
      ASSERT_EQ(r->status, 200) << r->body;
      auto j = parse(r->body);
      std::set<std::string> names;
      for (auto& t : j["toggles"]) {
        std::string n = t["name"];
        names.insert(n);
        auto& e = want_f.at(n);
        EXPECT_TRUE(e.enabled) << n;
        EXPECT_EQ(t["enabled"], true);
        EXPECT_EQ(t["variant"]["name"], std::string(e.variant.name)) << n;
        EXPECT_EQ(t["variant"]["enabled"], e.variant.enabled) << n;
        EXPECT_EQ(t["variant"]["feature_enabled"], e.variant.feature_enabled) << n;
        if (e.variant.payload) EXPECT_EQ(t["variant"]["payload"]["value"], std::string(e.variant.payload->value)) << n;
        else EXPECT_FALSE(t["variant"].contains("payload")) << n;
        EXPECT_EQ(t["impressionData"], n == "watched");
      }
      for (auto& [n, e] : want_f) EXPECT_EQ(names.count(n) == 1, e.enabled) << n;
    };
    check_frontend(c.Get("/api/frontend", q, auth(fx.frontend)));
    check_frontend(c.Post("/api/frontend", auth(fx.frontend), json({{"context", body}}).dump(), "application/json"));

    json ob = body;
    if (ob.contains("userId") && rng() % 2) { ob["targetingKey"] = ob["userId"]; ob.erase("userId"); }
    auto bulk = c.Post("/ofrep/v1/evaluate/flags", auth(fx.client), json({{"context", ob}}).dump(), "application/json");
    ASSERT_TRUE(bulk);
    ASSERT_EQ(bulk->status, 200) << bulk->body;
    auto bj = parse(bulk->body);
    ASSERT_EQ(bj["flags"].size(), want.size());
    for (auto& f : bj["flags"]) {
      auto& e = want.at(f["key"]);
      EXPECT_EQ(f["value"], e.enabled) << f;
      EXPECT_EQ(f["variant"], std::string(e.variant.name)) << f;
      EXPECT_EQ(f["reason"], std::string(flags::reason_name(e.reason))) << f;
    }
    auto name = snap.document().features[rng() % snap.size()].name;
    auto one = c.Post(("/ofrep/v1/evaluate/flags/" + name).c_str(), auth(fx.client),
                      json({{"context", ob}}).dump(), "application/json");
    ASSERT_TRUE(one);
    ASSERT_EQ(one->status, 200) << one->body;
    auto oj = parse(one->body);
    EXPECT_EQ(oj["key"], name);
    EXPECT_EQ(oj["value"], want.at(name).enabled);
    EXPECT_EQ(oj["variant"], std::string(want.at(name).variant.name));
    EXPECT_TRUE(oj["metadata"].is_object());
    ++checked;
  }
  EXPECT_EQ(checked, 150);
}

TEST(Serve, OfrepBulkEtag) {
  Fixture fx;
  Served s(fx.db.url(), fx.project);
  auto c = s.client();
  std::string body = R"({"context": {"targetingKey": "u7"}})";
  auto r = c.Post("/ofrep/v1/evaluate/flags", auth(fx.client), body, "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  auto etag = r->get_header_value("ETag");
  ASSERT_FALSE(etag.empty());
  httplib::Headers h{{"Authorization", fx.client}, {"If-None-Match", etag}};
  auto same = c.Post("/ofrep/v1/evaluate/flags", h, body, "application/json");
  EXPECT_EQ(same->status, 304);
  EXPECT_TRUE(same->body.empty());
  // Another context is another answer.
  auto other = c.Post("/ofrep/v1/evaluate/flags", h, R"({"context": {"targetingKey": "u8"}})", "application/json");
  EXPECT_EQ(other->status, 200);
  EXPECT_NE(other->get_header_value("ETag"), etag);
  // A change to the flags is another answer for the same context.
  auto conn = fx.db.connect();
  ASSERT_TRUE(flagstore::set_enabled(conn, "users", "production", false, {"test", ""}).ok());
  EXPECT_GE(within(1000, [&] { return c.Post("/ofrep/v1/evaluate/flags", h, body, "application/json")->status == 200; }), 0);
}

// What an Unleash server-side SDK does: register, fetch features (then poll with the
// ETag), send metrics; the server records the app and the counts.
TEST(Serve, UnleashSdkFlow) {
  Fixture fx;
  Served s(fx.db.url(), fx.project);
  auto c = s.client();
  httplib::Headers h{{"Authorization", fx.client}, {"UNLEASH-APPNAME", "checkout"}, {"UNLEASH-INSTANCEID", "pod-1"}};
  auto reg = c.Post("/api/client/register", h,
                    R"({"appName": "checkout", "instanceId": "pod-1", "sdkVersion": "unleash-client-node:6.1.0",
                        "strategies": ["default", "flexibleRollout"], "started": "2026-11-21T10:00:00Z", "interval": 15000})",
                    "application/json");
  ASSERT_TRUE(reg);
  EXPECT_EQ(reg->status, 202) << reg->body;
  auto f = c.Get("/api/client/features", h);
  ASSERT_EQ(f->status, 200);
  auto snap = flags::parse_client_features(f->body);
  ASSERT_TRUE(snap.ok()) << snap.error().render();   // what the SDK gets is a valid document
  h.emplace("If-None-Match", f->get_header_value("ETag"));
  EXPECT_EQ(c.Get("/api/client/features", h)->status, 304);
  auto met = c.Post("/api/client/metrics", h,
                    R"({"appName": "checkout", "instanceId": "pod-1", "bucket": {"start": "2026-11-21T10:00:00Z",
                        "stop": "2026-11-21T10:01:00Z", "toggles": {"users": {"yes": 5, "no": 2},
                        "colours": {"yes": 4, "no": 0, "variants": {"blue": 3, "green": 1}}, "ghost": {"yes": 1, "no": 0}}}})",
                    "application/json");
  ASSERT_TRUE(met);
  EXPECT_EQ(met->status, 202) << met->body;
  auto m = c.Get("/metrics")->body;
  for (auto want : {"belay_registered_apps 1",
                    "belay_client_app_registrations_total{app=\"checkout\",instance=\"pod-1\",environment=\"production\",sdk=\"unleash-client-node:6.1.0\"} 1",
                    "belay_client_flag_evaluations_total{environment=\"production\",flag=\"users\",result=\"yes\"} 5",
                    "belay_client_flag_evaluations_total{environment=\"production\",flag=\"users\",result=\"no\"} 2",
                    "belay_client_variant_evaluations_total{environment=\"production\",flag=\"colours\",variant=\"blue\"} 3"})
    EXPECT_NE(m.find(want), std::string::npos) << want << "\n" << m;
  EXPECT_EQ(m.find("flag=\"ghost\""), std::string::npos);   // unknown flags are not kept
}

TEST(Serve, AdminApi) {
  Fixture fx;
  Served s(fx.db.url(), fx.project);
  auto c = s.client();
  httplib::Headers h{{"Authorization", fx.admin}, {"X-Belay-Reason", "canary for beta"}};
  auto created = c.Post("/api/admin/flags", h, R"({"name": "docs.canvas-mode", "description": "canvas", "enabled": true, "rollout": 0})",
                        "application/json");
  ASSERT_TRUE(created);
  ASSERT_EQ(created->status, 201) << created->body;
  EXPECT_EQ(c.Post("/api/admin/flags", h, R"({"name": "docs.canvas-mode"})", "application/json")->status, 400);
  EXPECT_EQ(c.Post("/api/admin/flags", h, R"({"description": "no name"})", "application/json")->status, 400);
  auto list = c.Get("/api/admin/flags", h);
  ASSERT_EQ(list->status, 200);
  EXPECT_EQ(parse(list->body)["flags"].size(), 12u);
  auto show = c.Get("/api/admin/flags/docs.canvas-mode", h);
  ASSERT_EQ(show->status, 200);
  EXPECT_EQ(parse(show->body)["name"], "docs.canvas-mode");
  EXPECT_EQ(c.Get("/api/admin/flags/no-such", h)->status, 404);
  EXPECT_EQ(c.Post("/api/admin/flags/no-such/enable", h, "", "application/json")->status, 404);
  // Rollout to 100 through the API: served within a second.
  auto ro = c.Post("/api/admin/flags/docs.canvas-mode/rollout", h, R"({"percentage": 100})", "application/json");
  ASSERT_EQ(ro->status, 200) << ro->body;
  EXPECT_GE(within(1000, [&] { return toggle_on(c, fx.frontend, "docs.canvas-mode"); }), 0);
  EXPECT_EQ(c.Post("/api/admin/flags/docs.canvas-mode/rollout", h, R"({"percentage": 101})", "application/json")->status, 400);
  EXPECT_EQ(c.Post("/api/admin/flags/docs.canvas-mode/rollout", h, R"({"pct": 5})", "application/json")->status, 400);
  // Workspace override off for one workspace, then removed.
  auto ov = c.Put("/api/admin/flags/docs.canvas-mode/overrides/acme", h, R"({"enabled": false})", "application/json");
  ASSERT_EQ(ov->status, 200) << ov->body;
  EXPECT_GE(within(1000, [&] {
    return c.Get("/api/frontend/features/docs.canvas-mode?properties[workspace]=acme", auth(fx.frontend))->status == 404;
  }), 0);
  EXPECT_TRUE(toggle_on(c, fx.frontend, "docs.canvas-mode"));
  EXPECT_EQ(c.Put("/api/admin/flags/docs.canvas-mode/overrides/acme", h, R"({"enabled": "no"})", "application/json")->status, 400);
  EXPECT_EQ(c.Delete("/api/admin/flags/docs.canvas-mode/overrides/acme", h)->status, 200);
  auto gone = c.Delete("/api/admin/flags/docs.canvas-mode/overrides/acme", h);  // nothing left to remove
  EXPECT_EQ(gone->status, 404) << gone->body;
  EXPECT_EQ(parse(gone->body)["error"], "not_found") << gone->body;
  EXPECT_GE(within(1000, [&] {
    return c.Get("/api/frontend/features/docs.canvas-mode?properties[workspace]=acme", auth(fx.frontend))->status == 200;
  }), 0);
  // Audited: actor = the token's name, reason from the header or the body.
  ASSERT_EQ(c.Post("/api/admin/flags/docs.canvas-mode/disable", auth(fx.admin), R"({"reason": "kill it"})", "application/json")->status, 200);
  auto hist = c.Get("/api/admin/flags/docs.canvas-mode/history", h);
  ASSERT_EQ(hist->status, 200);
  auto hj = parse(hist->body)["history"];
  ASSERT_GE(hj.size(), 4u);
  std::set<std::string> reasons;
  for (auto& e : hj) {
    EXPECT_EQ(e["actor"], "ops") << e;
    if (e["reason"].is_string()) reasons.insert(e["reason"]);
  }
  EXPECT_TRUE(reasons.count("canary for beta") && reasons.count("kill it"));
  // Export and import round trip.
  auto ex = c.Get("/api/admin/export?format=client", h);
  ASSERT_EQ(ex->status, 200);
  EXPECT_EQ(parse(ex->body)["features"].size(), 12u);
  EXPECT_EQ(c.Get("/api/admin/export?format=yaml", h)->status, 400);
  auto imp = c.Post("/api/admin/import", h, R"({"version": 2, "features": [{"name": "imported", "enabled": true, "strategies": []}]})",
                    "application/json");
  ASSERT_EQ(imp->status, 200) << imp->body;
  EXPECT_EQ(c.Post("/api/admin/import", h, "{\"nope\": 1}", "application/json")->status, 400);
  EXPECT_GE(within(1000, [&] { return toggle_on(c, fx.frontend, "imported"); }), 0);
  auto del = c.Delete("/api/admin/flags/imported", h);
  EXPECT_EQ(del->status, 200) << del->body;
  EXPECT_EQ(c.Get("/api/admin/flags/imported", h)->status, 404);
  EXPECT_EQ(c.Patch("/api/admin/flags/users", h, "{}", "application/json")->status, 405);
  EXPECT_EQ(c.Get("/api/admin/nothing", h)->status, 404);
}

// A change made with plain SQL, then one through the admin API, reach two running servers
// within a second each; so does the kill switch.
TEST(Serve, PropagatesToTwoServersWithinOneSecond) {
  Fixture fx;
  Served a(fx.db.url(), fx.project), b(fx.db.url(), fx.project);
  auto ca = a.client(), cb = b.client();
  ASSERT_TRUE(toggle_on(ca, fx.frontend, "on-for-all"));
  ASSERT_TRUE(toggle_on(cb, fx.frontend, "on-for-all"));
  auto conn = fx.db.connect();
  // 1. plain SQL, as seed 000 kills a flag.
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(conn.exec("update belay.flag_states set enabled = false where flag = 'on-for-all' and environment = 'production'").ok());
  auto sql_a = within(1000, [&] { return !toggle_on(ca, fx.frontend, "on-for-all"); });
  auto sql_b = within(1000 - static_cast<int>(ms_since(t0)), [&] { return !toggle_on(cb, fx.frontend, "on-for-all"); });
  EXPECT_GE(sql_a, 0);
  EXPECT_GE(sql_b, 0);
  EXPECT_LE(ms_since(t0), 1000);
  // 2. the admin API of server a; server b hears it through the database.
  t0 = std::chrono::steady_clock::now();
  auto en = ca.Post("/api/admin/flags/on-for-all/enable", auth(fx.admin), "", "application/json");
  ASSERT_EQ(en->status, 200) << en->body;
  EXPECT_GE(within(1000, [&] { return toggle_on(ca, fx.frontend, "on-for-all"); }), 0);
  EXPECT_GE(within(1000 - static_cast<int>(ms_since(t0)), [&] { return toggle_on(cb, fx.frontend, "on-for-all"); }), 0);
  EXPECT_LE(ms_since(t0), 1000);
  // 3. the kill switch through the store (what `belay flags disable` calls).
  t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(flagstore::set_enabled(conn, "users", "production", false, {"test", "incident"}).ok());
  auto ka = within(1000, [&] { return !toggle_on(ca, fx.frontend, "users") ; });
  EXPECT_GE(ka, 0);
  EXPECT_GE(within(1000 - static_cast<int>(ms_since(t0)), [&] {
    auto r = cb.Post("/ofrep/v1/evaluate/flags/users", auth(fx.client), R"({"context": {"targetingKey": "u1"}})", "application/json");
    return r && r->status == 200 && parse(r->body)["reason"] == "DISABLED";
  }), 0);
  EXPECT_LE(ms_since(t0), 1000);
}

// The database goes away: the server keeps answering from its last snapshot and says so;
// when the database is back, it reconnects, reloads and follows changes again.
TEST(Serve, StaleSnapshotWhileDatabaseIsAway) {
  Fixture fx;
  Served s(fx.db.url(), fx.project);
  auto c = s.client();
  ASSERT_TRUE(toggle_on(c, fx.frontend, "users") == false);
  ASSERT_EQ(c.Get("/healthz")->status, 200);
  auto admin = pg::Conn::open(test::cluster_url("postgres"), "serve_test admin");
  ASSERT_TRUE(admin.ok());
  auto dbq = pg::quote_ident(fx.db.name()), dbl = pg::quote_literal(fx.db.name());
  // No new connections to this database, then end the server's.
  ASSERT_TRUE(admin->exec("alter database " + dbq + " allow_connections false").ok());
  ASSERT_TRUE(admin->query("select pg_terminate_backend(pid) from pg_stat_activity where datname = " + dbl +
                           " and pid <> pg_backend_pid()").ok());
  EXPECT_GE(within(2000, [&] { return c.Get("/healthz")->status == 503; }), 0);
  auto h = c.Get("/healthz");
  auto hj = parse(h->body);
  EXPECT_EQ(hj["status"], "stale");
  EXPECT_EQ(hj["database"], "unreachable");
  EXPECT_TRUE(hj["since"].is_string());
  EXPECT_EQ(hj["revision"]["production"].is_number(), true);
  auto f = c.Get("/api/frontend?userId=u1", auth(fx.frontend));
  ASSERT_TRUE(f);
  EXPECT_EQ(f->status, 200);
  EXPECT_EQ(f->get_header_value("X-Belay-Snapshot"), "stale");
  EXPECT_NE(f->body.find("\"users\""), std::string::npos);
  EXPECT_NE(c.Get("/metrics")->body.find("belay_snapshot_stale 1"), std::string::npos);
  EXPECT_EQ(c.Get("/api/admin/flags", auth(fx.admin))->status, 503);
  // Back: reconnects (backoff at most 2 s), reloads, and follows changes again.
  ASSERT_TRUE(admin->exec("alter database " + dbq + " allow_connections true").ok());
  EXPECT_GE(within(5000, [&] { return c.Get("/healthz")->status == 200; }), 0);
  EXPECT_EQ(c.Get("/api/frontend?userId=u1", auth(fx.frontend))->get_header_value("X-Belay-Snapshot"), "");
  auto conn = fx.db.connect();
  ASSERT_TRUE(flagstore::set_enabled(conn, "users", "production", false, {"test", ""}).ok());
  EXPECT_GE(within(1000, [&] {
    return c.Get("/api/frontend/features/users?userId=u1", auth(fx.frontend))->status == 404;
  }), 0);
  EXPECT_NE(c.Get("/metrics")->body.find("belay_database_reconnects_total 1"), std::string::npos);
}

TEST(Serve, RefusesToStartWithoutDatabaseOrPort) {
  TempProject p("serve-bad");
  auto r = test::run_belay({"serve", "--listen", "nonsense", "--target", "postgres://127.0.0.1:1/x"}, p.dir());
  EXPECT_EQ(r.exit_code, 2) << r.err;
  auto d = test::run_belay({"serve", "--listen", "127.0.0.1:0", "--target", "postgres://127.0.0.1:1/x"}, p.dir());
  EXPECT_EQ(d.exit_code, 1) << d.err;
}

}  // namespace
}  // namespace belay
