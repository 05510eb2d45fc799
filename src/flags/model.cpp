// Unleash's client features document and context <-> the model in flags.h. nlohmann
// throws on malformed text; that is caught here and becomes an Error with line:column.
// Known fields of the wrong type are errors naming their path; unknown fields are
// ignored (Unleash adds fields over time); null stands for absent everywhere.
#include <fmt/format.h>

#include "flags/flags.h"

namespace belay::flags {

using nlohmann::json;

namespace {

Error bad(const std::string& path, const std::string& what) {
  return Error::usage(fmt::format("{}: {}", path, what))
      .with_object(path)
      .with_next("fix the document: it must be Unleash's client features format "
                 "{\"version\", \"features\": [...], \"segments\": [...]} as /api/client/features serves it");
}

std::string type_of(const json& j) { return j.type_name(); }

// Text of a scalar the way JavaScript's String(x) would print it; nullopt for objects/arrays.
std::optional<std::string> scalar_text(const json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_boolean()) return j.get<bool>() ? "true" : "false";
  if (j.is_number_integer() || j.is_number_unsigned()) return j.dump();
  if (j.is_number_float()) {
    double d = j.get<double>();
    if (d == static_cast<double>(static_cast<int64_t>(d)) && d > -9.0e15 && d < 9.0e15)
      return std::to_string(static_cast<int64_t>(d));  // 12.0 prints as 12 in JavaScript
    return j.dump();
  }
  return std::nullopt;
}

// Field readers: absent or null leaves `out` alone.
Status get_string(const json& o, const char* key, const std::string& path, std::string& out, bool required = false) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) {
    if (required) return bad(path, fmt::format("\"{}\" is required", key));
    return ok_status();
  }
  if (!it->is_string()) return bad(path + "." + key, "must be a string, is " + type_of(*it));
  out = it->get<std::string>();
  return ok_status();
}

Status get_opt_string(const json& o, const char* key, const std::string& path, std::optional<std::string>& out) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return ok_status();
  if (!it->is_string()) return bad(path + "." + key, "must be a string, is " + type_of(*it));
  out = it->get<std::string>();
  return ok_status();
}

Status get_bool(const json& o, const char* key, const std::string& path, bool& out) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return ok_status();
  if (!it->is_boolean()) return bad(path + "." + key, "must be true or false, is " + type_of(*it));
  out = it->get<bool>();
  return ok_status();
}

// An array (or absent/null = empty); calls fn(element, element_path) for each.
template <typename Fn>
Status each(const json& o, const char* key, const std::string& path, Fn fn) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return ok_status();
  if (!it->is_array()) return bad(path + "." + key, "must be an array, is " + type_of(*it));
  for (size_t i = 0; i < it->size(); ++i) BELAY_TRY(fn((*it)[i], fmt::format("{}.{}[{}]", path, key, i)));
  return ok_status();
}

Status string_list(const json& o, const char* key, const std::string& path, std::vector<std::string>& out) {
  return each(o, key, path, [&](const json& v, const std::string& p) -> Status {
    auto t = scalar_text(v);
    if (!t || v.is_null()) return bad(p, "must be a string, is " + type_of(v));
    out.push_back(std::move(*t));
    return ok_status();
  });
}

Status require_object(const json& j, const std::string& path) {
  if (!j.is_object()) return bad(path, "must be an object, is " + type_of(j));
  return ok_status();
}

Result<Constraint> constraint_from(const json& j, const std::string& path) {
  BELAY_TRY(require_object(j, path));
  Constraint c;
  BELAY_TRY(get_string(j, "contextName", path, c.context_name, true));
  BELAY_TRY(get_string(j, "operator", path, c.op, true));
  BELAY_TRY(string_list(j, "values", path, c.values));
  if (auto it = j.find("value"); it != j.end() && !it->is_null()) {
    auto t = scalar_text(*it);
    if (!t) return bad(path + ".value", "must be a string, is " + type_of(*it));
    c.value = std::move(*t);
  }
  BELAY_TRY(get_bool(j, "inverted", path, c.inverted));
  BELAY_TRY(get_bool(j, "caseInsensitive", path, c.case_insensitive));
  return c;
}

Status constraints_from(const json& o, const std::string& path, std::vector<Constraint>& out) {
  return each(o, "constraints", path, [&](const json& v, const std::string& p) -> Status {
    BELAY_ASSIGN(auto c, constraint_from(v, p));
    out.push_back(std::move(c));
    return ok_status();
  });
}

