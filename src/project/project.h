// A belay project: belay.toml, where its migrations live, and its targets.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "embedded/embedded.h"
#include "util/error.h"

namespace belay::project {

using std::chrono::milliseconds;

struct Target {
  std::string name;
  std::string dsn_env;   // environment variable holding the DSN
  std::string url;       // a literal DSN without password (allowed for local hosts)
};

struct Config {
  std::filesystem::path root;            // directory holding belay.toml (or the cwd)
  bool has_file = false;                 // belay.toml was found
  std::string name;
  std::string flavor = "postgres";       // "postgres" or "supabase"
  // Schemas an API exposes to clients (PostgREST's db-schemas): lint and rls check
  // hold tables, views and functions there to the stricter security rules.
  std::vector<std::string> exposed_schemas = {"public"};

  // [migrations]
  std::filesystem::path migrations_dir;  // absolute
  std::filesystem::path rollback_dir;    // absolute, empty = rollbacks live beside the ups
  std::string layout;                    // "plain" or "supabase" (detected unless set)
  milliseconds lock_timeout{2000};       // DDL waits at most this long for a lock
  milliseconds statement_timeout{0};     // 0 = none
  milliseconds lock_wait{30000};         // wait for another runner's migration lock
  int lock_retries = 5;                  // attempts after a lock timeout
  bool require_down = false;             // refuse migrations without a rollback

  // [embedded]
  std::string pg_bin;

  // [lint] (belay lint): rule ids are checked by lint, which knows them.
  struct Lint {
    std::vector<std::string> disable;              // rules never reported
    std::map<std::string, std::string> severity;   // [lint.severity] rule = "info" | "warning" | "error"
    std::optional<std::vector<std::string>> exposed_schemas;  // overrides [project] exposed_schemas
    std::vector<std::string> exclude;              // path globs relative to the root: no findings
    int pg_version = 0;                            // assumed server major version; 0 = lint's default
  } lint;

  // [rls] (belay rls check / rls test): check ids are checked by rls, which knows them.
  struct Rls {
    std::vector<std::string> disable;              // checks never reported
    std::map<std::string, std::string> severity;   // [rls.severity] check = "info" | "warning" | "error"
    std::vector<std::string> ignore;               // "OBJECT" or "CHECK:OBJECT" ('*' wildcards): no findings
    std::vector<std::string> api_roles = {"anon", "authenticated"};  // roles API requests run as
    std::string anon_role = "anon";                // the API role of requests without a login
    std::string contract = "rls/contract.toml";    // belay rls test's default, relative to the root
    // Security surface regressions per migration (rehearse; migrate --check-surface): the
    // severity from which one fails the run ("error", "warning", "info" or "never").
    std::string regressions_fail_at = "error";
  } rls;

  std::map<std::string, Target> targets;
};

// Finds belay.toml in `start` or its parents; without one, defaults rooted at `start`.
// A literal password anywhere in the file is refused.
Result<Config> load(const std::filesystem::path& start);

// Scaffolds belay.toml and the migrations folder (supabase=true: supabase/migrations).
// Existing files are left alone; returns the paths it created.
Result<std::vector<std::string>> init(const std::filesystem::path& dir, bool supabase);

struct ResolvedTarget {
  std::string name;      // "embedded", a belay.toml target name, "DATABASE_URL" or "url"
  std::string dsn;       // full DSN (may hold a password: never print it)
  std::string display;   // redacted DSN, safe to print
  bool embedded = false;
};

// The options every embedded::Cluster of this project is made with: pg_bin from
// [embedded], and the template SQL of its flavor (Supabase's roles and schemas for
// "supabase", none for "postgres"), so every database belay creates fits the flavor.
embedded::Options embedded_options(const Config& cfg);

// --target NAME | postgres://... | (empty: DATABASE_URL if set, else the embedded
// cluster, started on demand).
Result<ResolvedTarget> resolve_target(const Config& cfg, const std::string& target_flag);

}  // namespace belay::project
