// The admin API: the CLI's flag operations over HTTP, each one a flagstore call on the
// server's admin connection, audited with the token's name as actor and the reason from
// the X-Belay-Reason header or the body's "reason".
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "serve/internal.h"

namespace belay::serve {
namespace {

using json = nlohmann::json;

Response json_response(int status, const json& j) {
  Response r;
  r.status = status;
  r.body = j.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

Response store_error(const Error& e, pg::Conn* c) {
  if (!c || !c->ok() || e.sqlstate.starts_with("08"))
    return error_response(503, "database_unreachable", e.message + " (the change was not confirmed; retry)");
  std::string msg = e.message;
  if (!e.hint.empty()) msg += " (hint: " + e.hint + ")";
  if (e.missing) return error_response(404, "not_found", msg);
  if (e.code == ExitCode::usage) return error_response(400, "invalid", msg);
  if (e.code == ExitCode::refused) return error_response(409, "conflict", msg);
  if (e.sqlstate.starts_with("23") || e.sqlstate.starts_with("22")) return error_response(400, "invalid", msg);
  return error_response(500, "store_error", msg);
}

std::vector<std::string_view> segments(std::string_view rest) {
  std::vector<std::string_view> out;
  while (!rest.empty()) {
    auto slash = rest.find('/');
    out.push_back(rest.substr(0, slash));
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  while (!out.empty() && out.back().empty()) out.pop_back();   // a trailing slash
  return out;
}

Response not_allowed(const Request& req, const char* allow) {
  auto r = error_response(405, "method_not_allowed", fmt::format("{} {} is not allowed; use {}", req.method, req.path, allow));
  r.headers.emplace_back("Allow", allow);
  return r;
}

}  // namespace

Response admin_route(State& st, const Request& req, const TokenInfo& tok, std::string_view rest) {
  auto seg = segments(rest);
  const std::string& env = tok.environment;
  std::string_view m = req.method;

  // The body, when the route takes one (an object; empty = {}).
  json body = json::object();
  bool takes_body = m == "POST" || m == "PUT";
  bool raw_body = seg.size() == 1 && seg[0] == "import";   // Unleash's document, passed through
  if (takes_body && !raw_body) {
    auto b = parse_object_body(req.body);
    if (!b.ok()) return error_response(400, b.error().object, b.error().message);
    body = std::move(*b);
  }
  flagstore::Change who{tok.name, std::string(req.header("X-Belay-Reason"))};
  if (who.reason.empty())
    if (auto r = body.find("reason"); r != body.end() && r->is_string()) who.reason = r->get<std::string>();

  std::lock_guard lk(st.admin_mu());
  auto conn = st.admin_conn();
  if (!conn.ok()) return error_response(503, "database_unreachable", conn.error().message);
  pg::Conn& c = **conn;

  auto changed = [&](const Status& s, std::string_view name, int status) -> Response {
    if (!s.ok()) return store_error(s.error(), &c);
    st.metrics.admin_changes.fetch_add(1);
    // The change is committed: answer with the flag as stored, or at least its name.
    try {
      auto shown = flagstore::show(c, name);
      if (shown.ok()) return json_response(status, {{"flag", *shown}, {"environment", env}});
    } catch (const std::exception&) {
    }
    return json_response(status, {{"flag", {{"name", std::string(name)}}}, {"environment", env}});
  };

  if (seg.size() == 1 && seg[0] == "flags") {
    if (m == "GET") {
      auto l = flagstore::list(c, env);
      return l.ok() ? json_response(200, {{"environment", env}, {"flags", *l}}) : store_error(l.error(), &c);
    }
    if (m != "POST") return not_allowed(req, "GET, POST");
    flagstore::NewFlag f;
    try {
      if (!body.contains("name") || !body["name"].is_string())
        return error_response(400, "invalid", "a new flag needs \"name\" (a string)");
      f.name = body["name"].get<std::string>();
      if (body.contains("description")) f.description = body["description"].get<std::string>();
      if (body.contains("type")) f.type = body["type"].get<std::string>();
      if (body.contains("enabled")) f.enabled = body["enabled"].get<bool>();
      if (body.contains("rollout")) {
        if (body["rollout"].is_null()) f.rollout = std::nullopt;
        else f.rollout = body["rollout"].get<int>();
      }
    } catch (const std::exception&) {
      return error_response(400, "invalid",
                            "a new flag is {name: string, description?: string, type?: string, enabled?: bool, "
                            "rollout?: 0..100 or null}");
    }
    return changed(flagstore::create(c, f, env, who), f.name, 201);
  }
  if (seg.size() >= 2 && seg[0] == "flags") {
    std::string name(seg[1]);
    if (seg.size() == 2) {
      if (m == "GET") {
        auto s = flagstore::show(c, name);
        return s.ok() ? json_response(200, *s) : store_error(s.error(), &c);
      }
      if (m == "DELETE") {
        auto s = flagstore::remove(c, name, who);
        if (!s.ok()) return store_error(s.error(), &c);
        st.metrics.admin_changes.fetch_add(1);
        return json_response(200, {{"removed", name}});
      }
      return not_allowed(req, "GET, DELETE");
    }
    if (seg.size() == 3 && (seg[2] == "enable" || seg[2] == "disable")) {
      if (m != "POST") return not_allowed(req, "POST");
      return changed(flagstore::set_enabled(c, name, env, seg[2] == "enable", who), name, 200);
    }
    if (seg.size() == 3 && seg[2] == "rollout") {
      if (m != "POST") return not_allowed(req, "POST");
      auto p = body.find("percentage");
      if (p == body.end() || !p->is_number_integer())
        return error_response(400, "invalid", "rollout needs {\"percentage\": 0..100}");
      auto pct = p->get<int64_t>();
      if (pct < 0 || pct > 100) return error_response(400, "invalid", fmt::format("rollout {} is not a percentage (0..100)", pct));
      return changed(flagstore::set_rollout(c, name, env, static_cast<int>(pct), who), name, 200);
    }
    if (seg.size() == 4 && seg[2] == "overrides") {
      std::string ws(seg[3]);
      if (m == "DELETE") return changed(flagstore::set_override(c, name, env, ws, std::nullopt, who), name, 200);
      if (m != "PUT") return not_allowed(req, "PUT, DELETE");
      auto e = body.find("enabled");
      if (e == body.end() || !e->is_boolean()) return error_response(400, "invalid", "an override needs {\"enabled\": true|false}");
      return changed(flagstore::set_override(c, name, env, ws, e->get<bool>(), who), name, 200);
    }
    if (seg.size() == 3 && seg[2] == "history") {
      if (m != "GET") return not_allowed(req, "GET");
      auto h = flagstore::history(c, name);
      if (!h.ok()) return store_error(h.error(), &c);
      json a = json::array();
      for (auto& e : *h) a.push_back(flagstore::to_json(e));
      return json_response(200, {{"flag", name}, {"history", a}});
    }
  }
  if (seg.size() == 1 && seg[0] == "export") {
    if (m != "GET") return not_allowed(req, "GET");
    std::string format = "client";
    if (req.params)
      if (auto f = req.params->find("format"); f != req.params->end()) format = f->second;
    auto x = flagstore::export_json(c, env, format);
    return x.ok() ? json_response(200, *x) : store_error(x.error(), &c);
  }
  if (seg.size() == 1 && seg[0] == "import") {
    if (m != "POST") return not_allowed(req, "POST");
    auto rep = flagstore::import_unleash(c, req.body, env, who);
    if (!rep.ok()) return store_error(rep.error(), &c);
    st.metrics.admin_changes.fetch_add(1);
    return json_response(200, flagstore::to_json(*rep));
  }
  return error_response(404, "not_found", fmt::format("no admin route {} {}", req.method, req.path));
}

}  // namespace belay::serve