Result<VariantDef> variant_from(const json& j, const std::string& path) {
  BELAY_TRY(require_object(j, path));
  VariantDef v;
  BELAY_TRY(get_string(j, "name", path, v.name, true));
  if (auto it = j.find("weight"); it != j.end() && !it->is_null()) {
    if (!it->is_number_integer() && !it->is_number_unsigned())
      return bad(path + ".weight", "must be an integer, is " + type_of(*it));
    int64_t w = it->get<int64_t>();
    if (w < 0 || w > 1000000) return bad(path + ".weight", fmt::format("must be between 0 and 1000000, is {}", w));
    v.weight = static_cast<int>(w);
  }
  BELAY_TRY(get_string(j, "weightType", path, v.weight_type));
  BELAY_TRY(get_string(j, "stickiness", path, v.stickiness));
  if (auto it = j.find("payload"); it != j.end() && !it->is_null()) {
    const std::string p = path + ".payload";
    BELAY_TRY(require_object(*it, p));
    Payload pl;
    BELAY_TRY(get_string(*it, "type", p, pl.type, true));
    if (auto val = it->find("value"); val != it->end() && !val->is_null()) {
      // Unleash sends text; a JSON value given directly is kept as its JSON text.
      pl.value = val->is_string() ? val->get<std::string>() : val->dump();
    }
    v.payload = std::move(pl);
  }
  BELAY_TRY(each(j, "overrides", path, [&](const json& o, const std::string& p) -> Status {
    BELAY_TRY(require_object(o, p));
    Override ov;
    BELAY_TRY(get_string(o, "contextName", p, ov.context_name, true));
    BELAY_TRY(string_list(o, "values", p, ov.values));
    v.overrides.push_back(std::move(ov));
    return ok_status();
  }));
  return v;
}

Status variants_from(const json& o, const std::string& path, std::vector<VariantDef>& out) {
  int64_t total = 0;
  BELAY_TRY(each(o, "variants", path, [&](const json& v, const std::string& p) -> Status {
    BELAY_ASSIGN(auto d, variant_from(v, p));
    total += d.weight;
    out.push_back(std::move(d));
    return ok_status();
  }));
  // Unleash's weights add up to 1000; this bound keeps bucket arithmetic in 32 bits.
  if (total > 1000000000) return bad(path + ".variants", fmt::format("weights add up to {}, more than 1000000000", total));
  return ok_status();
}

Result<Strategy> strategy_from(const json& j, const std::string& path) {
  BELAY_TRY(require_object(j, path));
  Strategy s;
  BELAY_TRY(get_string(j, "name", path, s.name, true));
  BELAY_TRY(get_opt_string(j, "title", path, s.title));
  BELAY_TRY(get_bool(j, "disabled", path, s.disabled));
  if (auto it = j.find("parameters"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) return bad(path + ".parameters", "must be an object, is " + type_of(*it));
    for (auto p = it->begin(); p != it->end(); ++p) {
      if (p->is_null()) continue;
      auto t = scalar_text(*p);
      if (!t) return bad(path + ".parameters." + p.key(), "must be a string, is " + type_of(*p));
      s.parameters[p.key()] = std::move(*t);
    }
  }
  BELAY_TRY(constraints_from(j, path, s.constraints));
  BELAY_TRY(each(j, "segments", path, [&](const json& v, const std::string& p) -> Status {
    if (!v.is_number_integer() && !v.is_number_unsigned()) return bad(p, "must be a segment id (an integer), is " + type_of(v));
    s.segments.push_back(v.get<int64_t>());
    return ok_status();
  }));
  BELAY_TRY(variants_from(j, path, s.variants));
  return s;
}

Result<Feature> feature_from(const json& j, const std::string& path) {
  BELAY_TRY(require_object(j, path));
  Feature f;
  BELAY_TRY(get_string(j, "name", path, f.name, true));
  BELAY_TRY(get_opt_string(j, "description", path, f.description));
  BELAY_TRY(get_string(j, "type", path, f.type));
  BELAY_TRY(get_string(j, "project", path, f.project));
  BELAY_TRY(get_bool(j, "enabled", path, f.enabled));
  BELAY_TRY(get_bool(j, "stale", path, f.stale));
  BELAY_TRY(get_bool(j, "impressionData", path, f.impression_data));
  BELAY_TRY(each(j, "strategies", path, [&](const json& v, const std::string& p) -> Status {
    BELAY_ASSIGN(auto s, strategy_from(v, p));
    f.strategies.push_back(std::move(s));
    return ok_status();
  }));
  BELAY_TRY(variants_from(j, path, f.variants));
  BELAY_TRY(each(j, "dependencies", path, [&](const json& v, const std::string& p) -> Status {
    BELAY_TRY(require_object(v, p));
    Dependency d;
    BELAY_TRY(get_string(v, "feature", p, d.feature, true));
    if (auto it = v.find("enabled"); it != v.end() && !it->is_null()) {
      if (!it->is_boolean()) return bad(p + ".enabled", "must be true or false, is " + type_of(*it));
      d.enabled = it->get<bool>();
    }
    if (auto it = v.find("variants"); it != v.end() && !it->is_null()) {
      d.variants.emplace();
      BELAY_TRY(string_list(v, "variants", p, *d.variants));
    }
    f.dependencies.push_back(std::move(d));
    return ok_status();
  }));
  return f;
}

