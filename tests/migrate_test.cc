// The migration engine against a real PostgreSQL: apply, status, rollback, drift,
// failures with locations, non-transactional scripts, resume, Supabase history.
#include <gtest/gtest.h>

#include "migrate/migrate.h"
#include "project/project.h"
#include "support.h"

namespace belay {
namespace {

using test::TempProject;
using test::TestDb;

struct Fixture {
  TestDb db;
  TempProject proj{"mig"};
  project::Config cfg() const {
    auto c = project::load(proj.dir());
    EXPECT_TRUE(c.ok()) << c.error().render();
    return *c;
  }
  migrate::MigrationSet set() const {
    auto s = migrate::load_set(cfg());
    EXPECT_TRUE(s.ok()) << s.error().render();
    return s.ok() ? *s : migrate::MigrationSet{};
  }
  migrate::RunOptions opts() const {
    migrate::RunOptions o;
    o.lock_timeout = std::chrono::milliseconds(500);
    o.lock_retries = 1;
    o.flavor = cfg().flavor;
    return o;
  }
  migrate::RunReport up(migrate::RunOptions o) {
    auto c = db.connect();
    return migrate::migrate(c, set(), o);
  }
  migrate::RunReport up() { return up(opts()); }
  migrate::RunReport down(int steps) {
    auto c = db.connect();
    auto o = opts();
    o.steps = steps;
    return migrate::rollback(c, set(), o);
  }
  std::vector<migrate::StatusEntry> status() {
    auto c = db.connect();
    auto s = migrate::status(c, set());
    EXPECT_TRUE(s.ok());
    return s.ok() ? *s : std::vector<migrate::StatusEntry>{};
  }
  bool table_exists(const std::string& t) { return db.scalar("select to_regclass('" + t + "') is not null") == "t"; }
};

void basic(TempProject& p) {
  p.write("migrations/1_users.sql", "create table users (id int primary key, email text);\n");
  p.write("migrations/1_users.down.sql", "drop table users;\n");
  p.write("migrations/2_posts.sql",
          "-- migrate:up\ncreate table posts (id int primary key, user_id int references users(id));\n"
          "-- migrate:down\ndrop table posts;\n");
  p.write("migrations/10_tags.sql", "create table tags (id int);\n");  // no rollback
}

TEST(Migrate, AppliesInNumericOrderAndRecordsHistory) {
  Fixture f;
  basic(f.proj);
  auto st0 = f.status();
  ASSERT_EQ(st0.size(), 3u);
  for (auto& e : st0) EXPECT_EQ(e.state, "pending");
  EXPECT_TRUE(st0[0].has_down);
  EXPECT_FALSE(st0[2].has_down);
  auto rep = f.up();
  ASSERT_FALSE(rep.error) << rep.error->render();
  ASSERT_EQ(rep.steps.size(), 3u);
  EXPECT_EQ(rep.steps[0].version, "1");
  EXPECT_EQ(rep.steps[1].version, "2");
  EXPECT_EQ(rep.steps[2].version, "10");
  for (auto& e : f.status()) EXPECT_EQ(e.state, "applied") << e.version;
  EXPECT_EQ(f.db.scalar("select count(*) from belay.migrations where state = 'applied'"), "3");
  EXPECT_EQ(f.db.scalar("select count(*) from belay.migration_log where outcome = 'applied'"), "3");
  EXPECT_NE(f.db.scalar("select applied_by from belay.migrations where version = '1'"), "");
  // Nothing left to do the second time.
  auto again = f.up();
  EXPECT_FALSE(again.error);
  EXPECT_TRUE(again.steps.empty());
}

TEST(Migrate, ToStopsAtVersion) {
  Fixture f;
  basic(f.proj);
  auto o = f.opts();
  o.to = "2";
  auto rep = f.up(o);
  ASSERT_FALSE(rep.error);
  EXPECT_EQ(rep.steps.size(), 2u);
  EXPECT_FALSE(f.table_exists("tags"));
}

TEST(Migrate, DryRunTouchesNothing) {
  Fixture f;
  basic(f.proj);
  auto o = f.opts();
  o.dry_run = true;
  auto rep = f.up(o);
  ASSERT_FALSE(rep.error);
  ASSERT_EQ(rep.steps.size(), 3u);
  EXPECT_EQ(rep.steps[0].outcome, "planned");
  EXPECT_EQ(rep.steps[0].mode, "transaction");
  ASSERT_EQ(rep.steps[0].statements.size(), 1u);
  EXPECT_NE(rep.steps[0].statements[0].find("create table users"), std::string::npos);
  EXPECT_EQ(rep.steps[0].lock_timeout_ms, 500);
  EXPECT_FALSE(f.table_exists("users"));
  EXPECT_EQ(f.db.scalar("select count(*) from pg_namespace where nspname = 'belay'"), "0");
}

TEST(Migrate, FailureReportsLocationAndKeepsLastGoodMigration) {
  Fixture f;
  f.proj.write("migrations/1_a.sql", "create table a (id int);\n");
  f.proj.write("migrations/2_b.sql",
               "create table b (id int);\n\n-- the next one fails at run time\ninsert into b (id, nope) values (1, 2);\n");
  f.proj.write("migrations/3_c.sql", "create table c (id int);\n");
  auto rep = f.up();
  ASSERT_TRUE(rep.error);
  EXPECT_EQ(rep.error->sqlstate, "42703");  // undefined_column
  EXPECT_NE(rep.error->file.find("2_b.sql"), std::string::npos);
  EXPECT_EQ(rep.error->line, 4);
  EXPECT_EQ(rep.error->column, 20);  // the server's position of "nope"
  EXPECT_NE(rep.error->message.find("statement 2 of 2"), std::string::npos);
  EXPECT_TRUE(f.table_exists("a"));
  EXPECT_FALSE(f.table_exists("b"));  // the whole migration rolled back
  EXPECT_FALSE(f.table_exists("c"));  // nothing after the failure ran
  auto st = f.status();
  EXPECT_EQ(st[0].state, "applied");
  EXPECT_EQ(st[1].state, "pending");
  EXPECT_EQ(f.db.scalar("select count(*) from belay.migration_log where outcome = 'failed' and version = '2'"), "1");
}

TEST(Migrate, RollbackStepsAndTo) {
  Fixture f;
  f.proj.write("migrations/1_a.sql", "create table a (id int);\n");
  f.proj.write("migrations/1_a.down.sql", "drop table a;\n");
  f.proj.write("migrations/2_b.sql", "create table b (id int);\n");
  f.proj.write("migrations/2_b.down.sql", "drop table b;\n");
  f.proj.write("migrations/3_c.sql", "create table c (id int);\n");
  f.proj.write("migrations/3_c.down.sql", "drop table c;\n");
  ASSERT_FALSE(f.up().error);
  auto r1 = f.down(1);
  ASSERT_FALSE(r1.error);
  ASSERT_EQ(r1.steps.size(), 1u);
  EXPECT_EQ(r1.steps[0].version, "3");
  EXPECT_FALSE(f.table_exists("c"));
  EXPECT_TRUE(f.table_exists("b"));
  auto c = f.db.connect();
  auto o = f.opts();
  o.to = "1";
  auto r2 = migrate::rollback(c, f.set(), o);
  ASSERT_FALSE(r2.error);
  EXPECT_FALSE(f.table_exists("b"));
  EXPECT_TRUE(f.table_exists("a"));
  EXPECT_EQ(f.db.scalar("select string_agg(version, ',') from belay.migrations"), "1");
}

TEST(Migrate, RollbackRefusesBeforeRunningWhenADownIsMissing) {
  Fixture f;
  basic(f.proj);  // 10_tags has no down
  ASSERT_FALSE(f.up().error);
  auto r = f.down(3);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->code, ExitCode::refused);
  EXPECT_NE(r.error->message.find("10_tags"), std::string::npos);
  EXPECT_TRUE(r.steps.empty());
  EXPECT_TRUE(f.table_exists("users"));
  EXPECT_TRUE(f.table_exists("posts"));
  EXPECT_EQ(f.db.scalar("select count(*) from belay.migrations"), "3");
}

TEST(Migrate, DriftIsRefusedUnlessAllowed) {
  Fixture f;
  f.proj.write("migrations/1_a.sql", "create table a (id int);\n");
  ASSERT_FALSE(f.up().error);
  // Reformatting is not drift.
  f.proj.write("migrations/1_a.sql", "-- tidy\nCREATE TABLE a (\n  id INT\n);\n");
  EXPECT_EQ(f.status()[0].state, "applied");
  // A changed statement is.
  f.proj.write("migrations/1_a.sql", "create table a (id bigint);\n");
  f.proj.write("migrations/2_b.sql", "create table b (id int);\n");
  auto st = f.status();
  EXPECT_EQ(st[0].state, "drifted");
  auto r = f.up();
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->code, ExitCode::refused);
  EXPECT_FALSE(f.table_exists("b"));
  auto o = f.opts();
  o.allow_drift = true;
  auto r2 = f.up(o);
  ASSERT_FALSE(r2.error);
  EXPECT_TRUE(f.table_exists("b"));
}

