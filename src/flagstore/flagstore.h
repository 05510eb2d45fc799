// belay's feature-flag store: flags kept in the target database (schema belay), every
// change audited, one Unleash client features document per environment derived from the
// tables and announced on NOTIFY channel "belay_flags" when it changes. The CLI (`belay
// flags`) and the server (`belay serve`) both go through here; plain SQL on the tables
// is served and audited the same way (triggers do it, see schema.sql).
//
//   BELAY_TRY(flagstore::install(conn));                       // idempotent, cheap when current
//   flagstore::Change who{"alice", "canary for beta"};
//   BELAY_TRY(flagstore::set_enabled(conn, "docs.canvas-mode", "production", false, who));
//   BELAY_ASSIGN(auto snap, flagstore::load(conn, "production"));  // compiled, with etag
//
// In the database: belay.flag_enabled(name, context jsonb [, environment]) and
// belay.flag_variant(...) evaluate the same document with the same bucketing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "flags/flags.h"
#include "pg/pg.h"
#include "util/error.h"

namespace belay::flagstore {

inline constexpr std::string_view kChannel = "belay_flags";
inline constexpr std::string_view kDefaultEnvironment = "production";
// The context property that per-workspace overrides match.
inline constexpr std::string_view kWorkspaceProperty = "workspace";

// Creates or upgrades the store (tables, triggers, SQL evaluator). Skips the work when the
// installed version is this build's. Safe to race: the DDL runs under an advisory lock.
Status install(pg::Conn& conn);
// True when the store exists (does not install it).
Result<bool> installed(pg::Conn& conn);

// Who changes what and why: recorded in belay.flag_audit with the rows before and after.
struct Change {
  std::string actor;    // "" = the database session user
  std::string reason;   // "" = none given
};

// ---- Reading -----------------------------------------------------------------------------

struct Loaded {
  flags::Snapshot snapshot;
  std::string document;        // the client features document, serialised once
  std::string etag;            // "\"<environment>:<revision>\""
  int64_t revision = 0;
};
// The environment's document, compiled. Unknown environment: not_found.
Result<Loaded> load(pg::Conn& conn, std::string_view environment);

struct Token {
  std::string name, kind, environment;   // kind: client, frontend, admin
  std::string secret_sha256;
};
// Tokens that are not revoked (what a server checks requests against).
Result<std::vector<Token>> tokens(pg::Conn& conn);
// A new token; returns the secret, "<kind>:<environment>.<64 hex>" (shown once, kept hashed).
Result<std::string> create_token(pg::Conn& conn, std::string_view name, std::string_view kind,
                                 std::string_view environment, const Change& who);
Status revoke_token(pg::Conn& conn, std::string_view name, const Change& who);
std::string token_hash(std::string_view secret);

// One flag as `belay flags show` prints it: the stored rows (not the folded document):
// {name, description, type, project, stale, impressionData, environments: {env: {enabled,
//  strategies, variants, overrides: {workspace: bool}}}, dependencies}.
Result<nlohmann::json> show(pg::Conn& conn, std::string_view name);
// [{name, enabled, type, description, strategies, overrides}] for one environment.
Result<nlohmann::json> list(pg::Conn& conn, std::string_view environment);

struct AuditEntry {
  int64_t id = 0;
  std::string at, actor, reason, flag, environment, entity, action;
  nlohmann::json before, after;   // null when absent
};
Result<std::vector<AuditEntry>> history(pg::Conn& conn, std::string_view flag, int limit = 1000);
nlohmann::json to_json(const AuditEntry& e);

// ---- Changing (each call is one transaction, audited) -------------------------------------

struct NewFlag {
  std::string name;
  std::string description;
  std::string type = "release";
  bool enabled = false;
  // The initial strategy: a flexibleRollout at this percentage (default stickiness,
  // groupId = name); nullopt = no strategy (on for everyone once enabled).
  std::optional<int> rollout = 100;
};
Status create(pg::Conn& conn, const NewFlag& f, std::string_view environment, const Change& who);
Status remove(pg::Conn& conn, std::string_view name, const Change& who);
// The kill switch and its undo. Unknown flag: not_found.
Status set_enabled(pg::Conn& conn, std::string_view name, std::string_view environment, bool on,
                   const Change& who);
// Sets the rollout of the flag's flexibleRollout strategy (adds one when there is none;
// refuses when there are several, naming them). pct 0..100.
Status set_rollout(pg::Conn& conn, std::string_view name, std::string_view environment, int pct,
                   const Change& who);
// on/off for one workspace; nullopt removes the override.
Status set_override(pg::Conn& conn, std::string_view name, std::string_view environment,
                    std::string_view workspace, std::optional<bool> on, const Change& who);

// ---- Import and export ---------------------------------------------------------------------

struct ImportReport {
  std::string source;                 // "feature_flags", "workspace_feature_flags", "unleash-client", "unleash-export"
  int flags_created = 0;
  int flags_updated = 0;
  int strategies = 0;
  int overrides = 0;
  int segments = 0;
  std::vector<std::string> warnings;
};
nlohmann::json to_json(const ImportReport& r);

// Adopts the seeds' tables found in the database: public.feature_flags(name, enabled,
// rollout_percentage) and public.workspace_feature_flags(feature_key, enabled, workspace),
// or a table named by `table` (schema-qualified allowed). Re-importing replaces what an
// earlier import of the same flag wrote in this environment.
Result<ImportReport> import_tables(pg::Conn& conn, std::string_view environment,
                                   std::optional<std::string> table, const Change& who);
// Unleash JSON: the client features document {version, features, segments} or Unleash's
// export format {features, featureStrategies, featureEnvironments, segments, dependencies}.
Result<ImportReport> import_unleash(pg::Conn& conn, std::string_view json, std::string_view environment,
                                    const Change& who);
// format: "client" (what /api/client/features serves) or "unleash" (Unleash's export format).
Result<nlohmann::json> export_json(pg::Conn& conn, std::string_view environment, std::string_view format);

}  // namespace belay::flagstore
