// belay backfill against a real PostgreSQL: examples/backfill's schema and job, the
// generated seed 003 data, and messy documents on purpose.
#include <thread>

#include <gtest/gtest.h>

#include "backfill/store.h"
#include "backfill_support.h"

namespace belay {
namespace {

using namespace std::chrono_literals;
using test::BackfillDb;
namespace bf = backfill;

TEST(Backfill, RunWritesEveryRowWithItsAuditAndProgress) {
  BackfillDb t("bf_run");
  t.generate(30);
  auto r = t.run();
  ASSERT_FALSE(r.error) << r.error->render();
  EXPECT_EQ(r.users_total, 30);
  EXPECT_EQ(r.users_done, 30);
  EXPECT_EQ(r.users_quarantined, 0);
  EXPECT_EQ(r.rows, 30 * 29);
  EXPECT_EQ(r.superseded_rows, 3);  // every tenth user has an older row
  EXPECT_EQ(t.count("orgs"), 60);
  EXPECT_EQ(t.count("contents"), 240);
  EXPECT_EQ(t.count("inbox_items"), 120);
  EXPECT_EQ(t.count("belay.backfill_progress where state = 'done'"), 30);
  EXPECT_EQ(t.count("belay.backfill_audit_rows"), 30 * 29);
  EXPECT_EQ(t.count(r.backup_table), 30);
  EXPECT_EQ(t.scalar("select state from belay.backfill_runs where run_id = '" + r.run_id + "'"), "done");
  // The latest row won: no stale org.
  EXPECT_EQ(t.count("orgs where name = 'stale org'"), 0);
  // Ids are UUIDv5(job, user, entity, old id), and references point at the right parent.
  EXPECT_EQ(t.scalar("select id from orgs where user_id = 'user-000007' and name like 'Org 2 %'"),
            bf::new_id(t.job(), "user-000007", "orgs", "o2"));
  EXPECT_EQ(t.scalar("select o.name from personas p join orgs o on o.id = p.org_id "
                     "where p.id = '" + bf::new_id(t.job(), "user-000007", "personas", "p1") + "'"),
            "Org 2 of 7");
  // leads have numeric old ids; inbox items reference them as numbers.
  EXPECT_EQ(t.count("inbox_items i join leads l on l.id = i.lead_id"), 120);
  // The audit names the source row.
  EXPECT_EQ(t.scalar("select count(distinct source_id) from belay.backfill_audit"), "30");
  auto c = t.conn();
  auto v = bf::verify(c, t.job());
  ASSERT_TRUE(v.ok()) << v.error().render();
  EXPECT_TRUE(v->ok) << (v->issues.empty() ? "" : v->issues[0].detail);
  EXPECT_EQ(v->users_checked, 30);
  EXPECT_EQ(v->rows_checked, 30 * 29);
}

TEST(Backfill, SameRowsAsTheHandWrittenSetBasedSql) {
  BackfillDb belay_db("bf_floor1"), floor_db("bf_floor2");
  belay_db.generate(25);
  floor_db.generate(25);
  auto r = belay_db.run();
  ASSERT_FALSE(r.error) << r.error->render();
  auto floor_sql = test::slurp_file(test::repo_root() / "bench/backfill_floor.sql");
  auto pos = floor_sql.find(":ns");
  ASSERT_NE(pos, std::string::npos);
  floor_sql.replace(pos, 3, "'" + bf::job_namespace("user_app_state") + "'");
  floor_db.exec(floor_sql);
  EXPECT_EQ(belay_db.snapshot(), floor_db.snapshot());
}

TEST(Backfill, ARerunInsertsNothingTwice) {
  BackfillDb t("bf_rerun");
  t.generate(12);
  auto first = t.run();
  ASSERT_FALSE(first.error) << first.error->render();
  auto before = t.snapshot();
  auto again = t.run();
  ASSERT_FALSE(again.error) << again.error->render();
  EXPECT_NE(again.run_id, first.run_id);
  EXPECT_EQ(again.users_total, 0);
  EXPECT_EQ(again.rows, 0);
  EXPECT_EQ(t.snapshot(), before);
  // New users added later are the only ones the next run takes.
  t.doc("late-user", R"({"orgs": [{"id": "o1", "name": "Late"}]})");
  auto third = t.run();
  EXPECT_EQ(third.users_total, 1);
  EXPECT_EQ(third.rows, 1);
}

TEST(Backfill, LimitsAndBatchesTakeUsersInOrder) {
  BackfillDb t("bf_limit");
  t.generate(20);
  bf::RunOptions o;
  o.limit = 7;
  o.batch_size = 3;
  o.workers = 3;
  auto r = t.run(o);
  ASSERT_FALSE(r.error) << r.error->render();
  EXPECT_EQ(r.users_done, 7);
  EXPECT_EQ(r.batches, 3);
  EXPECT_EQ(t.scalar("select max(user_key) from belay.backfill_progress"), "user-000007");
  auto rest = t.run();
  EXPECT_EQ(rest.users_done, 13);
  EXPECT_EQ(t.count("belay.backfill_progress"), 20);
}

TEST(Backfill, MessyDocumentsAreHandledAsConfiguredCountedAndReported) {
  BackfillDb t("bf_messy");
  // Several rows per user: the older must lose.
  t.doc("dup", R"({"orgs": [{"id": "old", "name": "old"}]})", "2025-01-01");
  t.doc("dup", R"({"orgs": [{"id": "new", "name": "new"}]})", "2025-06-01");
  // Dangling reference (on_dangling = null): the persona lands with org_id NULL.
  t.doc("dangling", R"({"orgs": [{"id": "o1", "name": "A"}], "personas": [{"id": "p1", "orgId": "o404", "name": "P"}]})");
  // Missing ids (on_missing_id = skip_row).
  t.doc("noid", R"({"orgs": [{"name": "no id"}, {"id": "o1", "name": "has id"}]})");
  // Numbers as strings (coerce = true).
  t.doc("strnum", R"({"accounts": [{"id": "a1", "platform": "x", "followers": "1200"}],
                      "leads": [{"id": "1", "accountId": "a1", "score": "0.75"}],
                      "inboxItems": [{"id": "i1", "leadId": 1, "accountId": "a1"}]})");
  // Null arrays and an object where an array should be (on_bad_type = quarantine).
  t.doc("nullarr", R"({"orgs": null, "personas": null})");
  t.doc("objarr", R"({"orgs": {"id": "o1", "name": "not in an array"}})");
  // Wrong type (quarantine): the whole user is left out, with the reason.
  t.doc("badtype", R"({"orgs": [{"id": "o1", "name": "A"}], "contents": [{"id": "c1", "wordCount": "many"}]})");
  // Unicode everywhere, including the user key.
  t.doc("üñí😀", R"({"orgs": [{"id": "ø1", "name": "Zoë 😀 \"quoted\" \\ back\tslash"}]})");
  // Empty users: {} and a NULL document.
  t.doc("empty", "{}");
  t.exec("insert into user_app_state (user_id, state) values ('nulldoc', null)");
  // A very large document: 5,000 contents of ~1 KB.
  std::string big = R"({"orgs": [{"id": "o1", "name": "Big"}], "personas": [{"id": "p1", "orgId": "o1", "name": "P"}], "contents": [)";
  for (int i = 0; i < 5000; ++i)
    big += fmt::format("{}{{\"id\": \"c{}\", \"personaId\": \"p1\", \"title\": \"t{}\", \"body\": \"{}\"}}", i ? "," : "",
                       i, i, std::string(1000, 'x'));
  big += "]}";
  t.doc("big", big);
  // A row without a user key is never taken.
  t.exec("insert into user_app_state (user_id, state) values ('', '{\"orgs\": [{\"id\": \"x\", \"name\": \"x\"}]}')");

  auto c = t.conn();
  auto plan = bf::plan(c, t.job(), {});
  ASSERT_TRUE(plan.ok()) << plan.error().render();
  EXPECT_EQ(plan->pending_users, 11);
  EXPECT_EQ(plan->superseded_rows, 1);
  EXPECT_EQ(plan->rows_without_user, 1);
  EXPECT_EQ(plan->empty_users, 3);  // {}, NULL, and null arrays
  EXPECT_EQ(plan->problems_by_kind["dangling_ref"], 1);
  EXPECT_EQ(plan->problems_by_kind["missing_id"], 1);
  EXPECT_EQ(plan->problems_by_kind["coerced"], 2);  // followers and score; the lead id "1" is an id, not a value
  EXPECT_EQ(plan->problems_by_kind["null_array"], 2);
  EXPECT_EQ(plan->problems_by_kind["not_an_array"], 1);
  EXPECT_EQ(plan->problems_by_kind["bad_type"], 1);

  auto r = t.run();
  ASSERT_FALSE(r.error) << r.error->render();
  EXPECT_EQ(r.users_total, 11);
  EXPECT_EQ(r.users_done, 9);
  EXPECT_EQ(r.users_quarantined, 2);
  EXPECT_EQ(r.empty_users, 3);
  ASSERT_EQ(r.quarantined.size(), 2u);
  EXPECT_EQ(r.quarantined[0].user, "badtype");
  EXPECT_NE(r.quarantined[0].reason.find("expected int, got string \"many\""), std::string::npos) << r.quarantined[0].reason;
  EXPECT_EQ(r.quarantined[1].user, "objarr");
  EXPECT_NE(r.quarantined[1].reason.find("not_an_array"), std::string::npos);
  EXPECT_EQ(r.problems_by_kind["dangling_ref"], 1);

  EXPECT_EQ(t.scalar("select string_agg(name, ',') from orgs where user_id = 'dup'"), "new");
  EXPECT_EQ(t.scalar("select org_id is null from personas where user_id = 'dangling'"), "t");
  EXPECT_EQ(t.scalar("select string_agg(name, ',') from orgs where user_id = 'noid'"), "has id");
  EXPECT_EQ(t.scalar("select followers from accounts where user_id = 'strnum'"), "1200");
  EXPECT_EQ(t.scalar("select score from leads where user_id = 'strnum'"), "0.75");
  EXPECT_EQ(t.scalar("select l.score from inbox_items i join leads l on l.id = i.lead_id where i.user_id = 'strnum'"),
            "0.75");
  EXPECT_EQ(t.count("orgs where user_id in ('objarr', 'badtype', 'nullarr', 'empty', 'nulldoc')"), 0);
  EXPECT_EQ(t.scalar("select name from orgs where user_id = 'üñí😀'"), "Zoë 😀 \"quoted\" \\ back\tslash");
  EXPECT_EQ(t.count("contents where user_id = 'big'"), 5000);
  EXPECT_EQ(t.scalar("select reason from belay.backfill_quarantine where user_key = 'objarr'"), r.quarantined[1].reason);
  EXPECT_EQ(t.scalar("select state from belay.backfill_progress where user_key = 'nulldoc'"), "done");

  auto v = bf::verify(c, t.job());
  ASSERT_TRUE(v.ok()) << v.error().render();
  EXPECT_TRUE(v->ok) << (v->issues.empty() ? "" : v->issues[0].check + ": " + v->issues[0].detail);
  EXPECT_EQ(v->users_quarantined, 2);
  EXPECT_EQ(v->users_pending, 0);
}