TEST(Migrate, MissingFileIsReported) {
  Fixture f;
  f.proj.write("migrations/1_a.sql", "create table a (id int);\n");
  f.proj.write("migrations/2_b.sql", "create table b (id int);\n");
  ASSERT_FALSE(f.up().error);
  f.proj.remove("migrations/2_b.sql");
  auto st = f.status();
  ASSERT_EQ(st.size(), 2u);
  EXPECT_EQ(st[1].state, "missing");
  EXPECT_EQ(st[1].version, "2");
}

TEST(Migrate, OutOfOrderRefusedUnlessAllowed) {
  Fixture f;
  f.proj.write("migrations/1_a.sql", "create table a (id int);\n");
  f.proj.write("migrations/3_c.sql", "create table c (id int);\n");
  ASSERT_FALSE(f.up().error);
  f.proj.write("migrations/2_b.sql", "create table b (id int);\n");
  auto r = f.up();
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->code, ExitCode::refused);
  auto o = f.opts();
  o.allow_out_of_order = true;
  ASSERT_FALSE(f.up(o).error);
  EXPECT_TRUE(f.table_exists("b"));
}

TEST(Migrate, MixedConcurrentIndexFileRunsStatementByStatement) {
  Fixture f;
  f.proj.write("migrations/1_t.sql", "create table t (id int, owner int);\n");
  f.proj.write("migrations/2_idx.sql",
               "alter table t add column created_at timestamptz;\n"
               "create index concurrently t_owner_idx on t (owner);\n"
               "comment on index t_owner_idx is 'by owner';\n"
               "drop index concurrently if exists t_nothing_idx;\n"
               "create index t_created_idx on t (created_at);\n");
  f.proj.write("migrations/2_idx.down.sql",
               "drop index concurrently if exists t_owner_idx;\ndrop index if exists t_created_idx;\n"
               "alter table t drop column created_at;\n");
  auto r = f.up();
  ASSERT_FALSE(r.error) << r.error->render();
  EXPECT_NE(r.steps[1].mode.find("CONCURRENTLY"), std::string::npos);
  EXPECT_EQ(f.db.scalar("select indisvalid from pg_index where indexrelid = 't_owner_idx'::regclass"), "t");
  EXPECT_EQ(f.db.scalar("select obj_description('t_owner_idx'::regclass)"), "by owner");
  EXPECT_EQ(f.db.scalar("select state || progress || '/' || total from belay.migrations where version = '2'"),
            "applied5/5");
  auto d = f.down(1);
  ASSERT_FALSE(d.error) << d.error->render();
  EXPECT_FALSE(f.table_exists("t_owner_idx"));
  EXPECT_EQ(f.db.scalar("select count(*) from belay.migrations"), "1");
}

