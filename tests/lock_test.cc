// Lock safety: one runner at a time, and DDL that never queues behind a long
// transaction for longer than lock_timeout (so it never stalls other traffic).
#include <signal.h>

#include <atomic>
#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "migrate/migrate.h"
#include "project/project.h"
#include "support.h"

namespace belay {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using test::TempProject;
using test::TestDb;

migrate::MigrationSet load(const TempProject& p) {
  auto cfg = project::load(p.dir());
  auto s = migrate::load_set(*cfg);
  EXPECT_TRUE(s.ok()) << s.error().render();
  return *s;
}

// Applies migration 1 (the table t the lock tests contend on).
void migrate_to_first(const TestDb& db, const migrate::MigrationSet& set) {
  auto c = db.connect();
  migrate::RunOptions o;
  o.to = "1";
  ASSERT_FALSE(migrate::migrate(c, set, o).error);
}

TEST(Lock, SecondRunnerWaitsThenExitsNamingTheHolder) {
  TestDb db;
  TempProject p("lock2");
  p.write("migrations/1_slow.sql", "create table slow (id int);\nselect pg_sleep(3);\n");
  auto first = test::spawn_belay({"migrate", "--target", db.url()}, p.dir());
  ASSERT_TRUE(test::wait_for(db.url(),
                             "select count(*) > 0 from pg_stat_activity where query like '%pg_sleep(3)%' "
                             "and application_name like 'belay migrate%' and datname = current_database()",
                             "t", 10000));
  auto t0 = Clock::now();
  auto second = test::run_belay({"migrate", "--target", db.url(), "--lock-wait", "500ms"}, p.dir());
  auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  EXPECT_EQ(second.exit_code, 4) << second.out << second.err;
  EXPECT_NE(second.err.find("holds the migration lock"), std::string::npos) << second.err;
  EXPECT_NE(second.err.find("belay migrate (pid " + std::to_string(first.pid) + ")"), std::string::npos)
      << second.err;
  EXPECT_GE(waited, 450);
  // A patient third runner gets the lock when the first finishes, and finds nothing to do.
  auto third = test::run_belay({"migrate", "--target", db.url(), "--lock-wait", "20s", "--json"}, p.dir());
  EXPECT_EQ(third.exit_code, 0) << third.err;
  EXPECT_EQ(first.wait(), 0) << first.stderr_text();
  EXPECT_NE(third.out.find("\"steps\": []"), std::string::npos) << third.out;
  EXPECT_EQ(db.scalar("select count(*) from belay.migrations"), "1");
}

// Runs `select 1 from t` in a loop from another session and records the worst latency.
struct Traffic {
  std::atomic<bool> stop{false};
  std::atomic<long> worst_ms{0};
  std::atomic<int> queries{0};
  std::thread th;
  explicit Traffic(const std::string& url) {
    th = std::thread([this, url] {
      auto c = pg::Conn::open(url, "traffic");
      if (!c.ok()) return;
      while (!stop) {
        auto t0 = Clock::now();
        c->query("select count(*) from t").ok();
        long ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
        if (ms > worst_ms) worst_ms = ms;
        ++queries;
        std::this_thread::sleep_for(5ms);
      }
    });
  }
  ~Traffic() { stop = true; th.join(); }
};

TEST(Lock, DdlGivesUpWithinLockTimeoutAndNamesTheBlocker) {
  TestDb db;
  TempProject p("lockc");
  p.write("migrations/1_t.sql", "create table t (id int);\n");
  p.write("migrations/2_alter.sql", "-- belay:lock_timeout=300ms\nalter table t add column note text;\n");
  auto set = load(p);
  ASSERT_NO_FATAL_FAILURE(migrate_to_first(db, set));
  // A long transaction holds ACCESS SHARE on t (like a slow report).
  auto blocker = db.connect("long-report");
  ASSERT_TRUE(blocker.exec("begin; select * from t;").ok());
  Traffic traffic(db.url());
  std::this_thread::sleep_for(50ms);
  auto c = db.connect();
  migrate::RunOptions o;
  o.lock_retries = 2;
  auto t0 = Clock::now();
  auto rep = migrate::migrate(c, set, o);
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  ASSERT_TRUE(rep.error);
  EXPECT_EQ(rep.error->sqlstate, "55P03");
  EXPECT_NE(rep.error->detail.find("pid " + std::to_string(blocker.backend_pid())), std::string::npos)
      << rep.error->detail;
  EXPECT_NE(rep.error->detail.find("long-report"), std::string::npos);
  EXPECT_NE(rep.error->detail.find("AccessShareLock on t"), std::string::npos);
  ASSERT_EQ(rep.steps.size(), 1u);
  EXPECT_EQ(rep.steps[0].attempts, 3);           // 1 + 2 retries
  EXPECT_EQ(rep.steps[0].lock_timeout_ms, 300);  // the per-file directive
  EXPECT_EQ(rep.steps[0].log.size(), 3u);        // every attempt logged
  EXPECT_GE(took, 900);
  EXPECT_EQ(db.scalar("select string_agg(outcome, ',' order by at) from belay.migration_log where version = '2'"),
            "retry,retry,failed");
  // Other traffic was never stuck behind the queued ALTER for much longer than lock_timeout.
  EXPECT_GT(traffic.queries.load(), 10);
  EXPECT_LT(traffic.worst_ms.load(), 1000) << "a reader waited behind the DDL";
  EXPECT_EQ(db.scalar("select count(*) from information_schema.columns where table_name = 't' and column_name = 'note'"),
            "0");
  blocker.exec("rollback").ok();
}

TEST(Lock, RetrySucceedsOnceTheBlockerEnds) {
  TestDb db;
  TempProject p("lockr");
  p.write("migrations/1_t.sql", "create table t (id int);\n");
  p.write("migrations/2_alter.sql", "alter table t add column note text;\n");
  auto set = load(p);
  ASSERT_NO_FATAL_FAILURE(migrate_to_first(db, set));
  auto blocker = db.connect("short-report");
  ASSERT_TRUE(blocker.exec("begin; select * from t;").ok());
  std::thread ender([&] {
    std::this_thread::sleep_for(700ms);
    blocker.exec("commit").ok();
  });
  auto c = db.connect();
  migrate::RunOptions o;
  o.lock_timeout = 200ms;
  o.lock_retries = 6;
  auto rep = migrate::migrate(c, set, o);
  ender.join();
  ASSERT_FALSE(rep.error) << rep.error->render();
  EXPECT_GE(rep.steps[0].attempts, 2);
  EXPECT_EQ(db.scalar("select count(*) from information_schema.columns where table_name = 't' and column_name = 'note'"),
            "1");
}

TEST(Lock, ConcurrentRunnersApplyEachMigrationOnce) {
  TestDb db;
  TempProject p("lockn");
  for (int i = 1; i <= 20; ++i)
    p.write("migrations/" + std::to_string(i) + "_m.sql",
            "create table m" + std::to_string(i) + " (id int);\nselect pg_sleep(0.02);\n");
  std::vector<test::Background> runners;
  for (int i = 0; i < 3; ++i) runners.push_back(test::spawn_belay({"migrate", "--target", db.url(), "--lock-wait", "60s"}, p.dir()));
  for (auto& r : runners) EXPECT_EQ(r.wait(), 0) << r.stderr_text();
  EXPECT_EQ(db.scalar("select count(*) from belay.migrations where state = 'applied'"), "20");
  EXPECT_EQ(db.scalar("select count(*) from belay.migration_log where outcome = 'applied'"), "20");
}

}  // namespace
}  // namespace belay
