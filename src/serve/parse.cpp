// Request bodies and query strings -> contexts and client reports. Nothing here throws:
// nlohmann's exceptions are caught where they can start, and nesting is bounded before
// parsing so a hostile body costs one linear scan.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "serve/internal.h"

namespace belay::serve {
namespace {

using json = nlohmann::json;

constexpr int kMaxDepth = 32;          // contexts are two levels deep; metrics four
constexpr size_t kMaxToggles = 10000;  // per metrics report

Error bad(const char* code, std::string msg) {
  Error e = Error::usage(std::move(msg));
  e.object = code;
  return e;
}

// Deepest nesting of [ and { outside strings (the parser and json's destructor recurse).
int depth_of(std::string_view s) {
  int d = 0, max = 0;
  bool in_str = false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (in_str) {
      if (c == '\\') ++i;
      else if (c == '"') in_str = false;
    } else if (c == '"') {
      in_str = true;
    } else if (c == '[' || c == '{') {
      if (++d > max) max = d;
    } else if (c == ']' || c == '}') {
      --d;
    }
  }
  return max;
}

Result<json> parse_body(std::string_view body) {
  if (depth_of(body) > kMaxDepth)
    return bad("PARSE_ERROR", fmt::format("the body nests deeper than {} levels", kMaxDepth));
  try {
    return json::parse(body.begin(), body.end());
  } catch (const json::parse_error& e) {
    return bad("PARSE_ERROR", fmt::format("the body is not JSON (byte {}): {}", e.byte, e.what()));
  } catch (const std::exception& e) {
    return bad("PARSE_ERROR", fmt::format("the body is not JSON: {}", e.what()));
  }
}

bool blank(std::string_view body) {
  return body.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

Result<flags::Context> context_of(const json& c) {
  auto r = flags::context_from_json(c);
  if (!r.ok()) return bad("INVALID_CONTEXT", "context: " + r.error().message);
  return r;
}

// The "context" member of an object body ({} when absent or null).
Result<json> context_member(std::string_view body) {
  if (blank(body)) return json::object();
  BELAY_ASSIGN(json j, parse_body(body));
  if (!j.is_object()) return bad("INVALID_BODY", "the body must be a JSON object like {\"context\": {...}}");
  auto it = j.find("context");
  if (it == j.end() || it->is_null()) return json::object();
  if (!it->is_object()) return bad("INVALID_CONTEXT", "\"context\" must be an object");
  return std::move(*it);
}

std::optional<std::string> opt_string(const json& j, const char* key, Error* err) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) {
    *err = bad("INVALID_BODY", fmt::format("\"{}\" must be a string", key));
    return std::nullopt;
  }
  return it->get<std::string>();
}

Result<uint64_t> count_of(const json& v, const std::string& where) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer() && v.get<int64_t>() >= 0) return static_cast<uint64_t>(v.get<int64_t>());
  return bad("INVALID_BODY", fmt::format("{} must be a non-negative integer", where));
}

}  // namespace

Result<nlohmann::json> parse_object_body(std::string_view body) {
  if (blank(body)) return json::object();
  BELAY_ASSIGN(json j, parse_body(body));
  if (!j.is_object()) return bad("INVALID_BODY", "the body must be a JSON object");
  return j;
}

Result<flags::Context> context_from_query(const Params& q) {
  flags::Context c;
  auto set = [](std::string& field, const std::string& v) {
    if (field.empty()) field = v;
  };
  for (auto& [k, v] : q) {
    if (k == "userId") set(c.user_id, v);
    else if (k == "sessionId") set(c.session_id, v);
    else if (k == "remoteAddress") set(c.remote_address, v);
    else if (k == "environment") set(c.environment, v);
    else if (k == "appName") set(c.app_name, v);
    else if (k == "currentTime") set(c.current_time, v);
    else if (k.starts_with("properties[")) {
      if (k.size() < 13 || k.back() != ']')
        return bad("INVALID_CONTEXT", fmt::format("query parameter \"{}\" is not properties[name]", k));
      c.properties.emplace(k.substr(11, k.size() - 12), v);
    } else if (k == "properties") {
      return bad("INVALID_CONTEXT", "query parameter \"properties\" needs a name: properties[name]=value");
    } else if (!k.empty()) {
      c.properties.emplace(k, v);
    }
  }
  return c;
}