TEST(Backfill, PlanWritesNothingAndShowsWhatTheRunWrites) {
  BackfillDb t("bf_plan");
  t.generate(6);
  auto before = t.snapshot();
  auto c = t.conn();
  bf::PlanOptions o;
  o.users = {"user-000002"};
  auto p = bf::plan(c, t.job(), o);
  ASSERT_TRUE(p.ok()) << p.error().render();
  EXPECT_EQ(t.snapshot(), before);
  EXPECT_EQ(t.scalar("select to_regclass('belay.backfill_progress') is null"), "t");  // not even belay's tables
  ASSERT_EQ(p->users.size(), 1u);
  EXPECT_EQ(p->pending_users, 6);
  auto& u = p->users[0];
  EXPECT_EQ(u.entities.size(), 7u);
  long long rows = 0;
  for (auto& t2 : p->tables) rows += t2.rows;
  EXPECT_EQ(rows, 29);
  EXPECT_NE(p->script.find("copy \"orgs\" (\"id\", \"user_id\", \"name\", \"plan\", \"created_at\") from stdin;\n"),
            std::string::npos)
      << p->script.substr(0, 400);
  EXPECT_NE(p->script.find("copy belay.backfill_audit"), std::string::npos);
  EXPECT_EQ(p->statements.front(), "begin");
  EXPECT_EQ(p->statements.back(), "commit");
  // The id map the plan shows is what the run writes.
  auto r = t.run();
  ASSERT_FALSE(r.error);
  for (auto& e : u.entities)
    for (auto& m : e.ids) {
      auto table = e.table == "references" ? "\"references\"" : e.table;
      EXPECT_EQ(t.scalar(fmt::format("select count(*) from {} where id = '{}' and user_id = 'user-000002'", table, m.new_id)),
                "1")
          << e.entity << " " << m.old_id;
    }
}