json constraint_json(const Constraint& c) {
  json j = {{"contextName", c.context_name}, {"operator", c.op}, {"values", c.values},
            {"inverted", c.inverted}, {"caseInsensitive", c.case_insensitive}};
  if (c.value) j["value"] = *c.value;
  return j;
}

json constraints_json(const std::vector<Constraint>& cs) {
  json a = json::array();
  for (const auto& c : cs) a.push_back(constraint_json(c));
  return a;
}

json variants_json(const std::vector<VariantDef>& vs) {
  json a = json::array();
  for (const auto& v : vs) {
    json j = {{"name", v.name}, {"weight", v.weight}};
    if (!v.weight_type.empty()) j["weightType"] = v.weight_type;
    if (!v.stickiness.empty()) j["stickiness"] = v.stickiness;
    if (v.payload) j["payload"] = {{"type", v.payload->type}, {"value", v.payload->value}};
    if (!v.overrides.empty()) {
      json o = json::array();
      for (const auto& ov : v.overrides) o.push_back({{"contextName", ov.context_name}, {"values", ov.values}});
      j["overrides"] = std::move(o);
    }
    a.push_back(std::move(j));
  }
  return a;
}

}  // namespace

namespace {

Result<Document> document_from(const json& j) {
  if (!j.is_object()) return bad("$", "the document must be a JSON object, is " + type_of(j));
  if (!j.contains("features"))
    return bad("$", "no \"features\" array: not a client features document")
        .with_next("export it from Unleash's /api/client/features (Unleash's export format has "
                   "\"features\" too, with strategies under \"featureStrategies\")");
  Document d;
  if (auto it = j.find("version"); it != j.end() && !it->is_null()) {
    if (!it->is_number_integer() && !it->is_number_unsigned()) return bad("$.version", "must be an integer, is " + type_of(*it));
    d.version = it->get<int>();
  }
  BELAY_TRY(each(j, "features", "$", [&](const json& v, const std::string& p) -> Status {
    BELAY_ASSIGN(auto f, feature_from(v, p));
    d.features.push_back(std::move(f));
    return ok_status();
  }));
  BELAY_TRY(each(j, "segments", "$", [&](const json& v, const std::string& p) -> Status {
    BELAY_TRY(require_object(v, p));
    Segment s;
    auto id = v.find("id");
    if (id == v.end() || !(id->is_number_integer() || id->is_number_unsigned()))
      return bad(p + ".id", "must be an integer segment id");
    s.id = id->get<int64_t>();
    BELAY_TRY(get_opt_string(v, "name", p, s.name));
    BELAY_TRY(constraints_from(v, p, s.constraints));
    d.segments.push_back(std::move(s));
    return ok_status();
  }));
  return d;
}

}  // namespace

// A json value built in code may still hold what nlohmann throws on (invalid UTF-8 when a
// payload is dumped): the public entry points catch it.
Result<Document> document_from_json(const json& j) {
  try {
    return document_from(j);
  } catch (const std::exception& e) {
    return Error::usage(fmt::format("the client features document could not be read: {}", e.what()));
  }
}

namespace {

// Parses text, turning nlohmann's exception into an Error with line:column.
Result<json> parse_text(std::string_view text, const char* what) {
  try {
    return json::parse(text.begin(), text.end());
  } catch (const json::parse_error& e) {
    // e.byte is the 1-based offset where parsing stopped.
    size_t upto = std::min(e.byte == 0 ? 0 : e.byte - 1, text.size());
    int line = 1, col = 1;
    for (size_t i = 0; i < upto; ++i) {
      if (text[i] == '\n') { ++line; col = 1; } else { ++col; }
    }
    std::string msg = e.what();
    if (auto p = msg.find("parse error"); p != std::string::npos) msg = msg.substr(p);
    Error err = Error::usage(fmt::format("{} is not valid JSON at line {}, column {}: {}", what, line, col, msg));
    err.line = line;  // the caller knows the file name and may set it
    err.column = col;
    return std::move(err)
        .with_next("fix the JSON syntax at that line and column");
  } catch (const std::exception& e) {
    return Error::usage(fmt::format("{} could not be read: {}", what, e.what()));
  }
}

}  // namespace

