// The libpq module: batches and pipelines report exactly which statement failed and
// where, and keep their all-or-nothing transaction.
#include <gtest/gtest.h>

#include "pg/pg.h"
#include "support.h"

namespace belay {
namespace {

using test::TestDb;

TEST(Pg, ExecBatchIsOneTransactionAndNamesTheFailingStatement) {
  TestDb db;
  auto c = db.connect();
  auto r = c.exec_batch({"create table a (id int)", "insert into a values (1)", "insert into a (nope) values (2)",
                         "create table never (id int)"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.failed_index, 2);
  EXPECT_EQ(r.completed, 2);
  EXPECT_EQ(r.error->sqlstate, "42703");
  EXPECT_EQ(r.error_byte, 15);  // "nope" inside the third statement
  EXPECT_EQ(db.scalar("select to_regclass('a') is null"), "t");  // rolled back
  EXPECT_EQ(db.scalar("select to_regclass('never') is null"), "t");
  auto ok = c.exec_batch({"create table b (id int)", "insert into b values (1), (2)"});
  EXPECT_TRUE(ok.ok());
  EXPECT_EQ(ok.completed, 2);
  EXPECT_EQ(db.scalar("select count(*) from b"), "2");
}

TEST(Pg, ExecBatchSyntaxErrorPointsIntoItsStatement) {
  TestDb db;
  auto c = db.connect();
  auto r = c.exec_batch({"create table s1 (id int)", "select 1", "selec 2"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error->sqlstate, "42601");
  EXPECT_EQ(r.failed_index, 2);
  EXPECT_EQ(r.completed, 0);  // nothing ran
  EXPECT_EQ(r.error_byte, 0);
}

TEST(Pg, PipelineStopsAtTheFirstFailure) {
  TestDb db;
  auto c = db.connect();
  auto r = c.pipeline({"create table p (id int)", "select 1/0", "create table q (id int)"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.failed_index, 1);
  EXPECT_EQ(r.error->sqlstate, "22012");
  EXPECT_EQ(db.scalar("select to_regclass('q') is null"), "t");
  EXPECT_EQ(db.scalar("select to_regclass('p') is null"), "t");  // implicit transaction rolled back
}

TEST(Pg, PipelineReportsAnErrorAtImplicitCommit) {
  TestDb db;
  auto c = db.connect();
  ASSERT_TRUE(c.exec("create table parent (id int primary key); create table child (pid int references parent "
                     "deferrable initially deferred)").ok());
  auto r = c.pipeline({"create table z (id int)", "insert into child values (7)"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.failed_index, 2);  // == statements.size(): the commit
  EXPECT_EQ(r.error->sqlstate, "23503");
  EXPECT_EQ(db.scalar("select to_regclass('z') is null"), "t");
}

TEST(Pg, NoticesAreCollectedAndErrorsCarryEveryField) {
  TestDb db;
  auto c = db.connect();
  ASSERT_TRUE(c.exec("create table if not exists n (id int primary key)").ok());
  ASSERT_TRUE(c.exec("create table if not exists n (id int primary key)").ok());
  auto notes = c.take_notices();
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_NE(notes[0].find("already exists"), std::string::npos);
  ASSERT_TRUE(c.exec("insert into n values (1)").ok());
  pg::ServerError se;
  auto r = c.query_detailed("insert into n values (1)", &se);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(se.sqlstate, "23505");
  EXPECT_EQ(se.table, "n");
  EXPECT_EQ(se.constraint, "n_pkey");
  EXPECT_FALSE(se.detail.empty());
  EXPECT_EQ(r.error().object, "public.n constraint n_pkey");
}

TEST(Pg, QuotingRoundTrips) {
  TestDb db;
  auto c = db.connect();
  auto r = c.query("select " + pg::quote_literal("it's \\ fine") + ", " + pg::quote_ident("we\"ird") + " from (select 1 as " +
                   pg::quote_ident("we\"ird") + ") s");
  ASSERT_TRUE(r.ok()) << r.error().render();
  EXPECT_EQ(r->get(0, 0), "it's \\ fine");
}

}  // namespace
}  // namespace belay