TEST(Backfill, ThePlannedSqlIsExactlyWhatARunWrites) {
  BackfillDb planned("bf_sql1"), ran("bf_sql2");
  planned.generate(4);
  ran.generate(4);
  auto c = planned.conn();
  auto p = bf::plan(c, planned.job(), {});
  ASSERT_TRUE(p.ok()) << p.error().render();
  auto r = ran.run();
  ASSERT_FALSE(r.error);
  // psql runs the script (COPY ... FROM stdin with its rows) on the other database.
  ASSERT_TRUE(bf::ensure_tables(c).ok());
  planned.project().write("plan.sql", p->script);
  auto psql = proc::run({"psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", (planned.project().dir() / "plan.sql").string(),
                         planned.url()},
                        {});
  ASSERT_TRUE(psql.ok());
  EXPECT_EQ(psql->exit_code, 0) << psql->err;
  EXPECT_EQ(planned.snapshot(), ran.snapshot());
  EXPECT_EQ(planned.count("belay.backfill_audit_rows"), ran.count("belay.backfill_audit_rows"));
}

TEST(Backfill, RollbackRestoresTheTablesIncludingRowsBelayDidNotCreate) {
  BackfillDb t("bf_rollback");
  t.generate(15);
  // Rows that existed before belay ran, for a backfilled user and for another one.
  t.exec("insert into orgs (id, user_id, name) values ('11111111-1111-1111-1111-111111111111', 'user-000003', 'mine'), "
         "('22222222-2222-2222-2222-222222222222', 'someone', 'theirs');"
         "insert into personas (id, user_id, org_id, name) values ('33333333-3333-3333-3333-333333333333', "
         "'user-000003', '11111111-1111-1111-1111-111111111111', 'hand-made')");
  auto before = t.snapshot();
  bf::RunOptions o;
  o.limit = 10;
  auto r1 = t.run(o);
  auto r2 = t.run();
  ASSERT_FALSE(r1.error);
  ASSERT_FALSE(r2.error);
  EXPECT_EQ(t.count("orgs"), 2 + 30);
  auto c = t.conn();
  // One user, then one run, then everything.
  bf::RollbackOptions one;
  one.user = "user-000001";
  auto ru = bf::rollback(c, t.job(), one);
  ASSERT_FALSE(ru.error) << ru.error->render();
  EXPECT_EQ(ru.users, 1);
  EXPECT_EQ(ru.rows, 29);
  EXPECT_EQ(t.count("orgs where user_id = 'user-000001'"), 0);
  EXPECT_EQ(ru.order.front(), "inbox_items");  // children first
  EXPECT_EQ(ru.order.back(), "orgs");
  bf::RollbackOptions run2;
  run2.run_id = r2.run_id;
  auto rr = bf::rollback(c, t.job(), run2);
  ASSERT_FALSE(rr.error) << rr.error->render();
  EXPECT_EQ(rr.users, 5);
  EXPECT_EQ(rr.runs, std::vector<std::string>{r2.run_id});
  EXPECT_EQ(t.count("belay.backfill_progress"), 9);
  auto all = bf::rollback(c, t.job(), {});
  ASSERT_FALSE(all.error) << all.error->render();
  EXPECT_EQ(all.users, 9);
  EXPECT_EQ(t.snapshot(), before);
  EXPECT_EQ(t.count("belay.backfill_audit"), 0);
  EXPECT_EQ(t.count("belay.backfill_progress"), 0);
  EXPECT_EQ(t.count("user_app_state"), 17);  // the source is untouched
  // Rolled back users are backfilled again by the next run.
  auto again = t.run();
  EXPECT_EQ(again.users_done, 15);
}

