// The embedded cluster: lifecycle, loopback-only listening, a non-root server, crash
// and stale-pid recovery, concurrent starts, port conflicts, template databases.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "embedded/embedded.h"
#include "support.h"

namespace belay {
namespace {

using test::TempProject;

std::string q(const std::string& url, const std::string& sql) {
  auto c = pg::Conn::open(url, "embedded-test");
  if (!c.ok()) return "ERR " + c.error().message;
  auto r = c->query(sql);
  if (!r.ok()) return "ERR " + r.error().message;
  return r->size() ? r->get(0, 0) : "";
}

bool alive(int pid) { return pid > 0 && ::kill(pid, 0) == 0; }

void wait_dead(int pid) {
  for (int i = 0; i < 400 && alive(pid); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(25));
}

TEST(Embedded, StartStatusUrlStop) {
  TempProject p("emb");
  embedded::Cluster c(p.dir());
  auto s0 = c.status();
  ASSERT_TRUE(s0.ok());
  EXPECT_EQ(s0->state, "absent");
  auto s1 = c.start();
  ASSERT_TRUE(s1.ok()) << s1.error().render();
  EXPECT_EQ(s1->state, "running");
  EXPECT_GT(s1->port, 0);
  EXPECT_GT(s1->pid, 0);
  EXPECT_EQ(s1->data, p.dir() / ".belay" / "pgdata");
  EXPECT_EQ(q(s1->url, "select current_database()"), "belay");
  EXPECT_EQ(q(s1->url, "show listen_addresses"), "127.0.0.1");
  EXPECT_EQ(q(s1->url, "select count(*) from pg_database where datname = 'belay_template' and datistemplate"), "1");
  EXPECT_EQ(q(s1->url, "show fsync"), "off");
  // The url never carries a password; TCP uses a 0600 passfile instead.
  EXPECT_EQ(s1->url.find("password"), std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(p.dir() / ".belay" / "pgpass"));
  EXPECT_EQ(std::filesystem::status(p.dir() / ".belay" / "pgpass").permissions() & std::filesystem::perms::others_read,
            std::filesystem::perms::none);
  // Over TCP on 127.0.0.1 with the passfile.
  auto tcp = fmt::format("postgresql://postgres@127.0.0.1:{}/belay?passfile={}", s1->port,
                         (p.dir() / ".belay" / "pgpass").string());
  EXPECT_EQ(q(tcp, "select 1"), "1");
  if (::geteuid() == 0) {
    // PostgreSQL refuses root: the server runs as an unprivileged account.
    std::ifstream st("/proc/" + std::to_string(s1->pid) + "/status");
    std::string line;
    uid_t uid = 0;
    while (std::getline(st, line))
      if (line.rfind("Uid:", 0) == 0) uid = static_cast<uid_t>(std::stoul(line.substr(4)));
    EXPECT_NE(uid, 0u);
  }
  // Idempotent.
  auto again = c.start();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->pid, s1->pid);
  auto s2 = c.stop();
  ASSERT_TRUE(s2.ok()) << s2.error().render();
  EXPECT_EQ(s2->state, "stopped");
  wait_dead(s1->pid);  // pg_ctl returns when the pid file goes, a moment before the exit
  EXPECT_FALSE(alive(s1->pid));
  ASSERT_TRUE(c.stop().ok());  // stopping a stopped cluster is fine
  auto s3 = c.start();
  ASSERT_TRUE(s3.ok());
  EXPECT_EQ(s3->state, "running");
  c.stop().ok();
}

TEST(Embedded, RecoversFromKillMinus9AndStalePidFile) {
  TempProject p("embk");
  embedded::Cluster c(p.dir());
  auto s = c.start();
  ASSERT_TRUE(s.ok()) << s.error().render();
  ASSERT_EQ(q(s->url, "create table keep (v int)"), "");
  ASSERT_EQ(q(s->url, "insert into keep values (42)"), "");
  ::kill(s->pid, SIGKILL);
  wait_dead(s->pid);
  auto st = c.status();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->state, "crashed");
  EXPECT_NE(st->detail.find("stale"), std::string::npos);
  auto r = c.start();
  ASSERT_TRUE(r.ok()) << r.error().render();
  EXPECT_EQ(r->state, "running");
  EXPECT_NE(r->detail.find("stale postmaster.pid"), std::string::npos) << r->detail;
  EXPECT_EQ(q(r->url, "select v from keep"), "42");
  // A pid file naming a process that is not a postgres at all (pid reuse).
  ASSERT_TRUE(c.stop().ok());
  std::ofstream(p.dir() / ".belay" / "pgdata" / "postmaster.pid") << ::getpid() << "\n";
  EXPECT_EQ(c.status()->state, "crashed");
  auto r2 = c.start();
  ASSERT_TRUE(r2.ok()) << r2.error().render();
  EXPECT_EQ(q(r2->url, "select v from keep"), "42");
  c.stop().ok();
}

TEST(Embedded, ConcurrentStartsShareOneServer) {
  TempProject p("embc");
  std::vector<int> pids(3, 0);
  std::vector<std::thread> th;
  std::vector<std::string> errors(3);
  for (int i = 0; i < 3; ++i)
    th.emplace_back([&, i] {
      auto r = test::run_belay({"db", "start", "--json"}, p.dir());
      if (r.exit_code != 0) errors[static_cast<size_t>(i)] = r.err;
      auto j = nlohmann::json::parse(r.out, nullptr, false);
      if (!j.is_discarded()) pids[static_cast<size_t>(i)] = j.value("pid", 0);
    });
  for (auto& t : th) t.join();
  for (auto& e : errors) EXPECT_EQ(e, "");
  EXPECT_GT(pids[0], 0);
  EXPECT_EQ(pids[0], pids[1]);
  EXPECT_EQ(pids[1], pids[2]);
  embedded::Cluster(p.dir()).stop().ok();
}

TEST(Embedded, PicksAnotherPortWhenItsPortIsTaken) {
  TempProject p("embp");
  embedded::Cluster c(p.dir());
  auto s = c.start();
  ASSERT_TRUE(s.ok());
  int old_port = s->port;
  ASSERT_TRUE(c.stop().ok());
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(old_port));
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  auto s2 = c.start();
  ::close(fd);
  ASSERT_TRUE(s2.ok()) << s2.error().render();
  EXPECT_NE(s2->port, old_port);
  EXPECT_EQ(q(s2->url, "select 1"), "1");
  c.stop().ok();
}

TEST(Embedded, FreshDatabasesComeFromTheTemplate) {
  auto url = test::cluster_url("postgres");
  ASSERT_FALSE(url.empty());
  embedded::Cluster c(test::cluster_project());
  auto name = test::unique_name("tpl");
  auto u = c.create_database(name);
  ASSERT_TRUE(u.ok()) << u.error().render();
  EXPECT_EQ(q(*u, "select count(*) from pg_tables where schemaname = 'public'"), "0");
  EXPECT_FALSE(c.create_database(name).ok());  // exists
  EXPECT_TRUE(c.drop_database(name).ok());
}

TEST(Embedded, ServerLocatedWithoutHardCodedPath) {
  auto bin = embedded::find_pg_bin();
  ASSERT_TRUE(bin.ok()) << bin.error().render();
  EXPECT_TRUE(std::filesystem::exists(std::filesystem::path(*bin) / "initdb"));
  auto bad = embedded::find_pg_bin("/nonexistent");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ExitCode::usage);
}

}  // namespace
}  // namespace belay
