// Tests for the lint engine (src/lint): state across a migration set, transactions as
// belay runs them, syntax errors as findings, suppressions, belay.toml [lint], paths,
// data checks against a real database, and the fuzz corpus replayed.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "lint/lint.h"
#include "project/project.h"
#include "support.h"
#include "util/fs.h"

namespace lint = belay::lint;
namespace project = belay::project;
using belay::test::TempProject;
namespace stdfs = std::filesystem;

namespace {

using Files = std::vector<std::pair<std::string, std::string>>;

lint::Report run(const Files& files, lint::Options opt = {}) { return lint::lint_texts(files, opt); }

std::vector<const lint::Finding*> of(const lint::Report& r, const std::string& rule) {
  std::vector<const lint::Finding*> out;
  for (auto& f : r.findings)
    if (f.rule == rule) out.push_back(&f);
  return out;
}

std::string all(const lint::Report& r) {
  std::string s;
  for (auto& f : r.findings) s += fmt::format("\n  {}:{}:{} {} {}", f.file, f.line, f.column, f.rule, f.message);
  return s;
}

lint::Report project_lint(const TempProject& p, const std::vector<stdfs::path>& paths = {}) {
  auto cfg = project::load(p.dir());
  EXPECT_TRUE(cfg.ok()) << (cfg.ok() ? "" : cfg.error().render());
  if (!cfg.ok()) return {};
  auto opt = lint::options_for(*cfg);
  EXPECT_TRUE(opt.ok()) << (opt.ok() ? "" : opt.error().render());
  if (!opt.ok()) return {};
  auto rep = lint::lint_project(*cfg, paths, *opt);
  EXPECT_TRUE(rep.ok()) << (rep.ok() ? "" : rep.error().render());
  return rep.ok() ? std::move(rep).value() : lint::Report{};
}

}  // namespace

// ------------------------------------------------- false positives other linters have

TEST(LintEngine, TableAndItsIndexInOneMigrationIsNotALockHazard) {
  auto r = run({{"1_t.sql", "create table if not exists t (id bigint generated always as identity primary key, a int);\n"
                            "alter table t enable row level security;\n"
                            "create index if not exists t_a on t (a);\n"
                            "alter table t add constraint t_a_check check (a > 0);\n"}});
  EXPECT_TRUE(of(r, "create-index-non-concurrently").empty()) << all(r);
  EXPECT_TRUE(of(r, "constraint-without-not-valid").empty()) << all(r);
  // The same index in the next migration: the table may be full by then.
  auto r2 = run({{"1_t.sql", "create table if not exists t (a int);"}, {"2_i.sql", "create index if not exists t_a on t (a);"}});
  ASSERT_EQ(of(r2, "create-index-non-concurrently").size(), 1u) << all(r2);
  EXPECT_EQ(of(r2, "create-index-non-concurrently")[0]->file, "2_i.sql");
}

TEST(LintEngine, NotValidThenValidateInALaterMigration) {
  auto later = run({{"1.sql", "alter table t add constraint fk foreign key (u) references u (id) not valid;"},
                    {"2.sql", "alter table t validate constraint fk;"}});
  EXPECT_TRUE(of(later, "validate-in-same-transaction").empty()) << all(later);
  EXPECT_TRUE(of(later, "constraint-without-not-valid").empty()) << all(later);
  auto same = run({{"1.sql", "alter table t add constraint fk foreign key (u) references u (id) not valid;\n"
                             "alter table t validate constraint fk;"}});
  ASSERT_EQ(of(same, "validate-in-same-transaction").size(), 1u) << all(same);
  EXPECT_EQ(of(same, "validate-in-same-transaction")[0]->line, 2);
}

TEST(LintEngine, ConcurrentlyInAFileBelayRunsOutsideATransaction) {
  // belay sees CONCURRENTLY and runs the file statement by statement: nothing to flag.
  auto r = run({{"1.sql", "create index concurrently if not exists t_a on t (a);\nanalyze t;"}});
  EXPECT_TRUE(of(r, "concurrently-in-transaction").empty()) << all(r);
  EXPECT_TRUE(of(r, "create-index-non-concurrently").empty()) << all(r);
  // dbmate-style transaction:false: the same, with file line numbers.
  auto d = run({{"2.sql", "-- migrate:up transaction:false\ncreate index concurrently if not exists t_b on t (b);\n"
                          "-- migrate:down\ndrop index concurrently if exists t_b;\n"}});
  EXPECT_TRUE(d.findings.empty()) << all(d);
  // Written inside BEGIN/COMMIT it fails in PostgreSQL: flagged, at the statement.
  auto b = run({{"3.sql", "begin;\n  create index concurrently if not exists t_c on t (c);\ncommit;\n"}});
  ASSERT_EQ(of(b, "concurrently-in-transaction").size(), 1u) << all(b);
  EXPECT_EQ(of(b, "concurrently-in-transaction")[0]->line, 2);
  EXPECT_EQ(of(b, "concurrently-in-transaction")[0]->column, 3);
}