TEST(Backfill, RollbackStopsWhenRowsBelayDidNotCreateDependOnItsRows) {
  BackfillDb t("bf_rbdep");
  t.generate(3);
  ASSERT_FALSE(t.run().error);
  auto org = bf::new_id(t.job(), "user-000002", "orgs", "o1");
  t.exec("insert into personas (id, user_id, org_id, name) values ('44444444-4444-4444-4444-444444444444', 'app', '" +
         org + "', 'written by the app since')");
  auto c = t.conn();
  bf::RollbackOptions o;
  o.user = "user-000002";
  auto r = bf::rollback(c, t.job(), o);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->sqlstate, "23503");
  EXPECT_NE(r.error->next.find("rows belay did not create"), std::string::npos);
  EXPECT_EQ(t.count("orgs where user_id = 'user-000002'"), 2);  // nothing half-deleted
  EXPECT_EQ(t.count("belay.backfill_audit where user_key = 'user-000002'"), 7);
}

TEST(Backfill, UsersTheServerRefusesAreQuarantinedAndTheRestLand) {
  BackfillDb t("bf_refused");
  t.generate(40);
  t.exec("alter table contents add constraint positive_words check (word_count >= 0)");
  t.exec("update user_app_state set state = jsonb_set(state, '{contents,0,wordCount}', '-5') where user_id = 'user-000017'");
  // A row that already holds one of the ids belay will compute.
  t.exec("insert into orgs (id, user_id, name) values ('" + bf::new_id(t.job(), "user-000033", "orgs", "o2") +
         "', 'someone-else', 'collides')");
  bf::RunOptions o;
  o.batch_size = 40;
  auto r = t.run(o);
  ASSERT_FALSE(r.error) << r.error->render();
  EXPECT_EQ(r.users_done, 38);
  EXPECT_EQ(r.users_quarantined, 2);
  EXPECT_GT(r.bisections, 0);
  ASSERT_EQ(r.quarantined.size(), 2u);
  EXPECT_EQ(r.quarantined[0].user, "user-000017");
  EXPECT_EQ(r.quarantined[0].sqlstate, "23514");
  EXPECT_NE(r.quarantined[0].reason.find("positive_words"), std::string::npos) << r.quarantined[0].reason;
  EXPECT_EQ(r.quarantined[1].sqlstate, "23505");
  EXPECT_EQ(t.count("orgs where user_id in ('user-000017', 'user-000033')"), 0);
  EXPECT_EQ(t.count("contents"), 38 * 8);
  EXPECT_EQ(t.count("orgs where name = 'collides'"), 1);
  // Fixed, then retried.
  t.exec("update user_app_state set state = jsonb_set(state, '{contents,0,wordCount}', '5') where user_id = 'user-000017'");
  bf::RunOptions retry;
  retry.retry_quarantined = true;
  auto r2 = t.run(retry);
  EXPECT_EQ(r2.users_done, 1);
  EXPECT_EQ(r2.users_quarantined, 1);
}

