// The embedded default target: a throwaway PostgreSQL cluster per project, under
// <project>/.belay/, listening on a unix socket there and a free 127.0.0.1 port only.
// Started from the PostgreSQL server installed on the machine (initdb + pg_ctl).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "util/error.h"

namespace belay::pg {
class Conn;
}

namespace belay::embedded {

struct Options {
  std::string pg_bin;           // directory holding initdb/pg_ctl/postgres; empty = discover
  std::string server_user;      // account the server runs as when belay runs as root; empty = "postgres"
  // Run once in the template database when it is created. The template records the
  // SHA-256 of the SQL it was made from (as its comment) and is rebuilt by start() when that
  // differs, so every caller that starts a project's cluster must pass the project's SQL
  // (project::embedded_options). Roles are cluster-wide: the SQL must create them idempotently.
  // The default database is made from the template too; when the template changes, the old
  // default database is kept under another name (Info::detail says which) and a new one made.
  std::string template_sql;
};

// The template SQL of flavor = "supabase": Supabase's roles, auth and storage schemas,
// extensions schema, realtime publication and default privileges (supabase_template.sql).
std::string_view supabase_template_sql();

struct Info {
  std::string state;            // "absent", "stopped", "running", "crashed"
  std::string detail;           // e.g. what was recovered on start
  std::filesystem::path root;   // <project>/.belay
  std::filesystem::path data;   // PGDATA
  std::filesystem::path socket_dir;
  std::filesystem::path log_file;
  std::string bin_dir;
  std::string version;          // server version string, e.g. "15.18"
  int port = 0;
  int pid = 0;
  std::string url;              // socket URL of the default database (never holds a password)
  double start_ms = 0;          // how long start() took, when it started the server
};

class Cluster {
 public:
  Cluster(std::filesystem::path project_root, Options opt = {});

  // Initialises the cluster if needed, recovers from a crash or stale pid file, and
  // starts it. Idempotent and safe when several processes call it at once.
  Result<Info> start();
  // Fast shutdown; succeeds when already stopped.
  Result<Info> stop();
  Result<Info> status() const;

  // libpq URL for a database over the unix socket (no password involved).
  std::string url(const std::string& database = "belay") const;

  // A fresh database copied from the template (fast: no migrations, no initdb).
  // Returns its URL. Fails if it exists.
  Result<std::string> create_database(const std::string& name);
  Status drop_database(const std::string& name);

  static constexpr const char* kDefaultDatabase = "belay";
  static constexpr const char* kTemplateDatabase = "belay_template";

 private:
  // Builds the template (and the default database) from opt_.template_sql unless they were
  // made from it already; what it did goes to `notes`.
  Status ensure_template(pg::Conn& conn, std::vector<std::string>& notes);

  std::filesystem::path root_;
  Options opt_;
};

// Locates a PostgreSQL server installation (directory containing initdb, pg_ctl and
// postgres): `configured`, then $BELAY_PG_BIN, pg_config --bindir, PATH, and the usual
// per-distribution locations (highest version wins).
Result<std::string> find_pg_bin(const std::string& configured = "");

}  // namespace belay::embedded