// ------------------------------------------------- positions, syntax errors, robustness

TEST(LintEngine, SyntaxErrorsAreFindingsAndTheRestIsStillLinted) {
  auto r = run({{"1.sql", "create table if not exists a (id int;\ndrop table b;\nselec 1;\ntruncate c;\n"}});
  auto syn = of(r, "syntax-error");
  ASSERT_EQ(syn.size(), 2u) << all(r);
  EXPECT_EQ(syn[0]->line, 1);
  EXPECT_EQ(syn[0]->column, 37);
  EXPECT_EQ(syn[1]->line, 3);
  EXPECT_EQ(syn[1]->column, 1);
  EXPECT_EQ(syn[0]->source_line, "create table if not exists a (id int;");
  EXPECT_EQ(of(r, "drop-table").size(), 1u) << all(r);
  EXPECT_EQ(of(r, "truncate").size(), 1u) << all(r);
}

TEST(LintEngine, FindingsPointInsideMultiLineStatements) {
  auto r = run({{"1.sql", "select 1;\nalter table t\n  add column a int,\n  add column b uuid default gen_random_uuid();\n"}});
  auto f = of(r, "add-column-rewrite");
  ASSERT_EQ(f.size(), 1u) << all(r);
  EXPECT_EQ(f[0]->line, 4);
  EXPECT_EQ(f[0]->column, 14);  // the column definition "b uuid ..."
  EXPECT_EQ(f[0]->source_line, "  add column b uuid default gen_random_uuid();");
}

TEST(LintEngine, HostileInputNeverCrashes) {
  const char* inputs[] = {"", "\0", ";;;;", "/*", "'", "$$", "$a$ select", "create table (", ")))((( ;",
                          "-- belay:ignore\n", "-- belay:ignore-file ,,,\nselect 1", "\xff\xfe", "alter table",
                          "create policy p on t using (", "grant all on all tables in schema public to anon",
                          "create table t (a int) partition by range (a); create table t1 partition of t for values from (1) to (2);"};
  for (const char* in : inputs) {
    auto r = run({{"x.sql", in}});
    for (auto& f : r.findings) EXPECT_FALSE(f.rule.empty());
  }
  std::string nul("select 1;\0drop table t;", 23);
  auto r = run({{"n.sql", nul}});
  EXPECT_EQ(of(r, "syntax-error").size(), 1u) << all(r);
}

// ------------------------------------------------- transactions and sessions

TEST(LintEngine, LockTimeoutComesFromTheRunnerTheFileOrASet) {
  Files f = {{"1.sql", "alter table t add column a int;"}};
  EXPECT_EQ(of(run(f), "missing-lock-timeout").size(), 1u);
  lint::Options o;
  o.runner_lock_timeout = std::chrono::milliseconds(2000);
  EXPECT_TRUE(of(run(f, o), "missing-lock-timeout").empty());
  // The file turns it off again.
  auto off = run({{"1.sql", "set lock_timeout = 0;\nalter table t add column a int;"}}, o);
  EXPECT_EQ(of(off, "missing-lock-timeout").size(), 1u);
  // A SET in one migration does not carry into the next (belay resets the session).
  auto next = run({{"1.sql", "set lock_timeout = '1s';\nalter table t add column a int;"}, {"2.sql", "alter table u add column b int;"}});
  ASSERT_EQ(of(next, "missing-lock-timeout").size(), 1u) << all(next);
  EXPECT_EQ(of(next, "missing-lock-timeout")[0]->file, "2.sql");
}

TEST(LintEngine, SeveralBusyTablesInOneTransactionButNotAcrossMigrations) {
  auto one = run({{"1.sql", "alter table a add column x int;\ncreate index b_x on b (x);\n"}});
  EXPECT_EQ(of(one, "locks-on-several-tables").size(), 1u) << all(one);
  // Statement by statement (no-transaction): each statement commits on its own.
  auto nt = run({{"1.sql", "-- belay:no-transaction\nalter table a add column x int;\ncreate index concurrently b_x on b (x);\n"
                           "alter table b add column y int;"}});
  EXPECT_TRUE(of(nt, "locks-on-several-tables").empty()) << all(nt);
}