TEST(Backfill, AnErrorThatIsNotAboutOneUserStopsTheRunAndARerunResumes) {
  BackfillDb t("bf_fatal");
  t.generate(10);
  t.exec("create function deny() returns trigger language plpgsql as $$ begin if new.user_id = 'user-000006' then "
         "raise exception 'no access' using errcode = '42501'; end if; return new; end $$;"
         "create trigger deny before insert on orgs for each row execute function deny()");
  bf::RunOptions o;
  o.batch_size = 5;
  o.workers = 1;
  auto r = t.run(o);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->sqlstate, "42501");
  EXPECT_EQ(r.users_quarantined, 0);
  EXPECT_EQ(r.users_done, 5);
  t.exec("drop trigger deny on orgs");
  auto again = t.run();
  ASSERT_FALSE(again.error) << again.error->render();
  EXPECT_TRUE(again.resumed);
  EXPECT_EQ(again.run_id, r.run_id);
  EXPECT_EQ(again.users_done, 10);
  EXPECT_EQ(t.count("orgs"), 20);
}

TEST(Backfill, LockTimeoutsAreRetriedNotQuarantined) {
  auto text = BackfillDb::example_job() + "\n";
  text.replace(text.find("[defaults]"), 10, "[run]\nlock_timeout = \"200ms\"\n\n[defaults]");
  BackfillDb t("bf_locks", text);
  t.generate(4);
  auto holder = t.conn();
  ASSERT_TRUE(holder.exec("begin; lock table personas in access exclusive mode").ok());
  std::thread release([&] {
    std::this_thread::sleep_for(700ms);
    holder.exec("commit").ok();
  });
  auto r = t.run();
  release.join();
  ASSERT_FALSE(r.error) << r.error->render();
  EXPECT_GE(r.batch_retries, 1);
  EXPECT_EQ(r.users_done, 4);
  EXPECT_EQ(r.users_quarantined, 0);
}

