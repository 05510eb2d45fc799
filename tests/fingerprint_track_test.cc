// fingerprint::Tracker against a real PostgreSQL: after every change of a long, varied
// series (creates, alters, renames that other objects print, drops of sub-objects that
// leave no row behind, comments, grants, sequence values), the tracked hash must equal a
// full digest() of the same database, and the model must equal a full capture().
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fingerprint/fingerprint.h"
#include "pg/pg.h"
#include "support.h"

namespace belay {
namespace {

namespace fp = fingerprint;
using test::TestDb;

// Each entry runs on the tracked connection; the tracker then has to agree with digest().
const std::vector<std::string> kSeries = {
    "create table t (id bigint generated always as identity primary key, owner uuid, title text not null)",
    "alter table t add column score integer not null default 0",
    "create index t_owner_idx on t (owner)",
    "alter table t enable row level security",
    "create policy t_owner on t for select using (owner = nullif(current_setting('app.user', true), '')::uuid)",
    "comment on table t is 'things'",
    "comment on column t.title is 'the title'",
    "grant select on t to public",
    "grant update (title) on t to public",
    "insert into t (owner, title) values (null, 'a')",  // sequence value moves without DDL
    "create table child (id int primary key, t_id bigint references t (id))",
    "create view v as select id, title from t",
    "alter table t rename column title to headline",    // the view and comment print the new name
    "alter table t rename to things",                   // the foreign key, view and policy print it
    "alter index t_owner_idx rename to things_owner_idx",
    "drop policy t_owner on things",                    // deletes a pg_policy row only
    "drop index things_owner_idx",                      // the table's row is untouched
    "alter table child drop constraint child_t_id_fkey",
    "comment on table things is null",                  // deletes a pg_description row only
    "revoke update (headline) on things from public",
    "create function f(x int) returns int language sql immutable as 'select x + 1'",
    "create or replace function f(x int) returns int language sql immutable as 'select x + 2'",
    "create trigger trg before update on things for each row execute function suppress_redundant_updates_trigger()",
    "drop trigger trg on things",
    "create type mood as enum ('sad', 'ok')",
    "alter type mood add value 'happy'",
    "create domain pos as integer check (value > 0)",
    "alter table things add column m mood",
    "alter type mood rename to feeling",                // the column's type prints the new name
    "alter table things alter column score set default 5",
    "alter table things alter column score drop default",
    "alter table things alter column score drop not null",
    "alter table things add constraint score_pos check (score >= 0) not valid",
    "alter table things validate constraint score_pos",
    "create sequence s",
    "select nextval('s')",
    "select setval('s', 1, false)",
    "create schema app",
    "create table app.a (x int)",
    "alter schema app rename to api",                   // every qualified name inside changes
    "alter default privileges in schema api grant select on tables to public",
    "create materialized view mv as select 1 as one",
    "drop materialized view mv",
    "alter table things disable row level security",
    "drop view v",
    "drop table child",
    "drop function f(int)",
    "drop schema api cascade",
    "drop table things",
    "drop domain pos",
    "drop type feeling",
    "drop sequence s",
};

TEST(FingerprintTracker, AgreesWithAFullDigestAfterEveryChange) {
  TestDb db;
  auto conn = db.connect();
  auto tracker = fp::Tracker::start(conn);
  ASSERT_TRUE(tracker.ok()) << tracker.error().render();
  auto other = db.connect();
  for (auto& sql : kSeries) {
    ASSERT_TRUE(conn.exec(sql).ok()) << sql;
    auto d = tracker->update(conn);
    ASSERT_TRUE(d.ok()) << sql << ": " << d.error().render();
    auto full = fp::capture(other);
    ASSERT_TRUE(full.ok()) << full.error().render();
    if (d->hash != full->hash) {
      std::string diff;
      for (auto& c : fp::diff(tracker->model(), *full)) {
        diff += "\n  " + c.describe();
        for (auto& [k, v] : c.values) diff += "\n    " + k + ": " + v.first + " -> " + v.second;
      }
      auto tm = tracker->model();
      diff += "\n  sizes: tracked " + std::to_string(tracker->objects()) + " parsed " + std::to_string(tm.size()) +
              " full " + std::to_string(full->size());
      for (size_t i = 0; i < std::min(tm.size(), full->size()); ++i)
        if (tm.objects[i].kind != full->objects[i].kind || tm.objects[i].id != full->objects[i].id) {
          diff += "\n  first difference at " + std::to_string(i) + ": " + tm.objects[i].kind + " " + tm.objects[i].id +
                  " vs " + full->objects[i].kind + " " + full->objects[i].id;
          break;
        }
      FAIL() << "after `" << sql << "` the tracked model differs from a full capture (tracked -> full):" << diff;
    }
    EXPECT_EQ(d->objects, full->size()) << sql;
  }
  // Most updates re-read a few objects, not the schema.
  EXPECT_LT(tracker->stats().full_reads, 4) << "full reads";
}

// Roles are shared by the whole cluster: one made or dropped elsewhere changes nothing here
// and costs no full read; a rename of one this database prints (owner, grant, policy) does.
TEST(FingerprintTracker, RoleRenamesReadEverythingOtherRoleChangesNothing) {
  TestDb db;
  auto conn = db.connect();
  auto admin = pg::Conn::open(test::cluster_url("postgres"), "belay-test");
  ASSERT_TRUE(admin.ok());
  auto owner = test::unique_name("owner"), other = test::unique_name("other");
  ASSERT_TRUE(admin->exec("create role " + owner).ok());
  ASSERT_TRUE(conn.exec("create table t (id int primary key); alter table t owner to " + owner +
                        "; create policy p on t to " + owner + " using (true)").ok());
  auto tracker = fp::Tracker::start(conn);
  ASSERT_TRUE(tracker.ok()) << tracker.error().render();
  auto check = [&](const std::string& what, int full_reads) {
    auto d = tracker->update(conn);
    ASSERT_TRUE(d.ok()) << d.error().render();
    auto full = fp::capture(conn);
    ASSERT_TRUE(full.ok());
    EXPECT_EQ(d->hash, full->hash) << what;
    EXPECT_EQ(tracker->stats().full_reads, full_reads) << what;
  };
  const int start = tracker->stats().full_reads;
  ASSERT_TRUE(admin->exec("create role " + other).ok());
  check("a role created elsewhere", start);
  ASSERT_TRUE(admin->exec("alter role " + other + " rename to " + other + "_x").ok());
  check("a role this database never prints, renamed", start + 1);
  ASSERT_TRUE(admin->exec("drop role " + other + "_x").ok());
  check("a role dropped elsewhere", start + 1);
  ASSERT_TRUE(admin->exec("alter role " + owner + " rename to " + owner + "_x").ok());
  check("the owner renamed", start + 2);
  EXPECT_NE(fp::capture(conn)->hash, "");
  ASSERT_TRUE(conn.exec("drop table t").ok());
  ASSERT_TRUE(admin->exec("drop role " + owner + "_x").ok());
}

TEST(FingerprintTracker, LastChangeHoldsTheObjectsBeforeAndAfter) {
  TestDb db;
  auto conn = db.connect();
  ASSERT_TRUE(conn.exec("create table t (id int primary key, owner uuid)").ok());
  auto tracker = fp::Tracker::start(conn);
  ASSERT_TRUE(tracker.ok()) << tracker.error().render();
  ASSERT_TRUE(conn.exec("alter table t enable row level security; grant select on t to public").ok());
  ASSERT_TRUE(tracker->update(conn).ok());
  auto [before, after] = tracker->last_change();
  std::vector<std::string> added;
  for (auto& c : fp::diff(before, after))
    if (c.what == "added") added.push_back(c.kind + " " + c.id);
  EXPECT_NE(std::find(added.begin(), added.end(), "rls public.t"), added.end());
  EXPECT_NE(std::find(added.begin(), added.end(), "grant table public.t / PUBLIC / SELECT"), added.end());
}

TEST(FingerprintTracker, SeesChangesMadeOnAnotherConnection) {
  TestDb db;
  auto conn = db.connect();
  auto tracker = fp::Tracker::start(conn);
  ASSERT_TRUE(tracker.ok());
  auto other = db.connect();
  ASSERT_TRUE(other.exec("create table elsewhere (x int)").ok());
  auto d = tracker->update(conn);
  ASSERT_TRUE(d.ok());
  auto full = fp::digest(conn);
  ASSERT_TRUE(full.ok());
  EXPECT_EQ(d->hash, full->hash);
}

}  // namespace
}  // namespace belay