TEST(Migrate, FailedConcurrentBuildLeavesProgressAndRerunRebuildsInvalidIndex) {
  Fixture f;
  f.proj.write("migrations/1_t.sql", "create table t (id int, email text);\ninsert into t values (1, 'a'), (2, 'a');\n");
  f.proj.write("migrations/2_uniq.sql",
               "create table audit (id int);\n"
               "create unique index concurrently t_email_key on t (email);\n"
               "insert into audit values (1);\n");
  auto r = f.up();
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->sqlstate, "23505");
  EXPECT_EQ(r.error->line, 2);
  // The first statement is kept and recorded; the failed build left an INVALID index.
  EXPECT_EQ(f.db.scalar("select state || ':' || progress from belay.migrations where version = '2'"), "partial_up:1");
  EXPECT_EQ(f.db.scalar("select indisvalid from pg_index where indexrelid = 't_email_key'::regclass"), "f");
  auto st = f.status();
  EXPECT_EQ(st[1].state, "partial");
  // Fix the data, run again: resumes at statement 2, drops the INVALID index, rebuilds it.
  f.db.scalar("delete from t where id = 2");
  auto r2 = f.up();
  ASSERT_FALSE(r2.error) << r2.error->render();
  EXPECT_EQ(r2.steps[0].resumed_from, 1);
  bool dropped = false;
  for (auto& l : r2.steps[0].log) dropped |= l.find("INVALID") != std::string::npos;
  EXPECT_TRUE(dropped);
  EXPECT_EQ(f.db.scalar("select indisvalid from pg_index where indexrelid = 't_email_key'::regclass"), "t");
  EXPECT_EQ(f.db.scalar("select count(*) from audit"), "1");  // statement 1 not run twice
  EXPECT_EQ(f.db.scalar("select state from belay.migrations where version = '2'"), "applied");
}