TEST(Backfill, ThrottlesWhileSessionsWaitOnItsLocks) {
  BackfillDb t("bf_throttle");
  t.generate(4);
  // Each batch holds its locks for a while.
  t.exec("create function slow() returns trigger language plpgsql as $$ begin perform pg_sleep(0.6); return null; end $$;"
         "create trigger slow after insert on orgs for each statement execute function slow()");
  std::thread blocker([&] {
    auto c = t.db().connect("belay-test blocker");
    ASSERT_TRUE(test::wait_for(t.url(), "select count(*) > 0 from pg_stat_activity where wait_event = 'PgSleep' "
                               "and application_name like 'belay backfill run%'", "t", 15000));
    // Waits for the batch in flight, then gets out of the way at once.
    EXPECT_TRUE(c.exec("begin; lock table orgs in share mode; commit").ok());
  });
  bf::RunOptions o;
  o.batch_size = 1;
  o.workers = 1;
  o.throttle_check = 50ms;
  std::vector<std::string> kinds;
  o.on_event = [&](const bf::RunEvent& e) { kinds.push_back(e.kind); };
  auto r = t.run(o);
  blocker.join();
  ASSERT_FALSE(r.error) << r.error->render();
  EXPECT_EQ(r.users_done, 4);
  EXPECT_NE(std::find(kinds.begin(), kinds.end(), "throttle"), kinds.end());
  EXPECT_NE(std::find(kinds.begin(), kinds.end(), "throttle_end"), kinds.end());
  EXPECT_GT(r.throttled_ms, 0);
}

TEST(Backfill, OneRunnerPerJob) {
  BackfillDb t("bf_lock");
  t.generate(2);
  auto other = t.db().connect("belay backfill run (other)");
  ASSERT_TRUE(other.query("select pg_advisory_lock(hashtextextended('belay.backfill:user_app_state', 0))").ok());
  bf::RunOptions o;
  o.lock_wait = 300ms;
  auto r = t.run(o);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->code, ExitCode::locked);
  EXPECT_NE(r.error->message.find("belay backfill run (other)"), std::string::npos) << r.error->message;
  EXPECT_EQ(t.count("orgs"), 0);
  auto c = t.conn();
  bf::RollbackOptions ro;
  ro.lock_wait = 300ms;
  EXPECT_EQ(bf::rollback(c, t.job(), ro).error->code, ExitCode::locked);
}

