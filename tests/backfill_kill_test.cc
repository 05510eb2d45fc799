// kill -9 of `belay backfill run` and `belay backfill rollback` at any moment, then a
// rerun: every user is whole or absent at every moment, and the rerun finishes with exact
// counts and no duplicates.
#include <signal.h>

#include <chrono>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "backfill_support.h"

namespace belay {
namespace {

using test::BackfillDb;
namespace bf = backfill;

bool wait_orphans_gone(const BackfillDb& t) {
  return test::wait_for(t.url(),
                        "select count(*) from pg_stat_activity where application_name like 'belay backfill%' "
                        "and datname = current_database()",
                        "0", 15000);
}

// Per-user atomicity: no target row of a user without its progress row, and every done
// user has exactly its 29 rows.
void expect_whole_users(const BackfillDb& t) {
  for (auto& table : test::example_tables())
    EXPECT_EQ(t.scalar("select count(*) from " + table + " x where not exists (select 1 from "
                       "belay.backfill_progress p where p.user_key = x.user_id)"),
              "0")
        << table;
  std::string sum;
  for (auto& table : test::example_tables()) sum += (sum.empty() ? "" : " + ") + ("(select count(*) from " + table + ")");
  EXPECT_EQ(t.scalar("select (" + sum + ") = coalesce((select sum(rows) from belay.backfill_progress), 0) * 1"), "t");
  EXPECT_EQ(t.scalar("select count(*) from belay.backfill_progress where state = 'done' and rows <> 29"), "0");
  EXPECT_EQ(t.scalar("select count(*) from (select user_key, entity from belay.backfill_audit group by 1, 2 "
                     "having count(*) > 1) d"),
            "0");
}

void expect_complete(const BackfillDb& t, int users) {
  EXPECT_EQ(t.count("belay.backfill_progress where state = 'done'"), users);
  EXPECT_EQ(t.count("orgs"), users * 2);
  EXPECT_EQ(t.count("contents"), users * 8);
  EXPECT_EQ(t.count("inbox_items"), users * 4);
  EXPECT_EQ(t.count("belay.backfill_audit_rows"), users * 29);
  auto c = t.conn();
  auto v = bf::verify(c, t.job());
  ASSERT_TRUE(v.ok()) << v.error().render();
  EXPECT_TRUE(v->ok) << (v->issues.empty() ? "" : v->issues[0].check + " " + v->issues[0].detail);
}

std::vector<std::string> run_args(const BackfillDb& t, const std::string& verb, const std::string& batch) {
  return {"backfill", verb, t.job_path().string(), "--target", t.url(), "--batch-size", batch, "--no-evidence"};
}

TEST(BackfillKill, DuringARunThenResume) {
  BackfillDb t("bfkill1");
  const int users = 3000;
  t.generate(users);
  auto run = test::spawn_belay(run_args(t, "run", "50"), t.project().dir());
  ASSERT_TRUE(test::wait_for(t.url(), "select to_regclass('belay.backfill_progress') is not null and "
                             "(select count(*) from belay.backfill_progress) >= 300", "t", 60000));
  ::kill(run.pid, SIGKILL);
  EXPECT_EQ(run.wait(), -1);
  ASSERT_TRUE(wait_orphans_gone(t));
  auto done = t.count("belay.backfill_progress");
  EXPECT_GE(done, 300);
  EXPECT_LT(done, users) << "the run finished before it was killed; make it bigger";
  expect_whole_users(t);
  auto again = test::run_belay({"backfill", "run", t.job_path().string(), "--target", t.url(), "--json", "--no-evidence"},
                               t.project().dir());
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_NE(again.out.find("\"resumed\": true"), std::string::npos) << again.out.substr(0, 500);
  EXPECT_EQ(t.count("belay.backfill_runs"), 1);
  expect_complete(t, users);
}

TEST(BackfillKill, AtRandomMomentsThenResume) {
  BackfillDb t("bfkill2");
  const int users = 1500;
  t.generate(users);
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> delay(50, 1500);
  for (int round = 0; round < 4; ++round) {
    auto run = test::spawn_belay(run_args(t, "run", "40"), t.project().dir());
    std::this_thread::sleep_for(std::chrono::milliseconds(delay(rng)));
    ::kill(run.pid, SIGKILL);
    run.wait();
    ASSERT_TRUE(wait_orphans_gone(t));
    if (t.scalar("select to_regclass('belay.backfill_progress') is not null") == "t") {
      expect_whole_users(t);
    }
  }
  auto fin = test::run_belay(run_args(t, "run", "200"), t.project().dir());
  EXPECT_EQ(fin.exit_code, 0) << fin.out << fin.err;
  // One run took users and was resumed after each kill; a backup killed before its commit
  // left nothing behind, and runs started after it finished found nothing to do.
  EXPECT_EQ(t.count("belay.backfill_runs where users_planned > 0"), 1);
  EXPECT_EQ(t.count("belay.backfill_runs where state <> 'done'"), 0);
  expect_complete(t, users);
}

TEST(BackfillKill, DuringARollbackThenResume) {
  BackfillDb t("bfkill3");
  const int users = 1500;
  t.generate(users);
  t.exec("insert into orgs (id, user_id, name) values ('11111111-1111-1111-1111-111111111111', 'user-000001', 'kept')");
  auto before = t.count("orgs");
  auto r = t.run();
  ASSERT_FALSE(r.error) << r.error->render();
  auto rb = test::spawn_belay(run_args(t, "rollback", "20"), t.project().dir());
  ASSERT_TRUE(test::wait_for(t.url(), "select count(*) <= 1300 from belay.backfill_progress", "t", 60000));
  ::kill(rb.pid, SIGKILL);
  EXPECT_EQ(rb.wait(), -1);
  ASSERT_TRUE(wait_orphans_gone(t));
  auto left = t.count("belay.backfill_progress");
  EXPECT_GT(left, 0) << "the rollback finished before it was killed; make it bigger";
  // Users not rolled back yet are whole; rolled back ones are gone entirely.
  EXPECT_EQ(t.count("orgs where name <> 'kept'"), left * 2);
  EXPECT_EQ(t.count("belay.backfill_audit_rows"), left * 29);
  EXPECT_EQ(t.scalar("select count(*) from contents c where not exists (select 1 from belay.backfill_progress p "
                     "where p.user_key = c.user_id)"),
            "0");
  auto again = test::run_belay(run_args(t, "rollback", "500"), t.project().dir());
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_EQ(t.count("orgs"), before);
  EXPECT_EQ(t.scalar("select name from orgs"), "kept");
  for (auto& table : test::example_tables())
    if (table != "orgs") {
      EXPECT_EQ(t.count(table), 0) << table;
    }
  EXPECT_EQ(t.count("belay.backfill_audit"), 0);
  EXPECT_EQ(t.count("belay.backfill_progress"), 0);
  EXPECT_EQ(t.scalar("select state from belay.backfill_runs"), "rolled_back");
}

}  // namespace
}  // namespace belay