TEST(LintEngine, RlsIsJudgedOverTheWholeSet) {
  auto later = run({{"1.sql", "create table if not exists public.notes (id bigint);"},
                    {"2.sql", "alter table public.notes enable row level security;\n"
                              "create policy own on public.notes for select using ((select auth.uid()) is not null);"}});
  EXPECT_TRUE(of(later, "rls-not-enabled").empty()) << all(later);
  EXPECT_TRUE(of(later, "policy-without-rls").empty()) << all(later);
  auto never = run({{"1.sql", "create table if not exists public.notes (id bigint);"},
                    {"2.sql", "create policy own on public.notes for select using ((select auth.uid()) is not null);"}});
  ASSERT_EQ(of(never, "rls-not-enabled").size(), 1u) << all(never);
  EXPECT_EQ(of(never, "rls-not-enabled")[0]->file, "1.sql");
  ASSERT_EQ(of(never, "policy-without-rls").size(), 1u) << all(never);
  EXPECT_EQ(of(never, "policy-without-rls")[0]->file, "2.sql");
  // Renamed tables keep their RLS state; dropped ones are forgotten.
  auto renamed = run({{"1.sql", "create table if not exists notes (id bigint);\nalter table notes enable row level security;\n"
                                "create policy p on notes for select using (true);\n"
                                "alter table notes rename to memos;\ncreate table if not exists tmp (a int);\ndrop table tmp;"}});
  EXPECT_TRUE(of(renamed, "rls-not-enabled").empty()) << all(renamed);
  lint::Options api;
  api.exposed_schemas = {"api"};
  EXPECT_TRUE(of(run({{"1.sql", "create table if not exists public.t (a int);"}}, api), "rls-not-enabled").empty());
  EXPECT_EQ(of(run({{"1.sql", "create table if not exists api.t (a int);"}}, api), "rls-not-enabled").size(), 1u);
}

TEST(LintEngine, PgVersionChangesWhatIsSafe) {
  Files f = {{"1.sql", "alter table t add column flag boolean not null default false;"}};
  lint::Options old;
  old.pg_version = 10;
  EXPECT_TRUE(of(run(f), "add-column-rewrite").empty());
  EXPECT_EQ(of(run(f, old), "add-column-rewrite").size(), 1u);
}

// ------------------------------------------------- suppressions

TEST(LintEngine, IgnoreOnOrAboveAStatementOnly) {
  auto r = run({{"1.sql", "-- belay:ignore drop-table, drop-without-if-exists\ndrop table a;\n"
                          "drop table b; -- belay:ignore drop-table\n"
                          "drop table if exists c;\n"}});
  auto drops = of(r, "drop-table");
  ASSERT_EQ(drops.size(), 1u) << all(r);
  EXPECT_EQ(drops[0]->line, 4);
  ASSERT_EQ(of(r, "drop-without-if-exists").size(), 1u) << all(r);  // b: only drop-table was ignored there
  EXPECT_EQ(of(r, "drop-without-if-exists")[0]->line, 3);
  EXPECT_TRUE(of(r, "unused-ignore").empty()) << all(r);
}

TEST(LintEngine, IgnoreFileAndUnusedIgnores) {
  auto r = run({{"1.sql", "-- belay:ignore-file drop-table\n-- belay:ignore truncate\ndrop table if exists a;\n"
                          "drop table if exists b;\n-- belay:ignore not-a-rule\nselect 1;\n"}});
  EXPECT_TRUE(of(r, "drop-table").empty()) << all(r);
  auto unused = of(r, "unused-ignore");
  ASSERT_EQ(unused.size(), 2u) << all(r);
  EXPECT_EQ(unused[0]->line, 2);
  EXPECT_NE(unused[0]->message.find("truncate suppresses nothing"), std::string::npos) << unused[0]->message;
  EXPECT_EQ(unused[1]->line, 5);
  EXPECT_NE(unused[1]->message.find("unknown rule 'not-a-rule'"), std::string::npos) << unused[1]->message;
  // An ignore with nothing after it.
  auto tail = run({{"2.sql", "select 1;\n-- belay:ignore drop-table\n"}});
  ASSERT_EQ(of(tail, "unused-ignore").size(), 1u) << all(tail);
}

// ------------------------------------------------- a project: belay.toml [lint], paths