TEST(Backfill, AResumedRunRefusesAChangedJobFile) {
  BackfillDb t("bf_changed");
  t.generate(4);
  t.exec("create function deny() returns trigger language plpgsql as $$ begin raise exception 'stop' using errcode = "
         "'42501'; end $$; create trigger deny before insert on leads for each row execute function deny()");
  auto r = t.run();
  ASSERT_TRUE(r.error);
  t.exec("drop trigger deny on leads");
  t.set_job(BackfillDb::example_job() + "\n# edited\n");
  auto again = t.run();
  ASSERT_TRUE(again.error);
  EXPECT_EQ(again.error->code, ExitCode::refused);
  EXPECT_NE(again.error->next.find("--run " + r.run_id), std::string::npos) << again.error->render();
}

TEST(Backfill, JobsThatDoNotFitTheTablesFailBeforeAnythingIsWritten) {
  auto text = BackfillDb::example_job();
  text.replace(text.find("tone = { from = \"tone\""), 4, "tome");
  BackfillDb t("bf_badjob", text);
  t.generate(2);
  auto r = t.run();
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->code, ExitCode::usage);
  EXPECT_NE(r.error->message.find("table personas has no column 'tome'"), std::string::npos) << r.error->render();
  EXPECT_GT(r.error->line, 0);
  EXPECT_NE(r.error->file.find("job.toml"), std::string::npos);
  EXPECT_EQ(t.count("orgs"), 0);
  EXPECT_EQ(t.scalar("select to_regclass('belay.backfill_runs') is not null and not exists (select 1 from "
                     "belay.backfill_runs)"),
            "t");
  t.exec("alter table orgs add column required_thing text not null");
  t.set_job(BackfillDb::example_job());
  auto r2 = t.run();
  ASSERT_TRUE(r2.error);
  EXPECT_NE(r2.error->message.find("NOT NULL without a default"), std::string::npos) << r2.error->render();
}

TEST(Backfill, VerifyFindsWhatIsWrong) {
  BackfillDb t("bf_verify");
  t.generate(5);
  ASSERT_FALSE(t.run().error);
  auto c = t.conn();
  auto ok = bf::verify(c, t.job());
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(ok->ok);
  // A row deleted by hand, an orphan behind a dropped foreign key, a duplicated audit
  // row, a changed source document, and an audit that lost a skipped count.
  t.exec("delete from \"references\" where user_id = 'user-000001'");
  t.exec("alter table personas drop constraint personas_org_id_fkey;"
         "update personas set org_id = '55555555-5555-5555-5555-555555555555' where user_id = 'user-000002'");
  t.exec("insert into belay.backfill_audit select * from belay.backfill_audit where user_key = 'user-000003' and entity = 'orgs'");
  t.exec("update user_app_state set updated_at = now() where user_id = 'user-000004'");
  t.exec("update belay.backfill_audit set skipped = 1 where user_key = 'user-000005' and entity = 'leads'");
  auto v = bf::verify(c, t.job());
  ASSERT_TRUE(v.ok()) << v.error().render();
  EXPECT_FALSE(v->ok);
  EXPECT_EQ(v->failures_by_check["missing_rows"], 1);
  EXPECT_EQ(v->failures_by_check["orphans"], 3);
  EXPECT_EQ(v->failures_by_check["duplicate_ids"], 2);
  EXPECT_EQ(v->failures_by_check["duplicate_mappings"], 2);
  EXPECT_GE(v->failures_by_check["counts"], 2);  // user 3 orgs (doubled) and user 5 leads
  EXPECT_EQ(v->users_changed_since, 1);
}

}  // namespace
}  // namespace belay