Result<flags::Context> frontend_context(std::string_view body) {
  BELAY_ASSIGN(json c, context_member(body));
  return context_of(c);
}

Result<flags::Context> ofrep_context(std::string_view body) {
  BELAY_ASSIGN(json c, context_member(body));
  auto it = c.find("targetingKey");
  if (it != c.end()) {
    if (!it->is_null() && !it->is_string())
      return bad("INVALID_CONTEXT", "context.targetingKey must be a string");
    std::string key = it->is_string() ? it->get<std::string>() : "";
    c.erase(it);
    auto uid = c.find("userId");
    if (!key.empty() && (uid == c.end() || uid->is_null())) c["userId"] = key;
  }
  return context_of(c);
}

Result<ClientApp> parse_register(std::string_view body) {
  BELAY_ASSIGN(json j, parse_body(body));
  if (!j.is_object()) return bad("INVALID_BODY", "the registration must be a JSON object");
  Error err;
  ClientApp a;
  auto app = opt_string(j, "appName", &err);
  if (!err.message.empty()) return err;
  if (!app || app->empty()) return bad("INVALID_BODY", "\"appName\" is required (a non-empty string)");
  a.app_name = *app;
  a.instance_id = opt_string(j, "instanceId", &err).value_or("");
  a.sdk_version = opt_string(j, "sdkVersion", &err).value_or("");
  (void)opt_string(j, "started", &err);
  if (!err.message.empty()) return err;
  if (auto s = j.find("strategies"); s != j.end() && !s->is_null()) {
    if (!s->is_array()) return bad("INVALID_BODY", "\"strategies\" must be an array of strings");
    for (auto& x : *s)
      if (!x.is_string()) return bad("INVALID_BODY", "\"strategies\" must be an array of strings");
  }
  if (auto i = j.find("interval"); i != j.end() && !i->is_null() && !i->is_number())
    return bad("INVALID_BODY", "\"interval\" must be a number (milliseconds)");
  return a;
}

Result<ClientMetrics> parse_client_metrics(std::string_view body) {
  BELAY_ASSIGN(json j, parse_body(body));
  if (!j.is_object()) return bad("INVALID_BODY", "the metrics report must be a JSON object");
  Error err;
  ClientMetrics m;
  auto app = opt_string(j, "appName", &err);
  if (!err.message.empty()) return err;
  if (!app || app->empty()) return bad("INVALID_BODY", "\"appName\" is required (a non-empty string)");
  m.app_name = *app;
  m.instance_id = opt_string(j, "instanceId", &err).value_or("");
  if (!err.message.empty()) return err;
  auto b = j.find("bucket");
  if (b == j.end() || !b->is_object())
    return bad("INVALID_BODY", "\"bucket\" is required: {start, stop, toggles}");
  for (const char* k : {"start", "stop"}) {
    auto t = b->find(k);
    if (t == b->end() || !t->is_string())
      return bad("INVALID_BODY", fmt::format("bucket.{} is required (an ISO 8601 time)", k));
  }
  auto t = b->find("toggles");
  if (t == b->end() || !t->is_object()) return bad("INVALID_BODY", "bucket.toggles is required (an object)");
  if (t->size() > kMaxToggles)
    return bad("INVALID_BODY", fmt::format("bucket.toggles has {} flags; at most {} per report", t->size(), kMaxToggles));
  for (auto& [name, v] : t->items()) {
    std::string where = "bucket.toggles[\"" + name + "\"]";
    if (!v.is_object()) return bad("INVALID_BODY", where + " must be an object {yes, no, variants}");
    ToggleCount tc;
    tc.flag = name;
    if (auto y = v.find("yes"); y != v.end()) { BELAY_ASSIGN(tc.yes, count_of(*y, where + ".yes")); }
    if (auto n = v.find("no"); n != v.end()) { BELAY_ASSIGN(tc.no, count_of(*n, where + ".no")); }
    if (auto vs = v.find("variants"); vs != v.end() && !vs->is_null()) {
      if (!vs->is_object()) return bad("INVALID_BODY", where + ".variants must be an object");
      for (auto& [vn, vc] : vs->items()) {
        BELAY_ASSIGN(uint64_t n, count_of(vc, where + ".variants[\"" + vn + "\"]"));
        tc.variants.emplace_back(vn, n);
      }
    }
    m.toggles.push_back(std::move(tc));
  }
  return m;
}

}  // namespace belay::serve
