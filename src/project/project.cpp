#include "project/project.h"

#include <cstdlib>
#include <map>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "embedded/embedded.h"
#include "pg/pg.h"
#include "util/fs.h"
#include "util/text.h"

namespace belay::project {
namespace stdfs = std::filesystem;

namespace {

Result<milliseconds> duration_of(const toml::table& t, const char* key, milliseconds def, const std::string& file) {
  auto node = t.get(key);
  if (!node) return def;
  if (auto i = node->value<int64_t>(); i && *i >= 0) return milliseconds(*i);
  if (auto s = node->value<std::string>()) {
    if (auto d = text::parse_duration(*s)) return *d;
  }
  auto src = node->source();
  return Error::usage(fmt::format("{} must be a duration like \"2s\" or \"500ms\"", key))
      .with_file(file, static_cast<int>(src.begin.line), static_cast<int>(src.begin.column));
}

// Any string value in the file that is a DSN with a password, or a key named password.
std::optional<Error> find_literal_password(const toml::table& t, const std::string& file) {
  std::optional<Error> found;
  t.for_each([&](const toml::key& k, auto&& node) {
    if (found) return;
    auto src = node.source();
    auto err = [&](std::string msg) {
      found = Error::usage(std::move(msg))
                  .with_file(file, static_cast<int>(src.begin.line), static_cast<int>(src.begin.column))
                  .with_next("put the DSN in an environment variable and name it with dsn_env = \"VAR\"");
    };
    if constexpr (toml::is_table<decltype(node)>) {
      if (auto e = find_literal_password(node, file)) found = e;
    } else if constexpr (toml::is_string<decltype(node)>) {
      std::string v = node.get();
      if (k.str() == "password") err(fmt::format("belay.toml holds a literal password (key '{}')", k.str()));
      else if ((pg::is_url(v) || v.find('=') != std::string::npos) && pg::has_password(v))
        err(fmt::format("belay.toml holds a DSN with a literal password (key '{}')", k.str()));
    }
  });
  return found;
}

// Known keys of the sections belay reads, with their TOML types. A typo or a wrong type
// is an error, not a silent default. Sections belay does not know are left alone.
std::optional<Error> check_schema(const toml::table& tbl, const std::string& file) {
  enum Kind { str, integer, boolean, duration, strings, string_table };
  static const std::map<std::string, std::map<std::string, Kind>> known = {
      {"project", {{"name", str}, {"flavor", str}, {"exposed_schemas", strings}}},
      {"migrations",
       {{"dir", str}, {"layout", str}, {"rollback_dir", str}, {"lock_timeout", duration},
        {"statement_timeout", duration}, {"lock_wait", duration}, {"lock_retries", integer},
        {"require_down", boolean}}},
      {"embedded", {{"pg_bin", str}}},
      {"lint",
       {{"disable", strings}, {"severity", string_table}, {"exposed_schemas", strings}, {"exclude", strings},
        {"pg_version", integer}}},
      {"rls",
       {{"disable", strings}, {"severity", string_table}, {"ignore", strings}, {"api_roles", strings},
        {"anon_role", str}, {"contract", str}, {"regressions_fail_at", str}}},
      {"target", {{"dsn_env", str}, {"url", str}, {"description", str}}},
  };
  auto where = [&](const toml::node& n, std::string msg) {
    auto src = n.source();
    return Error::usage(std::move(msg))
        .with_file(file, static_cast<int>(src.begin.line), static_cast<int>(src.begin.column));
  };
  auto check = [&](const std::string& section, const std::string& label, const toml::table& t) -> std::optional<Error> {
    const auto& keys = known.at(section);
    for (auto& [k, v] : t) {
      auto it = keys.find(std::string(k.str()));
      if (it == keys.end()) {
        std::string list;
        for (auto& [name, _] : keys) list += (list.empty() ? "" : ", ") + name;
        return where(v, fmt::format("unknown key '{}' in [{}] (known: {})", k.str(), label, list));
      }
      bool ok = it->second == str       ? v.is_string()
                : it->second == integer ? v.is_integer()
                : it->second == boolean ? v.is_boolean()
                : it->second == strings ? (v.is_array() && v.as_array()->is_homogeneous(toml::node_type::string))
                : it->second == string_table
                    ? (v.is_table() && (v.as_table()->empty() || v.as_table()->is_homogeneous(toml::node_type::string)))
                    : (v.is_string() || v.is_integer());
      if (!ok) {
        const char* want = it->second == str ? "a string" : it->second == integer ? "an integer"
                           : it->second == boolean ? "true or false"
                           : it->second == strings ? "an array of strings"
                           : it->second == string_table ? "a table of strings"
                                                   : "a duration like \"2s\"";
        return where(v, fmt::format("[{}] {} must be {}", label, k.str(), want));
      }
      if (it->second == integer && (*v.value<int64_t>() < 0 || *v.value<int64_t>() > 1000))
        return where(v, fmt::format("[{}] {} must be between 0 and 1000", label, k.str()));
    }
    return std::nullopt;
  };
  for (const char* sec : {"project", "migrations", "embedded", "lint", "rls"}) {
    auto node = tbl.get(sec);
    if (!node) continue;
    if (!node->is_table()) return where(*node, fmt::format("{} must be a table ([{}])", sec, sec));
    if (auto e = check(sec, sec, *node->as_table())) return e;
  }
  if (auto ts = tbl.get("targets")) {
    if (!ts->is_table()) return where(*ts, "targets must be a table ([targets.NAME])");
    for (auto& [name, t] : *ts->as_table()) {
      if (!t.is_table()) return where(t, fmt::format("targets.{} must be a table", name.str()));
      if (auto e = check("target", "targets." + std::string(name.str()), *t.as_table())) return e;
    }
  }
  return std::nullopt;
}

}  // namespace

Result<Config> load(const stdfs::path& start) {
  Config cfg;
  auto dir = stdfs::weakly_canonical(stdfs::absolute(start));
  for (auto d = dir;; d = d.parent_path()) {
    if (stdfs::exists(d / "belay.toml")) { cfg.root = d; cfg.has_file = true; break; }
    if (d == d.parent_path()) break;
  }
  if (!cfg.has_file) cfg.root = dir;
  cfg.name = cfg.root.filename().string();
  toml::table tbl;
  std::string file = (cfg.root / "belay.toml").string();
  if (cfg.has_file) {
    // Debian's toml++ is built with exceptions: keep them inside this function.
    try {
      tbl = toml::parse_file(file);
    } catch (const toml::parse_error& e) {
      return Error::usage(std::string(e.description()))
          .with_file(file, static_cast<int>(e.source().begin.line), static_cast<int>(e.source().begin.column));
    }
    if (auto e = find_literal_password(tbl, file)) return *e;
    if (auto e = check_schema(tbl, file)) return *e;
  }
  if (auto p = tbl["project"].as_table()) {
    cfg.name = (*p)["name"].value_or(cfg.name);
    cfg.flavor = (*p)["flavor"].value_or(cfg.flavor);
    if (auto a = (*p)["exposed_schemas"].as_array()) {
      cfg.exposed_schemas.clear();
      for (auto& n : *a) cfg.exposed_schemas.push_back(n.value_or(std::string()));
    }
  }
  if (cfg.flavor != "postgres" && cfg.flavor != "supabase")
    return Error::usage(fmt::format("project.flavor must be \"postgres\" or \"supabase\", not \"{}\"", cfg.flavor))
        .with_file(file);
  // A reference, not a copy: toml++ does not copy source positions, which errors need.
  const toml::table no_migrations;
  const toml::table& m = tbl["migrations"].as_table() ? *tbl["migrations"].as_table() : no_migrations;
  std::string mdir = m["dir"].value_or(std::string());
  if (!mdir.empty()) {
    cfg.migrations_dir = cfg.root / mdir;
    cfg.layout = mdir.find("supabase/migrations") != std::string::npos ? "supabase" : "plain";
  } else if (stdfs::is_directory(cfg.root / "supabase" / "migrations")) {
    cfg.migrations_dir = cfg.root / "supabase" / "migrations";
    cfg.layout = "supabase";
  } else {
    cfg.migrations_dir = cfg.root / "migrations";
    cfg.layout = "plain";
  }
  cfg.layout = m["layout"].value_or(cfg.layout);
  std::string rdir = m["rollback_dir"].value_or(std::string());
  if (!rdir.empty()) cfg.rollback_dir = cfg.root / rdir;
  else if (cfg.layout == "supabase" && stdfs::is_directory(cfg.root / "supabase" / "migrations.backup"))
    cfg.rollback_dir = cfg.root / "supabase" / "migrations.backup";
  BELAY_ASSIGN(cfg.lock_timeout, duration_of(m, "lock_timeout", cfg.lock_timeout, file));
  BELAY_ASSIGN(cfg.statement_timeout, duration_of(m, "statement_timeout", cfg.statement_timeout, file));
  BELAY_ASSIGN(cfg.lock_wait, duration_of(m, "lock_wait", cfg.lock_wait, file));
  cfg.lock_retries = static_cast<int>(m["lock_retries"].value_or(int64_t{cfg.lock_retries}));
  cfg.require_down = m["require_down"].value_or(cfg.require_down);
  if (auto e = tbl["embedded"].as_table()) cfg.pg_bin = (*e)["pg_bin"].value_or(std::string());
  if (auto l = tbl["lint"].as_table()) {
    auto list = [](const toml::node_view<toml::node> n) {
      std::vector<std::string> out;
      if (auto a = n.as_array())
        for (auto& v : *a) out.push_back(v.value_or(std::string()));
      return out;
    };
    cfg.lint.disable = list((*l)["disable"]);
    cfg.lint.exclude = list((*l)["exclude"]);
    if ((*l)["exposed_schemas"].as_array()) cfg.lint.exposed_schemas = list((*l)["exposed_schemas"]);
    if (auto s = (*l)["severity"].as_table())
      for (auto& [k, v] : *s) cfg.lint.severity[std::string(k.str())] = v.value_or(std::string());
    if (auto v = (*l)["pg_version"].value<int64_t>()) {
      if (*v < 10 || *v > 99) {
        auto src = (*l)["pg_version"].node()->source();
        return Error::usage("[lint] pg_version must be a PostgreSQL major version like 15")
            .with_file(file, static_cast<int>(src.begin.line), static_cast<int>(src.begin.column));
      }
      cfg.lint.pg_version = static_cast<int>(*v);
    }
  }
  if (auto r = tbl["rls"].as_table()) {
    auto list = [](const toml::node_view<toml::node> n) {
      std::vector<std::string> out;
      if (auto a = n.as_array())
        for (auto& v : *a) out.push_back(v.value_or(std::string()));
      return out;
    };
    cfg.rls.disable = list((*r)["disable"]);
    cfg.rls.ignore = list((*r)["ignore"]);
    if ((*r)["api_roles"].as_array()) cfg.rls.api_roles = list((*r)["api_roles"]);
    if (auto s = (*r)["severity"].as_table())
      for (auto& [k, v] : *s) cfg.rls.severity[std::string(k.str())] = v.value_or(std::string());
    cfg.rls.anon_role = (*r)["anon_role"].value_or(cfg.rls.anon_role);
    cfg.rls.contract = (*r)["contract"].value_or(cfg.rls.contract);
    cfg.rls.regressions_fail_at = (*r)["regressions_fail_at"].value_or(cfg.rls.regressions_fail_at);
  }
  if (auto ts = tbl["targets"].as_table()) {
    for (auto& [k, v] : *ts) {
      Target t;
      t.name = std::string(k.str());
      auto tt = v.as_table();
      if (!tt) return Error::usage(fmt::format("targets.{} must be a table", t.name)).with_file(file);
      t.dsn_env = (*tt)["dsn_env"].value_or(std::string());
      t.url = (*tt)["url"].value_or(std::string());
      if (t.dsn_env.empty() && t.url.empty())
        return Error::usage(fmt::format("target '{}' needs dsn_env = \"VAR\" (the variable holding its DSN)", t.name))
            .with_file(file, static_cast<int>(v.source().begin.line));
      cfg.targets[t.name] = t;
    }
  }
  return cfg;
}

Result<std::vector<std::string>> init(const stdfs::path& dir, bool supabase) {
  std::vector<std::string> created;
  std::error_code ec;
  auto mdir = supabase ? dir / "supabase" / "migrations" : dir / "migrations";
  if (!stdfs::exists(mdir)) {
    stdfs::create_directories(mdir, ec);
    if (ec) return Error::failure(fmt::format("cannot create {}: {}", mdir.string(), ec.message()));
    created.push_back(mdir.string());
  }
  auto toml_path = dir / "belay.toml";
  if (!stdfs::exists(toml_path)) {
    std::string body = fmt::format(
        "# belay project file. Targets name the environment variable holding their DSN;\n"
        "# a password never goes in this file.\n"
        "[project]\nname = \"{}\"\nflavor = \"{}\"\n\n"
        "[migrations]\ndir = \"{}\"\n{}"
        "lock_timeout = \"2s\"       # DDL never waits longer than this for a lock\n"
        "lock_retries = 5           # attempts, with backoff, after a lock timeout\n"
        "statement_timeout = \"0\"   # 0 = no limit\n"
        "lock_wait = \"30s\"         # wait for another runner at most this long\n\n"
        "# [targets.staging]\n# dsn_env = \"STAGING_DATABASE_URL\"\n",
        // Canonical: "." or a trailing '/' would otherwise name the project "." or "".
        stdfs::weakly_canonical(stdfs::absolute(dir)).filename().string(), supabase ? "supabase" : "postgres",
        supabase ? "supabase/migrations" : "migrations",
        supabase ? "rollback_dir = \"supabase/migrations.backup\"\n" : "");
    BELAY_TRY(fs::write_file_atomic(toml_path, body));
    created.push_back(toml_path.string());
  }
  auto gi = dir / ".gitignore";
  auto cur = fs::read_file(gi);
  if (!cur.ok() || cur->find(".belay/") == std::string::npos) {
    std::string body = cur.ok() ? *cur : "";
    if (!body.empty() && body.back() != '\n') body += "\n";
    BELAY_TRY(fs::write_file_atomic(gi, body + ".belay/\n"));
    created.push_back(gi.string());
  }
  return created;
}

embedded::Options embedded_options(const Config& cfg) {
  embedded::Options o;
  o.pg_bin = cfg.pg_bin;
  if (cfg.flavor == "supabase") o.template_sql = std::string(embedded::supabase_template_sql());
  return o;
}

Result<ResolvedTarget> resolve_target(const Config& cfg, const std::string& flag) {
  ResolvedTarget t;
  auto finish = [&](std::string name, std::string dsn) -> Result<ResolvedTarget> {
    t.name = std::move(name);
    t.dsn = std::move(dsn);
    t.display = pg::redact(t.dsn);
    return t;
  };
  if (!flag.empty() && flag != "embedded") {
    if (pg::is_url(flag) || flag.find('=') != std::string::npos) return finish("url", flag);
    auto it = cfg.targets.find(flag);
    if (it == cfg.targets.end()) {
      std::string known;
      for (auto& [k, _] : cfg.targets) known += (known.empty() ? "" : ", ") + k;
      return Error::usage(fmt::format("unknown target '{}'", flag))
          .with_next(known.empty() ? "define it in belay.toml under [targets." + flag + "]"
                                   : "known targets: " + known);
    }
    if (!it->second.url.empty()) return finish(flag, it->second.url);
    const char* v = std::getenv(it->second.dsn_env.c_str());
    if (!v || !*v)
      return Error::usage(fmt::format("target '{}' reads its DSN from ${}, which is not set", flag, it->second.dsn_env))
          .with_next(fmt::format("export {}=postgres://...", it->second.dsn_env));
    return finish(flag, v);
  }
  if (flag.empty()) {
    if (const char* v = std::getenv("DATABASE_URL"); v && *v) return finish("DATABASE_URL", v);
  }
  embedded::Cluster cluster(cfg.root, embedded_options(cfg));
  BELAY_ASSIGN(auto info, cluster.start());
  t.embedded = true;
  return finish("embedded", info.url);
}

}  // namespace belay::project
