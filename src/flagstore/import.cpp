// Adopting flags from elsewhere (the seeds' tables, Unleash JSON) and writing them out.
#include <fmt/format.h>

#include <set>

#include "flagstore/internal.h"

namespace belay::flagstore {

using nlohmann::json;

namespace {

std::string str(const json& j, const char* key, std::string dflt = "") {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : dflt;
}

// Upserts the flag row; true when it was new.
Result<bool> upsert_flag(pg::Conn& conn, const std::string& name, const json& attrs) {
  BELAY_ASSIGN(auto r, conn.query(
      "insert into belay.flags as f (name, description, type, project, stale, impression_data) "
      "values ($1, nullif($2, ''), coalesce(nullif($3, ''), 'release'), coalesce(nullif($4, ''), 'default'), $5, $6) "
      "on conflict (name) do update set description = coalesce(excluded.description, f.description), "
      "type = case when $3 = '' then f.type else excluded.type end, "
      "project = case when $4 = '' then f.project else excluded.project end, "
      "stale = excluded.stale, impression_data = excluded.impression_data "
      "returning (xmax = 0)",
      {name, str(attrs, "description"), str(attrs, "type"), str(attrs, "project"),
       attrs.value("stale", false) ? "true" : "false", attrs.value("impressionData", false) ? "true" : "false"}));
  return r.get(0, 0) == "t";
}

Status set_state(pg::Conn& conn, const std::string& name, const std::string& env, bool on) {
  BELAY_TRY(conn.query("insert into belay.flag_states (flag, environment, enabled) values ($1, $2, $3) "
                       "on conflict (flag, environment) do update set enabled = excluded.enabled",
                       {name, env, on ? "true" : "false"}));
  return ok_status();
}

Status replace_with_rollout(pg::Conn& conn, const std::string& name, const std::string& env, int pct) {
  BELAY_TRY(conn.query("delete from belay.flag_strategies where flag = $1 and environment = $2", {name, env}));
  BELAY_TRY(conn.query("insert into belay.flag_strategies (flag, environment, name, parameters) values ($1, $2, "
                       "'flexibleRollout', jsonb_build_object('rollout', $3::text, 'stickiness', 'default', 'groupId', $1::text))",
                       {name, env, std::to_string(pct)}));
  return ok_status();
}

// Columns of a table, or empty when it does not exist.
Result<std::set<std::string>> columns_of(pg::Conn& conn, const std::string& table) {
  BELAY_ASSIGN(auto r, conn.query("select attname from pg_attribute where attrelid = to_regclass($1) "
                                  "and attnum > 0 and not attisdropped", {table}));
  std::set<std::string> cols;
  for (int i = 0; i < r.size(); ++i) cols.insert(r.get(i, 0));
  return cols;
}

Error named(Error e, const std::string& table, const std::string& flag) {
  e.object = flag;
  e.message = fmt::format("importing \"{}\" from {}: {}", flag, table, e.message);
  return e;
}

// feature_flags(name, enabled, rollout_percentage): on per `enabled`, a flexibleRollout at
// rollout_percentage (100 when null).
Status import_flag_rows(pg::Conn& conn, const std::string& table, const std::string& env,
                        const std::set<std::string>& cols, ImportReport& rep, std::set<std::string>& seen) {
  std::string pct = cols.count("rollout_percentage") ? "rollout_percentage::text" : "null";
  BELAY_ASSIGN(auto r, conn.query(fmt::format("select name::text, coalesce(enabled, false)::text, {} from {} order by 1",
                                              pct, table)));
  for (int i = 0; i < r.size(); ++i) {
    std::string name = r.get(i, 0);
    int rollout = 100;
    if (auto p = r.opt(i, 2)) {
      rollout = std::atoi(p->c_str());
      if (rollout < 0 || rollout > 100) {
        rep.warnings.push_back(fmt::format("{}: \"{}\" has rollout_percentage {}; clamped", table, name, *p));
        rollout = std::clamp(rollout, 0, 100);
      }
    }
    auto created = upsert_flag(conn, name, json::object());
    if (!created) return named(std::move(created).error(), table, name);
    ++(*created ? rep.flags_created : rep.flags_updated);
    BELAY_TRY(set_state(conn, name, env, r.get(i, 1) == "true"));
    BELAY_TRY(replace_with_rollout(conn, name, env, rollout));
    ++rep.strategies;
    seen.insert(name);
  }
  return ok_status();
}

// workspace_feature_flags(feature_key, enabled, workspace): the flag is on, off by default
// (a 0% rollout, unless feature_flags gave it one), and each row an override.
Status import_workspace_rows(pg::Conn& conn, const std::string& table, const std::string& env, ImportReport& rep,
                             const std::set<std::string>& seen) {
  BELAY_ASSIGN(auto r, conn.query(fmt::format("select feature_key::text, workspace::text, coalesce(enabled, false)::text "
                                              "from {} order by 1, 2", table)));
  std::string current;
  for (int i = 0; i < r.size(); ++i) {
    std::string name = r.get(i, 0);
    if (name != current) {
      current = name;
      auto created = upsert_flag(conn, name, json::object());
      if (!created) return named(std::move(created).error(), table, name);
      if (!seen.count(name)) {
        ++(*created ? rep.flags_created : rep.flags_updated);
        BELAY_TRY(set_state(conn, name, env, true));
        BELAY_TRY(replace_with_rollout(conn, name, env, 0));
        ++rep.strategies;
      }
      BELAY_TRY(conn.query("delete from belay.flag_workspace_overrides where flag = $1 and environment = $2", {name, env}));
    }
    auto ws = r.opt(i, 1);
    if (!ws || ws->empty()) {
      rep.warnings.push_back(fmt::format("{}: a row of \"{}\" has no workspace; skipped", table, name));
      continue;
    }
    BELAY_TRY(conn.query("insert into belay.flag_workspace_overrides (flag, environment, workspace, enabled) "
                         "values ($1, $2, $3, $4) on conflict (flag, environment, workspace) do update "
                         "set enabled = excluded.enabled", {name, env, *ws, r.get(i, 2)}));
    ++rep.overrides;
  }
  return ok_status();
}

// ---- Unleash JSON -----------------------------------------------------------------------

// Unleash's export format -> a client features document for one environment.
Result<json> export_to_client(const json& in, const std::string& env, std::vector<std::string>& warnings) {
  auto arr = [&](const char* k) { auto it = in.find(k); return it != in.end() && it->is_array() ? *it : json::array(); };
  json fenvs = arr("featureEnvironments"), fstrats = arr("featureStrategies");
  std::set<std::string> envs;
  for (auto& e : fenvs) if (e.is_object()) envs.insert(str(e, "environment"));
  std::string pick = env;
  if (!envs.empty() && !envs.count(env)) {
    if (envs.size() != 1)
      return Error::usage(fmt::format("the export has environments {} but not \"{}\"",
                                      fmt::format("{}", fmt::join(envs, ", ")), env));
    pick = *envs.begin();
    warnings.push_back(fmt::format("the export is of environment \"{}\"; imported into \"{}\"", pick, env));
  }
  json deps = json::object();
  for (auto& d : arr("dependencies"))
    if (d.is_object() && d.contains("dependencies")) deps[str(d, "feature")] = d["dependencies"];
  json out{{"version", 2}, {"features", json::array()}, {"segments", arr("segments")}};
  for (auto& f : arr("features")) {
    if (!f.is_object()) return Error::usage("features[]: an entry is not an object");
    std::string name = str(f, "name");
    json feat = f;
    feat["enabled"] = false;
    feat["strategies"] = json::array();
    if (!feat.contains("variants")) feat["variants"] = json::array();
    for (auto& e : fenvs)
      if (e.is_object() && str(e, "featureName") == name && (str(e, "environment").empty() || str(e, "environment") == pick)) {
        feat["enabled"] = e.value("enabled", false);
        if (e.contains("variants") && e["variants"].is_array()) feat["variants"] = e["variants"];
      }
    std::vector<std::pair<int, json>> strategies;
    for (auto& s : fstrats)
      if (s.is_object() && str(s, "featureName") == name && (str(s, "environment").empty() || str(s, "environment") == pick))
        strategies.emplace_back(s.value("sortOrder", 0), s);
    std::stable_sort(strategies.begin(), strategies.end(), [](auto& a, auto& b) { return a.first < b.first; });
    for (auto& [order, s] : strategies) {
      json c = s;
      for (auto k : {"featureName", "environment", "projectId", "sortOrder", "id", "createdAt"}) c.erase(k);
      feat["strategies"].push_back(std::move(c));
    }
    if (deps.contains(name)) feat["dependencies"] = deps[name];
    out["features"].push_back(std::move(feat));
  }
  return out;
}

Status write_document(pg::Conn& conn, const flags::Document& doc, const std::string& env, ImportReport& rep) {
  json j = flags::to_json(doc);
  for (auto& s : j["segments"]) {
    BELAY_TRY(conn.query("insert into belay.flag_segments (id, name, constraints) values ($1, $2, $3::jsonb) "
                         "on conflict (id) do update set name = excluded.name, constraints = excluded.constraints",
                         {std::to_string(s.value("id", int64_t{0})),
                          s.contains("name") && s["name"].is_string() ? s["name"].get<std::string>()
                                                                       : "segment-" + std::to_string(s.value("id", int64_t{0})),
                          s.value("constraints", json::array()).dump()}));
    ++rep.segments;
  }
  if (!j["segments"].empty())
    BELAY_TRY(conn.query("select setval(pg_get_serial_sequence('belay.flag_segments', 'id'), max(id)) from belay.flag_segments"));
  for (auto& f : j["features"]) {
    std::string name = str(f, "name");
    auto created = upsert_flag(conn, name, f);
    if (!created) return named(std::move(created).error(), rep.source, name);
    ++(*created ? rep.flags_created : rep.flags_updated);
    BELAY_TRY(set_state(conn, name, env, f.value("enabled", false)));
    BELAY_TRY(conn.query("delete from belay.flag_strategies where flag = $1 and environment = $2", {name, env}));
    BELAY_TRY(conn.query("delete from belay.flag_variants where flag = $1 and environment = $2", {name, env}));
    int order = 0;
    for (auto& s : f.value("strategies", json::array())) {
      BELAY_TRY(conn.query(
          "insert into belay.flag_strategies (flag, environment, sort_order, name, title, disabled, parameters, "
          "constraints, segments, variants) values ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, "
          "array(select jsonb_array_elements_text($9::jsonb)::bigint), $10::jsonb)",
          {name, env, std::to_string(order++), str(s, "name"),
           s.contains("title") && s["title"].is_string() ? std::optional<std::string>(s["title"].get<std::string>()) : std::nullopt,
           s.value("disabled", false) ? "true" : "false", s.value("parameters", json::object()).dump(),
           s.value("constraints", json::array()).dump(), s.value("segments", json::array()).dump(),
           s.value("variants", json::array()).dump()}));
      ++rep.strategies;
    }
    order = 0;
    for (auto& v : f.value("variants", json::array())) {
      auto p = v.find("payload");
      BELAY_TRY(conn.query(
          "insert into belay.flag_variants (flag, environment, name, sort_order, weight, weight_type, stickiness, "
          "payload, overrides) values ($1, $2, $3, $4, $5, coalesce(nullif($6, ''), 'variable'), "
          "coalesce(nullif($7, ''), 'default'), $8::jsonb, $9::jsonb)",
          {name, env, str(v, "name"), std::to_string(order++), std::to_string(v.value("weight", 0)),
           str(v, "weightType"), str(v, "stickiness"),
           p != v.end() && p->is_object() ? std::optional<std::string>(p->dump()) : std::nullopt,
           v.value("overrides", json::array()).dump()}));
    }
  }
  // Dependencies last: a parent may come after its child in the document.
  for (auto& f : j["features"]) {
    std::string name = str(f, "name");
    BELAY_TRY(conn.query("delete from belay.flag_dependencies where flag = $1", {name}));
    for (auto& d : f.value("dependencies", json::array())) {
      BELAY_TRY(conn.query("insert into belay.flag_dependencies (flag, parent, enabled, variants) values ($1, $2, $3, "
                           "case when $4::jsonb is null then null else array(select jsonb_array_elements_text($4::jsonb)) end)",
                           {name, str(d, "feature"), d.value("enabled", true) ? "true" : "false",
                            d.contains("variants") ? std::optional<std::string>(d["variants"].dump()) : std::nullopt}));
    }
  }
  return ok_status();
}

}  // namespace

json to_json(const ImportReport& r) {
  return json{{"source", r.source},         {"flags_created", r.flags_created}, {"flags_updated", r.flags_updated},
              {"strategies", r.strategies}, {"overrides", r.overrides},         {"segments", r.segments},
              {"warnings", r.warnings}};
}

Result<ImportReport> import_tables(pg::Conn& conn, std::string_view environment, std::optional<std::string> table,
                                   const Change& who) {
  ImportReport rep;
  std::vector<std::pair<std::string, std::set<std::string>>> sources;
  std::vector<std::string> names = table ? std::vector<std::string>{*table}
                                         : std::vector<std::string>{"public.feature_flags", "public.workspace_feature_flags"};
  for (auto& t : names) {
    BELAY_ASSIGN(auto cols, columns_of(conn, t));
    if (!cols.empty()) sources.emplace_back(t, std::move(cols));
    else if (table) return Error::usage(fmt::format("table {} does not exist", t));
  }
  if (sources.empty())
    return std::move(Error::usage("found neither public.feature_flags nor public.workspace_feature_flags"))
        .with_next("name the table with --table SCHEMA.TABLE");
  std::string env(environment);
  BELAY_TRY(detail::in_transaction(conn, who, [&]() -> Status {
    BELAY_TRY(detail::ensure_environment(conn, env));
    std::set<std::string> seen;
    for (auto& [t, cols] : sources) {
      if (!rep.source.empty()) rep.source += ",";
      if (cols.count("feature_key") && cols.count("workspace") && cols.count("enabled")) {
        rep.source += t;
        continue;  // after the feature_flags tables, which give rollouts
      }
      if (!cols.count("name") || !cols.count("enabled"))
        return std::move(Error::usage(fmt::format("{} has neither (name, enabled[, rollout_percentage]) nor "
                                                  "(feature_key, enabled, workspace) columns", t)));
      rep.source += t;
      BELAY_TRY(import_flag_rows(conn, t, env, cols, rep, seen));
    }
    for (auto& [t, cols] : sources)
      if (cols.count("feature_key") && cols.count("workspace") && cols.count("enabled"))
        BELAY_TRY(import_workspace_rows(conn, t, env, rep, seen));
    return ok_status();
  }));
  return rep;
}

Result<ImportReport> import_unleash(pg::Conn& conn, std::string_view text, std::string_view environment,
                                    const Change& who) {
  json in = json::parse(text, nullptr, false);
  if (in.is_discarded() || !in.is_object())
    return Error::usage("the Unleash document is not a JSON object");
  ImportReport rep;
  json client;
  if (in.contains("featureStrategies") || in.contains("featureEnvironments")) {
    rep.source = "unleash-export";
    BELAY_ASSIGN(client, export_to_client(in, std::string(environment), rep.warnings));
  } else if (in.contains("features")) {
    rep.source = "unleash-client";
    client = std::move(in);
  } else {
    return Error::usage("not an Unleash document: expected {version, features, segments} or Unleash's export "
                        "format {features, featureStrategies, featureEnvironments, ...}");
  }
  BELAY_ASSIGN(auto doc, flags::document_from_json(client));
  BELAY_ASSIGN(auto snap, flags::Snapshot::compile(doc));  // duplicate names and ids refused before writing
  for (auto& w : snap.warnings()) rep.warnings.push_back(w);
  std::string env(environment);
  BELAY_TRY(detail::in_transaction(conn, who, [&]() -> Status {
    BELAY_TRY(detail::ensure_environment(conn, env));
    return write_document(conn, snap.document(), env, rep);
  }));
  return rep;
}

Result<json> export_json(pg::Conn& conn, std::string_view environment, std::string_view format) {
  if (format != "client" && format != "unleash")
    return Error::usage(fmt::format("export format \"{}\" is not one of client, unleash", format));
  BELAY_ASSIGN(auto loaded, load(conn, environment));
  json doc = json::parse(loaded.document);
  if (format == "client") return doc;
  // Unleash's export format, of the served (folded) strategies: Unleash evaluates it the same.
  json out{{"features", json::array()}, {"featureStrategies", json::array()}, {"featureEnvironments", json::array()},
           {"segments", doc["segments"]}, {"dependencies", json::array()}, {"contextFields", json::array()},
           {"featureTags", json::array()}, {"tagTypes", json::array()}};
  for (auto& f : doc["features"]) {
    std::string name = str(f, "name");
    json feat{{"name", name}, {"type", str(f, "type", "release")}, {"project", str(f, "project", "default")},
              {"stale", f.value("stale", false)}, {"impressionData", f.value("impressionData", false)}};
    if (f.contains("description")) feat["description"] = f["description"];
    out["features"].push_back(std::move(feat));
    out["featureEnvironments"].push_back({{"name", name}, {"featureName", name}, {"environment", environment},
                                          {"enabled", f.value("enabled", false)}, {"variants", f["variants"]}});
    int order = 0;
    for (auto s : f["strategies"]) {
      s.erase("id");
      s["featureName"] = name;
      s["environment"] = environment;
      s["sortOrder"] = order++;
      out["featureStrategies"].push_back(std::move(s));
    }
    if (f.contains("dependencies") && !f["dependencies"].empty())
      out["dependencies"].push_back({{"feature", name}, {"dependencies", f["dependencies"]}});
  }
  return out;
}

}  // namespace belay::flagstore
