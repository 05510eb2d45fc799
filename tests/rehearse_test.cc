// Rehearsal proves each rollback restores the schema, and names what a bad one leaves
// behind or loses.
#include <memory>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "embedded/embedded.h"
#include "migrate/migrate.h"
#include "project/project.h"
#include "rehearse/rehearse.h"
#include "rls/rls.h"
#include "support.h"

namespace belay {
namespace {

using test::TempProject;

// A rehearsal database plus every database the rehearsal asks for, dropped at the end.
struct Rehearsal {
  TempProject proj{"reh"};
  std::vector<std::string> dbs;
  embedded::Cluster cluster{test::cluster_project()};
  std::string flavor = "postgres";                   // another: databases from that flavor's cluster
  std::vector<std::unique_ptr<test::TestDb>> owned;
  std::optional<rls::SurfaceOptions> surface;        // compare the security surface
  std::optional<findings::Severity> surface_fail_at = findings::Severity::error;
  int jobs = 0;
  std::vector<std::string> progress;  // "index:version" as on_progress saw them
  ~Rehearsal() {
    for (auto& d : dbs) cluster.drop_database(d).ok();
  }
  Result<std::string> fresh() {
    if (flavor != "postgres") {
      owned.push_back(std::make_unique<test::TestDb>(flavor));
      return owned.back()->url();
    }
    test::cluster_url("postgres");
    auto name = test::unique_name("reh");
    auto url = cluster.create_database(name);
    if (url.ok()) dbs.push_back(name);
    return url;
  }
  rehearse::Report run(bool with_fresh = true, bool require_down = false, bool track = true) {
    auto cfg = project::load(proj.dir());
    EXPECT_TRUE(cfg.ok());
    auto set = migrate::load_set(*cfg);
    EXPECT_TRUE(set.ok()) << set.error().render();
    rehearse::Options opt;
    opt.require_down = require_down;
    opt.track = track;
    opt.surface = surface;
    opt.surface_fail_at = surface_fail_at;
    opt.jobs = jobs;
    opt.on_progress = [this](const rehearse::MigrationProof& p, int i, int) { progress.push_back(std::to_string(i) + ":" + p.version); };
    progress.clear();
    if (with_fresh) opt.fresh_database = [this] { return fresh(); };
    auto dsn = fresh();
    EXPECT_TRUE(dsn.ok());
    auto r = rehearse::run(*dsn, *set, opt);
    EXPECT_TRUE(r.ok()) << r.error().render();
    return r.ok() ? *r : rehearse::Report{};
  }
  void pair(const std::string& v, const std::string& up, const std::string& down) {
    proj.write("migrations/" + v + ".sql", up);
    if (!down.empty()) proj.write("migrations/" + v + ".down.sql", down);
  }
};

bool has_line(const std::vector<std::string>& diff, const std::vector<std::string>& parts) {
  for (auto& d : diff) {
    bool all = true;
    for (auto& p : parts) all &= d.find(p) != std::string::npos;
    if (all) return true;
  }
  return false;
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (auto& x : v) s += "\n  " + x;
  return s;
}

// Migration 1 of every scenario: a table the later migrations work on.
void base(Rehearsal& r) {
  r.pair("1_t",
         "create table t (id serial primary key, owner uuid, score integer default 0, note text,\n"
         "  constraint t_score_check check (score >= 0));\n"
         "create function f() returns int language sql as $$ select 1 $$;\n",
         "drop function f();\ndrop table t;\n");
}

const rehearse::MigrationProof& proof(const rehearse::Report& r, const std::string& v) {
  for (auto& p : r.migrations)
    if (p.version == v) return p;
  static rehearse::MigrationProof none;
  ADD_FAILURE() << "no proof for " << v;
  return none;
}

TEST(Rehearse, SoundRollbacksAreProven) {
  Rehearsal r;
  base(r);
  r.pair("2_idx", "create index t_owner_idx on t (owner);\n", "drop index t_owner_idx;\n");
  r.pair("3_col", "alter table t add column due date default current_date;\n", "alter table t drop column due;\n");
  r.pair("4_rls", "alter table t enable row level security;\ncreate policy p on t using (owner is not null);\n",
         "drop policy p on t;\nalter table t disable row level security;\n");
  auto rep = r.run();
  EXPECT_TRUE(rep.ok);
  EXPECT_EQ(rep.total, 4);
  EXPECT_EQ(rep.with_down, 4);
  EXPECT_EQ(rep.restored, 4);
  EXPECT_EQ(rep.reapplied, 4);
  for (auto& p : rep.migrations) {
    EXPECT_TRUE(p.restores.value_or(false)) << p.version << joined(p.diff);
    EXPECT_TRUE(p.diff.empty());
    EXPECT_EQ(p.before.size(), 64u);
  }
  // Locks on pre-existing relations, per statement: the ALTER takes ACCESS EXCLUSIVE on t.
  auto& col = proof(rep, "3");
  ASSERT_FALSE(col.locks.empty());
  EXPECT_TRUE(has_line(col.locks[0].locks, {"AccessExclusiveLock on t"})) << joined(col.locks[0].locks);
  auto& idx = proof(rep, "2");
  ASSERT_FALSE(idx.locks.empty());
  EXPECT_TRUE(has_line(idx.locks[0].locks, {"ShareLock on t"})) << joined(idx.locks[0].locks);
  // The first migration's table did not exist before it: no locks reported on it.
  EXPECT_TRUE(proof(rep, "1").locks.empty() || proof(rep, "1").locks[0].locks.empty());
}

// Tracked fingerprints (the default) and a full digest at every step agree on every state.
TEST(Rehearse, TrackedFingerprintsEqualFullOnesAtEveryStep) {
  Rehearsal r;
  base(r);
  r.pair("2_idx", "create index t_owner_idx on t (owner);\n", "drop index t_owner_idx;\n");
  r.pair("3_ren", "alter table t rename column note to remark;\ncomment on column t.remark is 'r';\n",
         "comment on column t.remark is null;\nalter table t rename column remark to note;\n");
  r.pair("4_seq", "select setval('t_id_seq', 50);\n", "select setval('t_id_seq', 1, false);\n");
  r.pair("5_bad", "grant select on t to public;\n", "select 1;\n");  // leaves the grant behind
  auto tracked = r.run(true, false, true);
  auto full = r.run(true, false, false);
  ASSERT_EQ(tracked.migrations.size(), full.migrations.size());
  EXPECT_GT(tracked.tracked_updates, 0);
  EXPECT_EQ(full.tracked_updates, 0);
  EXPECT_TRUE(tracked.notes.empty()) << joined(tracked.notes);
  for (size_t i = 0; i < full.migrations.size(); ++i) {
    auto& a = tracked.migrations[i];
    auto& b = full.migrations[i];
    EXPECT_EQ(a.before, b.before) << a.version;
    EXPECT_EQ(a.after, b.after) << a.version;
    EXPECT_EQ(a.restores, b.restores) << a.version;
    EXPECT_EQ(a.diff, b.diff) << a.version;
  }
  EXPECT_FALSE(proof(tracked, "5").restores.value_or(true));
  EXPECT_TRUE(has_line(proof(tracked, "5").diff, {"grant SELECT on public.t to PUBLIC", "added"}))
      << joined(proof(tracked, "5").diff);
}

struct Case {
  const char* name;
  const char* up;
  const char* down;
  std::vector<std::string> expect;  // parts of one diff line
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class Catches : public ::testing::TestWithParam<Case> {};

TEST_P(Catches, BadRollbackIsCaughtWithTheObjectNamed) {
  const Case& c = GetParam();
  Rehearsal r;
  base(r);
  r.pair("2_change", c.up, c.down);
  r.pair("3_after", "create table later (id int);\n", "drop table later;\n");
  auto rep = r.run();
  EXPECT_FALSE(rep.ok);
  auto& p = proof(rep, "2");
  ASSERT_TRUE(p.restores.has_value());
  EXPECT_FALSE(*p.restores);
  EXPECT_TRUE(has_line(p.diff, c.expect)) << c.name << joined(p.diff);
  // The rest of the set is still rehearsed and proven.
  auto& later = proof(rep, "3");
  EXPECT_TRUE(later.ran);
  EXPECT_TRUE(later.restores.value_or(false)) << joined(later.diff);
}

INSTANTIATE_TEST_SUITE_P(
    Rehearse, Catches,
    ::testing::Values(
        Case{"forgotten index", "create index t_owner_idx on t (owner);\n", "select 1;\n", {"t_owner_idx", "added"}},
        Case{"column re-added with another default", "alter table t drop column score;\n",
             "alter table t add column score integer default 1;\n", {"score", "default"}},
        Case{"column re-added with another type", "alter table t drop column score;\n",
             "alter table t add column score bigint default 0;\n", {"score", "type"}},
        Case{"policy left behind", "create policy p_owner on t using (owner is not null);\n", "select 1;\n",
             {"p_owner", "added"}},
        Case{"grant left behind", "grant select on t to public;\n", "select 1;\n", {"grant", "t"}},
        Case{"function body not restored", "create or replace function f() returns int language sql as $$ select 2 $$;\n",
             "select 1;\n", {"f()", "body"}},
        Case{"RLS left enabled", "alter table t enable row level security;\n", "select 1;\n", {"RLS on public.t"}},
        Case{"constraint re-added NOT VALID", "alter table t drop constraint t_score_check;\n",
             "alter table t add constraint t_score_check check (score >= 0) not valid;\n",
             {"t_score_check", "validated"}},
        Case{"sequence not reset", "insert into t (owner) values (null), (null);\n", "delete from t;\n",
             {"t_id_seq"}}),
    [](const ::testing::TestParamInfo<Case>& i) {
      std::string n = i.param.name;
      for (auto& ch : n) if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
      return n;
    });

TEST(Rehearse, MissingRollbacksAreCountedAndCanBeRequired) {
  Rehearsal r;
  base(r);
  r.pair("2_nodown", "create table x (id int);\n", "");
  auto rep = r.run();
  EXPECT_TRUE(rep.ok);
  EXPECT_EQ(rep.with_down, 1);
  ASSERT_EQ(rep.missing_down.size(), 1u);
  EXPECT_EQ(rep.missing_down[0], "2_nodown");
  auto strict = r.run(true, true);
  EXPECT_FALSE(strict.ok);
}

TEST(Rehearse, FailingUpStopsTheChainAndIsReported) {
  Rehearsal r;
  base(r);
  r.pair("2_bad", "alter table nope add column x int;\n", "select 1;\n");
  r.pair("3_after", "create table later (id int);\n", "drop table later;\n");
  auto rep = r.run();
  EXPECT_FALSE(rep.ok);
  auto& p = proof(rep, "2");
  ASSERT_TRUE(p.error.has_value());
  EXPECT_EQ(p.error->sqlstate, "42P01");
  EXPECT_FALSE(proof(rep, "3").ran);
}

TEST(Rehearse, WithoutAFreshDatabaseFullModelsNameTheObjects) {
  Rehearsal r;
  base(r);
  r.pair("2_idx", "create index t_owner_idx on t (owner);\n", "select 1;\n");
  auto rep = r.run(false);
  auto& p = proof(rep, "2");
  EXPECT_TRUE(has_line(p.diff, {"t_owner_idx", "added"})) << joined(p.diff);
}

std::string rules_of(const rehearse::MigrationProof& p) {
  std::string out;
  for (auto& f : p.surface) out += f.rule + " " + f.object + "\n";
  return out;
}

// Privilege regressions per migration: each finding names the migration that caused it, the
// tracked comparison (only what a step touched) finds what whole models find, and a
// regression fails the rehearsal unless configured not to.
TEST(Rehearse, SecuritySurfaceRegressionsAreNamedPerMigration) {
  Rehearsal r;
  r.flavor = "supabase";
  r.surface = rls::SurfaceOptions{};
  r.pair("1_notes",
         "create table public.notes (id int primary key, owner uuid, body text);\n"
         "alter table public.notes enable row level security;\n"
         "create policy own on public.notes for select to authenticated using (owner = (select auth.uid()));\n",
         "drop table public.notes;\n");
  r.pair("2_index", "create index notes_owner_idx on public.notes (owner);\n", "drop index public.notes_owner_idx;\n");
  r.pair("3_open", "alter table public.notes disable row level security;\n",
         "alter table public.notes enable row level security;\n");
  r.pair("4_loosen",
         "alter table public.notes enable row level security;\n"
         "drop policy own on public.notes;\n"
         "create policy own on public.notes for select to authenticated, anon using (true);\n",
         "drop policy own on public.notes;\n"
         "create policy own on public.notes for select to authenticated using (owner = (select auth.uid()));\n"
         "alter table public.notes disable row level security;\n");
  r.pair("5_leads", "create table public.leads (id int primary key, email text);\n", "drop table public.leads;\n");
  r.pair("6_private",
         "create schema private;\ncreate table private.audit (id int);\ngrant usage on schema private to anon;\n"
         "grant select on private.audit to anon;\n",
         "drop schema private cascade;\n");
  r.pair("7_definer",
         "create function public.purge() returns void language sql security definer set search_path = '' "
         "as $$ delete from public.notes $$;\n",
         "drop function public.purge();\n");
  for (bool track : {true, false}) {
    SCOPED_TRACE(track ? "tracked" : "full models");
    auto rep = r.run(true, false, track);
    EXPECT_EQ(rep.restored, 7) << rep.total;
    EXPECT_FALSE(rep.ok);
    EXPECT_EQ(rules_of(proof(rep, "1")), "");
    EXPECT_EQ(rules_of(proof(rep, "2")), "");
    EXPECT_EQ(rules_of(proof(rep, "3")), "surface-rls-disabled public.notes\nsurface-table-exposed public.notes\n");
    // RLS back on: what was open to all is now behind the policy, which became always true for anon too.
    EXPECT_EQ(rules_of(proof(rep, "4")), "surface-policy-loosened public.notes.own\n");
    EXPECT_EQ(rules_of(proof(rep, "5")), "surface-table-exposed public.leads\n");
    EXPECT_EQ(rules_of(proof(rep, "6")), "");  // not an exposed schema
    EXPECT_EQ(rules_of(proof(rep, "7")), "surface-definer-executable public.purge()\n");
    EXPECT_EQ(rep.surface_findings, 5);
    EXPECT_EQ(rep.surface_failing, 5);
  }
  // Reported, not fatal.
  r.surface_fail_at.reset();
  auto lenient = r.run();
  EXPECT_TRUE(lenient.ok);
  EXPECT_EQ(lenient.surface_findings, 5);
  EXPECT_EQ(lenient.surface_failing, 0);
  // Not compared at all.
  r.surface.reset();
  auto off = r.run();
  EXPECT_TRUE(off.ok);
  EXPECT_EQ(off.surface_findings, 0);
}

// Large sets are proven on several shadows at once: the same report as one shadow, in order,
// a bad rollback in any range named, and a failing up voiding every range after it.
TEST(Rehearse, SeveralShadowsProveTheSameAsOne) {
  Rehearsal r;
  for (int i = 1; i <= 60; ++i) {
    auto v = fmt::format("{:03d}", i);
    std::string down = fmt::format("drop table t{};\n", i);
    if (i == 45) down = "select 1;\n";  // forgets the table
    r.pair(v + "_t" + std::to_string(i), fmt::format("create table t{} (id int primary key);\n", i), down);
  }
  auto summary = [](const rehearse::Report& rep) {
    std::string s;
    for (auto& p : rep.migrations)
      s += p.version + (p.ran ? "" : " not-reached") + (p.restores ? (*p.restores ? " restores" : " LEFT") : "") +
           (p.diff.empty() ? "" : " " + p.diff[0]) + "\n";
    return s;
  };
  r.jobs = 1;
  auto one = r.run();
  auto one_progress = r.progress;
  r.jobs = 2;
  auto two = r.run();
  EXPECT_EQ(summary(one), summary(two));
  EXPECT_EQ(one_progress, r.progress);  // in migration order
  ASSERT_EQ(r.progress.size(), 60u);
  EXPECT_EQ(r.progress[59], "60:060");
  EXPECT_FALSE(two.ok);
  EXPECT_EQ(two.restored, 59);
  EXPECT_TRUE(has_line(proof(two, "045").diff, {"t45", "added"})) << joined(proof(two, "045").diff);
  ASSERT_FALSE(two.notes.empty());
  EXPECT_EQ(two.notes[0], "proven on 2 shadow databases at once");

  // A failing up in the first range: nothing after it is proven, in any range.
  r.pair("010_t10", "create table t10 (id int primary key);\nselect 1/0;\n", "drop table t10;\n");
  auto failed = r.run();
  EXPECT_EQ(failed.failed, 1);
  for (auto& p : failed.migrations) {
    if (p.version > "010") {
      EXPECT_FALSE(p.ran) << p.version;
    }
  }
  EXPECT_EQ(r.progress.size(), 10u);

  // A DO block may touch what the shadows share (roles, ...), so one shadow proves the set.
  // (Not a real role here: other tests on this cluster follow pg_authid.)
  r.pair("010_t10", "create table t10 (id int primary key);\n", "drop table t10;\n");
  r.pair("061_do", "do $$ begin perform 1; end $$;\n", "select 1;\n");
  auto shared = r.run();
  EXPECT_EQ(shared.restored, 60) << summary(shared);
  for (auto& n : shared.notes) {
    EXPECT_EQ(n.find("shadow databases at once"), std::string::npos) << n;
  }
}

}  // namespace
}  // namespace belay