TEST(LintProject, ConfigDisablesOverridesExcludesAndSetsVersion) {
  TempProject p("lint-config");
  p.write("belay.toml",
          "[project]\nname = \"x\"\nexposed_schemas = [\"public\"]\n[migrations]\nlock_timeout = \"0\"\n"
          "[lint]\ndisable = [\"prefer-text\"]\nexposed_schemas = [\"api\"]\nexclude = [\"migrations/1_*\"]\npg_version = 14\n"
          "[lint.severity]\ndrop-table = \"warning\"\n");
  p.write("migrations/1_legacy.sql", "drop table old_stuff;\n");
  p.write("migrations/2_new.sql", "create table if not exists api.t (name varchar(20));\ndrop table older;\n"
                                  "create view public.v as select 1;\nalter table u add column a int;\n");
  auto r = project_lint(p);
  EXPECT_EQ(r.files, 2);
  for (auto& f : r.findings) EXPECT_EQ(f.file, "migrations/2_new.sql") << f.rule;  // 1_* excluded
  EXPECT_TRUE(of(r, "prefer-text").empty()) << all(r);
  ASSERT_EQ(of(r, "drop-table").size(), 1u) << all(r);
  EXPECT_EQ(of(r, "drop-table")[0]->severity, lint::Severity::warning);
  EXPECT_EQ(of(r, "rls-not-enabled").size(), 1u) << all(r);                 // api is exposed
  EXPECT_TRUE(of(r, "view-without-security-invoker").empty()) << all(r);    // public is not
  EXPECT_EQ(of(r, "missing-lock-timeout").size(), 2u) << all(r);            // lock_timeout = "0"
}

TEST(LintProject, RunnerLockTimeoutByDefault) {
  TempProject p("lint-runner");
  p.write("migrations/1_a.sql", "alter table u add column a int;\n");
  auto r = project_lint(p);
  EXPECT_TRUE(of(r, "missing-lock-timeout").empty()) << all(r);  // belay sets 2s
}

TEST(LintProject, BadLintConfigIsAUsageErrorNamingTheFile) {
  for (std::string body : {"[lint]\ndisable = [\"no-such-rule\"]\n", "[lint]\nunknown = 1\n",
                           "[lint.severity]\ndrop-table = \"fatal\"\n", "[lint]\npg_version = 7\n",
                           "[lint]\nseverity = \"error\"\n", "[lint]\ndisable = \"drop-table\"\n"}) {
    TempProject p("lint-badcfg");
    p.write("belay.toml", body);
    p.write("migrations/1_a.sql", "select 1;\n");
    auto cfg = project::load(p.dir());
    belay::Error e;
    if (!cfg.ok()) {
      e = cfg.error();
    } else {
      auto opt = lint::options_for(*cfg);
      ASSERT_FALSE(opt.ok()) << body;
      e = opt.error();
    }
    EXPECT_EQ(e.code, belay::ExitCode::usage) << body;
    EXPECT_EQ(stdfs::path(e.file), p.dir() / "belay.toml") << body << e.render();
  }
}

TEST(LintProject, PathsReportOnlyThoseFilesWithTheWholeSetBehindThem) {
  TempProject p("lint-paths");
  p.write("migrations/1_t.sql", "create table if not exists public.t (id bigint);\n");
  p.write("migrations/2_rls.sql", "alter table public.t enable row level security;\n"
                                  "create policy r on public.t for select using (true);\n");
  p.write("migrations/3_idx.sql", "create index if not exists t_id on public.t (id);\n");
  p.write("adhoc/fix.sql", "delete from public.t;\n");
  auto only1 = project_lint(p, {p.dir() / "migrations/1_t.sql"});
  EXPECT_TRUE(only1.findings.empty()) << all(only1);  // RLS is enabled later in the set
  auto only3 = project_lint(p, {p.dir() / "migrations/3_idx.sql"});
  ASSERT_EQ(of(only3, "create-index-non-concurrently").size(), 1u) << all(only3);
  EXPECT_EQ(only3.findings.size(), 1u) << all(only3);
  auto adhoc = project_lint(p, {p.dir() / "adhoc"});
  ASSERT_EQ(of(adhoc, "mutation-without-where").size(), 1u) << all(adhoc);
  EXPECT_EQ(adhoc.findings[0].file, "adhoc/fix.sql");
  auto cfg = project::load(p.dir());
  auto missing = lint::lint_project(*cfg, {p.dir() / "nope.sql"}, lint::Options{});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, belay::ExitCode::usage);
}

