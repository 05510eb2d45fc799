#include "support.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <fstream>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "embedded/embedded.h"
#include "project/project.h"

namespace belay::test {
namespace stdfs = std::filesystem;

stdfs::path cluster_project() {
  auto p = stdfs::path(BELAY_TEST_ROOT) / "cluster";
  stdfs::create_directories(p);
  return p;
}

std::string cluster_url(const std::string& database) {
  static std::string started;  // started once per process
  embedded::Cluster c(cluster_project());
  if (started.empty()) {
    auto r = c.start();
    if (!r.ok()) {
      ADD_FAILURE() << "cannot start the test cluster: " << r.error().render();
      return "";
    }
    started = "yes";
  }
  return c.url(database);
}

namespace {
// The shared cluster of a flavor (started once per process per flavor).
embedded::Cluster flavor_cluster(const std::string& flavor) {
  if (flavor == "postgres") return embedded::Cluster(cluster_project());
  auto dir = stdfs::path(BELAY_TEST_ROOT) / ("cluster-" + flavor);
  stdfs::create_directories(dir);
  project::Config cfg;
  cfg.flavor = flavor;
  return embedded::Cluster(dir, project::embedded_options(cfg));
}
}  // namespace

std::string cluster_url(const std::string& database, const std::string& flavor) {
  static std::map<std::string, bool> started;
  auto c = flavor_cluster(flavor);
  if (!started[flavor]) {
    auto r = c.start();
    if (!r.ok()) {
      ADD_FAILURE() << "cannot start the " << flavor << " test cluster: " << r.error().render();
      return "";
    }
    started[flavor] = true;
  }
  return c.url(database);
}

std::string unique_name(const std::string& prefix) {
  static std::atomic<int> n{0};
  return fmt::format("{}_{}_{}", prefix, ::getpid(), n++);
}

TestDb::TestDb() {
  name_ = unique_name("t");
  cluster_url("postgres");
  embedded::Cluster c(cluster_project());
  auto r = c.create_database(name_);
  if (!r.ok()) ADD_FAILURE() << r.error().render();
  else url_ = *r;
}

TestDb::TestDb(const std::string& flavor) : flavor_(flavor) {
  name_ = unique_name("t");
  if (cluster_url("postgres", flavor).empty()) return;
  auto r = flavor_cluster(flavor).create_database(name_);
  if (!r.ok()) ADD_FAILURE() << r.error().render();
  else url_ = *r;
}

TestDb::~TestDb() {
  flavor_cluster(flavor_).drop_database(name_).ok();
}

TempRole::TempRole(const TestDb& d) : db(d), name(unique_name("test_role")) {
  EXPECT_TRUE(db.connect().exec("create role " + name).ok());
}

TempRole::~TempRole() {
  auto c = db.connect();
  c.exec("drop owned by " + name).ok();
  c.exec("drop role " + name).ok();
}

pg::Conn TestDb::connect(const std::string& app) const {
  auto c = pg::Conn::open(url_, app);
  if (!c.ok()) {
    ADD_FAILURE() << c.error().render();
    std::abort();
  }
  return std::move(c).value();
}

std::string TestDb::scalar(const std::string& sql) const {
  auto c = connect();
  auto r = c.query(sql);
  if (!r.ok()) {
    ADD_FAILURE() << sql << ": " << r.error().render();
    return "";
  }
  return r->size() ? r->get(0, 0) : "";
}

TempProject::TempProject(const std::string& tag) {
  dir_ = stdfs::path(BELAY_TEST_ROOT) / "projects" / unique_name(tag);
  stdfs::remove_all(dir_);
  stdfs::create_directories(dir_);
  ::chmod(dir_.c_str(), 0755);
}

TempProject::~TempProject() {
  std::error_code ec;
  // A test that started a cluster in its project stops it, even when it failed midway.
  if (stdfs::exists(dir_ / ".belay" / "pgdata" / "postmaster.pid")) embedded::Cluster(dir_).stop().ok();
  if (!::getenv("BELAY_KEEP_TEST_PROJECTS")) stdfs::remove_all(dir_, ec);
}

void TempProject::write(const std::string& rel, const std::string& content) const {
  auto p = dir_ / rel;
  stdfs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary | std::ios::trunc) << content;
}

void TempProject::remove(const std::string& rel) const { stdfs::remove(dir_ / rel); }

proc::Outcome run_belay(const std::vector<std::string>& args, const stdfs::path& cwd,
                        const std::vector<std::string>& env) {
  std::vector<std::string> argv{BELAY_BIN};
  argv.insert(argv.end(), args.begin(), args.end());
  proc::Options o;
  o.cwd = cwd.string();
  o.env = env;
  o.unset = {"DATABASE_URL", "NO_COLOR"};
  auto r = proc::run(argv, o);
  if (!r.ok()) {
    ADD_FAILURE() << r.error().render();
    return {};
  }
  return *r;
}

}  // namespace belay::test

#include <sys/wait.h>

#include <chrono>
#include <sstream>
#include <thread>

namespace belay::test {

int Background::wait() {
  int st = 0;
  if (pid <= 0) return -2;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
  pid = -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
std::string Background::stdout_text() const { return slurp(out); }
std::string Background::stderr_text() const { return slurp(err); }

Background spawn_belay(const std::vector<std::string>& args, const std::filesystem::path& cwd) {
  Background b;
  static std::atomic<int> n{0};
  auto base = std::filesystem::path(BELAY_TEST_ROOT) / "logs";
  std::filesystem::create_directories(base);
  auto tag = fmt::format("{}-{}", ::getpid(), n++);
  b.out = base / (tag + ".out");
  b.err = base / (tag + ".err");
  std::filesystem::remove(b.out);
  std::filesystem::remove(b.err);
  std::vector<std::string> argv{BELAY_BIN};
  argv.insert(argv.end(), args.begin(), args.end());
  proc::Options o;
  o.cwd = cwd.string();
  o.unset = {"DATABASE_URL"};
  o.die_with_parent = true;  // a test run killed midway leaves no server or runner behind
  auto r = proc::spawn(argv, o, b.out.string(), b.err.string());
  if (!r.ok()) ADD_FAILURE() << r.error().render();
  else b.pid = *r;
  return b;
}

bool wait_for(const std::string& url, const std::string& sql, const std::string& want, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  auto c = pg::Conn::open(url, "belay-test-poll");
  if (!c.ok()) return false;
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = c->query(sql);
    if (r.ok() && r->size() && r->get(0, 0) == want) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return false;
}

}  // namespace belay::test
