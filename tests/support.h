// Test helpers. Integration tests run against the embedded PostgreSQL that belay
// itself manages (one shared cluster under build/test-root/cluster), each test in a
// fresh database copied from the template.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "pg/pg.h"
#include "util/proc.h"

namespace belay::test {

// The shared test cluster, started on first use (safe across parallel test processes).
std::string cluster_url(const std::string& database);
std::filesystem::path cluster_project();

// The shared test cluster of a flavor: "postgres" is cluster_project(); "supabase" is a
// second cluster whose template has Supabase's roles and schemas (project::embedded_options).
std::string cluster_url(const std::string& database, const std::string& flavor);

// A fresh database from the template, dropped when the object dies.
class TestDb {
 public:
  TestDb();
  explicit TestDb(const std::string& flavor);  // from the shared cluster of that flavor
  ~TestDb();
  const std::string& url() const { return url_; }
  const std::string& name() const { return name_; }
  pg::Conn connect(const std::string& app = "belay-test") const;
  // First column of the first row, "" if none; fails the test on error.
  std::string scalar(const std::string& sql) const;
 private:
  std::string name_, url_, flavor_ = "postgres";
};

// A role for one test (a unique name: roles are cluster-wide), dropped with what it owns
// and its privileges in `db` when the test ends.
struct TempRole {
  const TestDb& db;
  std::string name;
  explicit TempRole(const TestDb& d);
  ~TempRole();
};

// A temporary project directory (0755 so the server account can traverse it).
class TempProject {
 public:
  explicit TempProject(const std::string& tag);
  ~TempProject();
  const std::filesystem::path& dir() const { return dir_; }
  // Writes a file relative to the project (creating folders).
  void write(const std::string& rel, const std::string& content) const;
  void remove(const std::string& rel) const;
 private:
  std::filesystem::path dir_;
};

// Runs build/belay with args in `cwd`, with extra environment; DATABASE_URL is removed
// unless given in env.
proc::Outcome run_belay(const std::vector<std::string>& args, const std::filesystem::path& cwd,
                        const std::vector<std::string>& env = {});

std::string unique_name(const std::string& prefix);

}  // namespace belay::test

namespace belay::test {

// A belay process running in the background (for kill -9 and concurrency tests).
struct Background {
  pid_t pid = -1;
  std::filesystem::path out, err;
  // Waits for exit; returns exit code (-1 if killed by a signal).
  int wait();
  std::string stdout_text() const;
  std::string stderr_text() const;
};
Background spawn_belay(const std::vector<std::string>& args, const std::filesystem::path& cwd);

// Polls `sql` (first column of first row) until it equals `want` or `timeout_ms` passes.
bool wait_for(const std::string& url, const std::string& sql, const std::string& want, int timeout_ms);

}  // namespace belay::test