TEST(LintProject, SyntaxErrorsInTheSetAreFindingsNotAFailedLoad) {
  TempProject p("lint-syntax");
  p.write("migrations/1_a.sql", "create table if not exists a (id int);\nalter tabel a add column b int;\n");
  p.write("migrations/2_b.sql", "truncate a;\n");
  auto r = project_lint(p);
  ASSERT_EQ(of(r, "syntax-error").size(), 1u) << all(r);
  EXPECT_EQ(of(r, "syntax-error")[0]->line, 2);
  EXPECT_EQ(of(r, "truncate").size(), 1u) << all(r);
  // Other load problems (a malformed name) still stop it, as they stop migrate.
  p.write("migrations/oops.sql", "select 1;\n");
  auto cfg = project::load(p.dir());
  auto bad = lint::lint_project(*cfg, {}, lint::Options{});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, belay::ExitCode::usage);
}

// ------------------------------------------------- data checks against a real database

TEST(LintData, CountsDuplicatesNullsAndViolationsOnTheTarget) {
  belay::test::TestDb db;
  auto conn = db.connect();
  ASSERT_TRUE(conn.exec("create table users (id int primary key, email text, age int, org int);"
                        "create table orgs (id int primary key);"
                        "insert into orgs values (1);"
                        "insert into users values (1, 'a@x', 10, 1), (2, 'a@x', -1, 1), (3, 'a@x', 5, 9),"
                        " (4, null, null, null), (5, 'b@x', 3, 1);"
                        "create table clean (id int, email text);"
                        "insert into clean values (1, 'a'), (2, 'b');")
                  .ok());
  auto r = run({{"1.sql", "alter table users add constraint users_email_key unique (email);\n"
                          "alter table users alter column email set not null;\n"
                          "alter table users add constraint age_pos check (age > 0) not valid;\n"
                          "alter table users add constraint users_org_fk foreign key (org) references orgs not valid;\n"
                          "alter table clean add constraint clean_email unique (email);\n"
                          "alter table users add column must int not null;\n"
                          "alter table later add constraint later_key unique (k);\n"
                          "alter table users add constraint nope unique (no_such_column);\n"},
                {"2.sql", "alter table users validate constraint age_pos;\nalter table users validate constraint users_org_fk;\n"}});
  ASSERT_EQ(r.data_checks.size(), 8u) << all(r);
  ASSERT_TRUE(lint::check_data(conn, r, "staging").ok());
  auto msg = [&](size_t i) { return r.findings[r.data_checks[i].finding].message; };
  auto sev = [&](size_t i) { return r.findings[r.data_checks[i].finding].severity; };
  EXPECT_EQ(r.data_checks[0].violations, 2) << msg(0);  // three 'a@x': two would collide
  EXPECT_EQ(sev(0), lint::Severity::error);
  EXPECT_NE(msg(0).find("will fail: 2 duplicate rows on staging"), std::string::npos) << msg(0);
  EXPECT_EQ(r.data_checks[1].violations, 1) << msg(1);  // one NULL email
  EXPECT_EQ(r.data_checks[2].violations, 0) << msg(2);  // clean: checked, none
  EXPECT_EQ(sev(2), lint::Severity::info);
  EXPECT_NE(msg(2).find("checked, no duplicate rows on staging"), std::string::npos) << msg(2);
  EXPECT_EQ(r.data_checks[3].violations, 5) << msg(3);  // the table has rows
  EXPECT_EQ(r.data_checks[4].violations, -1) << msg(4); // table "later" does not exist yet
  EXPECT_NE(msg(4).find("does not exist on staging yet"), std::string::npos) << msg(4);
  EXPECT_EQ(r.data_checks[5].violations, -1) << msg(5);
  EXPECT_NE(msg(5).find("could not be checked"), std::string::npos) << msg(5);
  EXPECT_EQ(r.data_checks[6].violations, 1) << msg(6);  // age -1 (NULL passes a CHECK)
  EXPECT_EQ(r.data_checks[7].violations, 1) << msg(7);  // org 9 has no orgs row
  // Read-only: nothing changed.
  EXPECT_EQ(db.scalar("select count(*) from pg_constraint where conname in ('users_email_key', 'age_pos')"), "0");
}

// ------------------------------------------------- the fuzz corpus, without libFuzzer

TEST(LintFuzzCorpus, EveryInputLintsWithoutCrashing) {
  auto dir = stdfs::path(BELAY_SOURCE_DIR) / "fuzz/corpus/lint";
  ASSERT_TRUE(stdfs::is_directory(dir)) << dir;
  int n = 0;
  for (auto& e : stdfs::directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    auto text = belay::fs::read_file(e.path());
    ASSERT_TRUE(text.ok());
    auto r = run({{e.path().filename().string(), *text}});
    for (auto& f : r.findings) {
      EXPECT_FALSE(f.rule.empty());
      EXPECT_GE(f.line, 0);
    }
    ++n;
  }
  EXPECT_GT(n, 20);
}
