// kill -9 of a runner at any moment leaves history consistent with the schema, and
// the next run finishes the job.
#include <signal.h>

#include <chrono>
#include <random>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "support.h"

namespace belay {
namespace {

using namespace std::chrono_literals;
using test::TempProject;
using test::TestDb;

// The killed runner's backend notices its client is gone (client_connection_check_interval)
// and ends, rolling back what was in flight.
bool wait_orphans_gone(const TestDb& db) {
  return test::wait_for(db.url(),
                        "select count(*) from pg_stat_activity where application_name like 'belay migrate%' "
                        "and datname = current_database()",
                        "0", 15000);
}

void kill_when_running(const TestDb& db, test::Background& b, const std::string& query_part) {
  ASSERT_TRUE(test::wait_for(db.url(),
                             "select count(*) > 0 from pg_stat_activity where application_name like 'belay migrate%' "
                             "and query like '%" + query_part + "%' and state = 'active' and datname = current_database()",
                             "t", 15000));
  ::kill(b.pid, SIGKILL);
  EXPECT_EQ(b.wait(), -1);
  ASSERT_TRUE(wait_orphans_gone(db));
}

TEST(Kill, InsideATransactionalMigrationNothingIsHalfApplied) {
  TestDb db;
  TempProject p("kill1");
  p.write("migrations/1_a.sql", "create table a (id int);\n");
  p.write("migrations/2_b.sql", "create table b (id int);\nselect pg_sleep(2.5);\n");
  auto run = test::spawn_belay({"migrate", "--target", db.url()}, p.dir());
  kill_when_running(db, run, "pg_sleep(2.5)");
  EXPECT_EQ(db.scalar("select string_agg(version, ',') from belay.migrations"), "1");
  EXPECT_EQ(db.scalar("select to_regclass('b') is null"), "t");
  auto again = test::run_belay({"migrate", "--target", db.url()}, p.dir());
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(db.scalar("select count(*) from belay.migrations where state = 'applied'"), "2");
  EXPECT_EQ(db.scalar("select to_regclass('b') is not null"), "t");
}

TEST(Kill, InsideANonTransactionalMigrationTheRerunResumes) {
  TestDb db;
  TempProject p("kill2");
  p.write("migrations/1_c.sql",
          "create table c1 (id int);\n"
          "create index concurrently c1_idx on c1 (id);\n"
          "select pg_sleep(2.5);\n"
          "create table c2 (id int);\n");
  auto run = test::spawn_belay({"migrate", "--target", db.url()}, p.dir());
  kill_when_running(db, run, "pg_sleep(2.5)");
  EXPECT_EQ(db.scalar("select state || ':' || progress || '/' || total from belay.migrations"), "partial_up:2/4");
  EXPECT_EQ(db.scalar("select to_regclass('c2') is null"), "t");
  auto st = test::run_belay({"status", "--target", db.url(), "--json"}, p.dir());
  EXPECT_NE(st.out.find("\"state\": \"partial\""), std::string::npos) << st.out;
  // c1 is not created twice (that would fail): the rerun starts at statement 3.
  auto again = test::run_belay({"migrate", "--target", db.url(), "--json"}, p.dir());
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_NE(again.out.find("\"resumed_from\": 2"), std::string::npos) << again.out;
  EXPECT_EQ(db.scalar("select state || ':' || progress from belay.migrations"), "applied:4");
  EXPECT_EQ(db.scalar("select to_regclass('c2') is not null"), "t");
}

// History state of migration `i`, "none" if it has no row (or no history table yet: a
// runner killed very early never got to create it).
std::string state_of(const TestDb& db, int i) {
  if (db.scalar("select to_regclass('belay.migrations') is null") == "t") return "none";
  return db.scalar(fmt::format("select coalesce((select state from belay.migrations where version = '{}'), 'none')", i));
}

// Every applied history row has its table, and every table has its row.
void expect_consistent(const TestDb& db, int n) {
  for (int i = 1; i <= n; ++i) {
    auto state = state_of(db, i);
    auto exists = db.scalar(fmt::format("select to_regclass('m{}') is not null", i));
    EXPECT_EQ(state == "applied", exists == "t") << "migration " << i << " state " << state << " table " << exists;
  }
}

TEST(Kill, AtRandomMomentsHistoryAlwaysMatchesSchema) {
  TestDb db;
  TempProject p("killr");
  const int n = 12;
  for (int i = 1; i <= n; ++i) {
    std::string body = fmt::format("create table m{0} (id int);\nselect pg_sleep(0.05);\n", i);
    if (i % 4 == 0)  // some statement-by-statement migrations in the mix
      body = fmt::format("create table m{0} (id int);\ncreate index concurrently m{0}_idx on m{0} (id);\n"
                         "select pg_sleep(0.05);\n", i);
    p.write(fmt::format("migrations/{}_m.sql", i), body);
  }
  std::mt19937 rng(42);
  std::uniform_int_distribution<int> delay(30, 400);
  for (int round = 0; round < 6; ++round) {
    auto run = test::spawn_belay({"migrate", "--target", db.url()}, p.dir());
    std::this_thread::sleep_for(std::chrono::milliseconds(delay(rng)));
    ::kill(run.pid, SIGKILL);
    run.wait();
    ASSERT_TRUE(wait_orphans_gone(db));
    // Partial (statement-by-statement) rows are allowed mid-way; applied ones must be real.
    for (int i = 1; i <= n; ++i) {
      auto state = state_of(db, i);
      if (state == "applied") {
        EXPECT_EQ(db.scalar(fmt::format("select to_regclass('m{}') is not null", i)), "t");
      }
      if (state == "none" && i % 4 != 0) {
        EXPECT_EQ(db.scalar(fmt::format("select to_regclass('m{}') is null", i)), "t") << "round " << round << " m" << i;
      }
    }
  }
  auto fin = test::run_belay({"migrate", "--target", db.url()}, p.dir());
  EXPECT_EQ(fin.exit_code, 0) << fin.out << fin.err;
  expect_consistent(db, n);
  EXPECT_EQ(db.scalar("select count(*) from belay.migrations where state = 'applied'"), std::to_string(n));
  EXPECT_EQ(db.scalar("select count(*) from pg_index where not indisvalid"), "0");
}

}  // namespace
}  // namespace belay