Result<Snapshot> parse_client_features(std::string_view text) {
  BELAY_ASSIGN(auto j, parse_text(text, "the client features document"));
  BELAY_ASSIGN(auto d, document_from_json(j));
  return Snapshot::compile(std::move(d));
}

json to_json(const Document& d) {
  json features = json::array();
  for (const auto& f : d.features) {
    json strategies = json::array();
    for (const auto& s : f.strategies) {
      json js = {{"name", s.name}, {"parameters", s.parameters}, {"constraints", constraints_json(s.constraints)},
                 {"segments", s.segments}, {"variants", variants_json(s.variants)}};
      if (s.title) js["title"] = *s.title;
      if (s.disabled) js["disabled"] = true;
      strategies.push_back(std::move(js));
    }
    json jf = {{"name", f.name}, {"enabled", f.enabled}, {"stale", f.stale},
               {"impressionData", f.impression_data}, {"strategies", std::move(strategies)},
               {"variants", variants_json(f.variants)}};
    jf["description"] = f.description ? json(*f.description) : json(nullptr);
    if (!f.type.empty()) jf["type"] = f.type;
    if (!f.project.empty()) jf["project"] = f.project;
    if (!f.dependencies.empty()) {
      json deps = json::array();
      for (const auto& dep : f.dependencies) {
        json jd = {{"feature", dep.feature}};
        if (dep.enabled) jd["enabled"] = *dep.enabled;
        if (dep.variants) jd["variants"] = *dep.variants;
        deps.push_back(std::move(jd));
      }
      jf["dependencies"] = std::move(deps);
    }
    features.push_back(std::move(jf));
  }
  json segments = json::array();
  for (const auto& s : d.segments) {
    json js = {{"id", s.id}, {"constraints", constraints_json(s.constraints)}};
    if (s.name) js["name"] = *s.name;
    segments.push_back(std::move(js));
  }
  return {{"version", d.version}, {"features", std::move(features)}, {"segments", std::move(segments)}};
}

json to_client_features(const Snapshot& s) { return to_json(s.document()); }

namespace {

Result<Context> context_from(const json& j) {
  if (!j.is_object()) return Error::usage("the context must be a JSON object, is " + std::string(j.type_name()))
      .with_next("pass {\"userId\": ..., \"properties\": {...}}");
  Context c;
  auto text = [](const json& v, const std::string& path) -> Result<std::optional<std::string>> {
    if (v.is_null()) return std::optional<std::string>();
    auto t = scalar_text(v);
    if (!t) return Error::usage(fmt::format("context.{} must be a string, is {}", path, v.type_name()))
        .with_object("context." + path);
    return std::optional<std::string>(std::move(*t));
  };
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    if (k == "properties") {
      if (it->is_null()) continue;
      if (!it->is_object()) return Error::usage(fmt::format("context.properties must be an object, is {}", it->type_name()))
          .with_object("context.properties");
      for (auto p = it->begin(); p != it->end(); ++p) {
        BELAY_ASSIGN(auto v, text(*p, "properties." + p.key()));
        if (v) c.properties[p.key()] = std::move(*v);
      }
      continue;
    }
    BELAY_ASSIGN(auto v, text(*it, k));
    if (!v) continue;
    if (k == "userId") c.user_id = std::move(*v);
    else if (k == "sessionId") c.session_id = std::move(*v);
    else if (k == "remoteAddress") c.remote_address = std::move(*v);
    else if (k == "environment") c.environment = std::move(*v);
    else if (k == "appName") c.app_name = std::move(*v);
    else if (k == "currentTime") c.current_time = std::move(*v);
    else c.properties.emplace(k, std::move(*v));  // an explicit property wins
  }
  return c;
}

}  // namespace

Result<Context> context_from_json(const json& j) {
  try {
    return context_from(j);
  } catch (const std::exception& e) {
    return Error::usage(fmt::format("the context could not be read: {}", e.what()));
  }
}

Result<Context> parse_context(std::string_view text) {
  BELAY_ASSIGN(auto j, parse_text(text, "the context"));
  return context_from_json(j);
}

}  // namespace belay::flags