TEST(Migrate, WrappingBeginCommitAndSessionSettingsDoNotLeak) {
  Fixture f;
  f.proj.write("migrations/1_a.sql", "create schema app;\nset search_path = app;\ncreate table a (id int);\n");
  f.proj.write("migrations/2_b.sql", "create table b (id int);\n");
  ASSERT_FALSE(f.up().error);
  EXPECT_TRUE(f.table_exists("app.a"));
  EXPECT_TRUE(f.table_exists("public.b"));  // search_path was reset between migrations
}

TEST(Migrate, SupabaseHistoryKeptInStepAndBaseline) {
  Fixture f;
  f.proj.write("belay.toml", "[project]\nflavor = \"supabase\"\n");
  f.proj.write("supabase/migrations/20251019004500_blueprints.sql", "create table blueprints (id int);\n");
  f.proj.write("supabase/migrations.backup/20251019004500_blueprints_rollback.sql", "drop table blueprints;\n");
  f.proj.write("supabase/migrations/20251019013000_graph.sql", "create table graph (id int);\n");
  auto s = f.set();
  ASSERT_EQ(s.layout, "supabase");
  ASSERT_TRUE(s.migrations[0].down.has_value());
  ASSERT_FALSE(f.up().error);
  EXPECT_EQ(f.db.scalar("select string_agg(version || ':' || name, ',' order by version) from "
                        "supabase_migrations.schema_migrations"),
            "20251019004500:blueprints,20251019013000:graph");
  EXPECT_EQ(f.db.scalar("select statements[1] from supabase_migrations.schema_migrations where version = "
                        "'20251019004500'"),
            "create table blueprints (id int)");
  // Rollback of the newest needs its down: graph has none.
  EXPECT_TRUE(f.down(1).error);
  // Adopt a database the Supabase CLI migrated: forget belay's history, baseline from Supabase's.
  f.db.scalar("delete from belay.migrations");
  auto c = f.db.connect();
  auto b = migrate::baseline(c, f.set(), std::nullopt, true);
  ASSERT_TRUE(b.ok()) << b.error().render();
  EXPECT_EQ(b->size(), 2u);
  for (auto& e : f.status()) EXPECT_EQ(e.state, "applied");
}

TEST(Migrate, BaselineTo) {
  Fixture f;
  basic(f.proj);
  auto c = f.db.connect();
  auto b = migrate::baseline(c, f.set(), std::string("2"), false);
  ASSERT_TRUE(b.ok()) << b.error().render();
  EXPECT_EQ(b->size(), 2u);
  auto r = f.up();
  ASSERT_FALSE(r.error);
  ASSERT_EQ(r.steps.size(), 1u);
  EXPECT_EQ(r.steps[0].version, "10");
}

}  // namespace
}  // namespace belay

namespace belay {
namespace {

TEST(MigrateCommit, DeferredConstraintFailingAtCommitIsReportedAndNothingApplied) {
  Fixture f;
  f.proj.write("migrations/1_a.sql",
               "create table parent (id int primary key);\n"
               "create table child (id int, parent_id int references parent (id) deferrable initially deferred);\n"
               "insert into child values (1, 42);\n");
  auto r = f.up();
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->sqlstate, "23503");
  EXPECT_NE(r.error->message.find("commit failed"), std::string::npos) << r.error->message;
  EXPECT_NE(r.error->file.find("1_a.sql"), std::string::npos);
  EXPECT_FALSE(f.table_exists("parent"));
  EXPECT_EQ(f.db.scalar("select count(*) from belay.migrations"), "0");
}

TEST(MigrateCommit, LongMigrationsStayAtomicAcrossPipelineChunks) {
  Fixture f;
  std::string body = "create table big (id int primary key);\n";
  for (int i = 1; i <= 600; ++i) body += "insert into big values (" + std::to_string(i) + ");\n";
  body += "insert into big values (1);\n";  // duplicate key at statement 602
  f.proj.write("migrations/1_big.sql", body);
  auto r = f.up();
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->sqlstate, "23505");
  EXPECT_EQ(r.error->line, 602);
  EXPECT_FALSE(f.table_exists("big"));  // the first chunks were not committed on their own
  f.proj.write("migrations/1_big.sql", body.substr(0, body.rfind("insert")));
  auto ok = f.up();
  ASSERT_FALSE(ok.error) << ok.error->render();
  EXPECT_EQ(f.db.scalar("select count(*) from big"), "600");
}

}  // namespace
}  // namespace belay
