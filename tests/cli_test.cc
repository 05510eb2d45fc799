// The command line: exit codes, --json shapes, plain output when piped, bad input.
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support.h"

namespace belay {
namespace {

using json = nlohmann::json;
using test::TempProject;
using test::TestDb;

json parse(const std::string& s) {
  auto j = json::parse(s, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << s;
  return j;
}

TEST(Cli, InitScaffoldsAndIsIdempotent) {
  TempProject p("cliinit");
  auto r = test::run_belay({"init", "--json"}, p.dir());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(parse(r.out)["created"].size(), 3u);
  EXPECT_TRUE(std::filesystem::is_directory(p.dir() / "migrations"));
  EXPECT_TRUE(std::filesystem::exists(p.dir() / "belay.toml"));
  auto again = test::run_belay({"init", "--json"}, p.dir());
  EXPECT_EQ(parse(again.out)["created"].size(), 0u);
}

TEST(Cli, StatusJsonShapeAndStates) {
  TestDb db;
  TempProject p("clistatus");
  p.write("migrations/1_a.sql", "create table a (id int);\n");
  p.write("migrations/1_a.down.sql", "drop table a;\n");
  p.write("migrations/2_b.sql", "create table b (id int);\n");
  ASSERT_EQ(test::run_belay({"migrate", "--to", "1", "--target", db.url()}, p.dir()).exit_code, 0);
  auto r = test::run_belay({"status", "--json", "--target", db.url()}, p.dir());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = parse(r.out);
  ASSERT_EQ(j["migrations"].size(), 2u);
  EXPECT_EQ(j["migrations"][0]["version"], "1");
  EXPECT_EQ(j["migrations"][0]["name"], "a");
  EXPECT_EQ(j["migrations"][0]["state"], "applied");
  EXPECT_EQ(j["migrations"][0]["has_down"], true);
  EXPECT_EQ(j["migrations"][1]["state"], "pending");
  EXPECT_EQ(j["migrations"][1]["has_down"], false);
  // Piped human output carries no colour codes.
  auto h = test::run_belay({"status", "--target", db.url()}, p.dir());
  EXPECT_EQ(h.out.find('\033'), std::string::npos);
  EXPECT_NE(h.out.find("1 applied, 1 pending"), std::string::npos) << h.out;
}

TEST(Cli, ExitCodes) {
  TestDb db;
  TempProject p("cliexit");
  p.write("migrations/1_a.sql", "create table a (id int);\n");
  EXPECT_EQ(test::run_belay({"--no-such-flag"}, p.dir()).exit_code, 2);
  EXPECT_EQ(test::run_belay({"migrate", "--lock-wait", "soon", "--target", db.url()}, p.dir()).exit_code, 2);
  EXPECT_EQ(test::run_belay({"status", "--target", "nowhere"}, p.dir()).exit_code, 2);
  ASSERT_EQ(test::run_belay({"migrate", "--target", db.url()}, p.dir()).exit_code, 0);
  // Drift: refused (3).
  p.write("migrations/1_a.sql", "create table a (id bigint);\n");
  auto drift = test::run_belay({"migrate", "--target", db.url(), "--json"}, p.dir());
  EXPECT_EQ(drift.exit_code, 3);
  EXPECT_EQ(parse(drift.out)["error"]["exit_code"], 3);
  // Rollback without a down script: refused (3), nothing run.
  auto nodown = test::run_belay({"rollback", "--target", db.url(), "--allow-drift"}, p.dir());
  EXPECT_EQ(nodown.exit_code, 3);
  EXPECT_NE(nodown.err.find("no rollback script"), std::string::npos) << nodown.err;
  // SQL failure (1) with file:line:col and SQLSTATE.
  p.write("migrations/1_a.sql", "create table a (id int);\n");
  p.write("migrations/2_b.sql", "create table b (id int);\ncreate table b (id int);\n");
  auto fail = test::run_belay({"migrate", "--target", db.url()}, p.dir());
  EXPECT_EQ(fail.exit_code, 1);
  EXPECT_NE(fail.err.find("2_b.sql:2:1"), std::string::npos) << fail.err;
  EXPECT_NE(fail.err.find("42P07"), std::string::npos) << fail.err;
}

TEST(Cli, MalformedMigrationsAreUsageErrorsNamingTheFile) {
  TempProject p("climal");
  p.write("migrations/1_a.sql", "create table a (id int);\n");
  p.write("migrations/add_users.sql", "create table users (id int);\n");
  p.write("migrations/3_c.sql", "");
  auto r = test::run_belay({"status", "--target", "postgres://127.0.0.1:1/none"}, p.dir());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("add_users.sql"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("3_c.sql"), std::string::npos) << r.err;  // every problem listed
}

TEST(Cli, DryRunJsonShowsThePlanAndChangesNothing) {
  TestDb db;
  TempProject p("clidry");
  p.write("migrations/1_a.sql", "-- belay:statement_timeout=30s\ncreate table a (id int);\n"
                                "create index concurrently a_idx on a (id);\n");
  auto r = test::run_belay({"migrate", "--dry-run", "--json", "--target", db.url()}, p.dir());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = parse(r.out);
  ASSERT_EQ(j["steps"].size(), 1u);
  auto& s = j["steps"][0];
  EXPECT_EQ(s["outcome"], "planned");
  EXPECT_EQ(s["statement_timeout_ms"], 30000);
  EXPECT_NE(s["mode"].get<std::string>().find("statement-by-statement"), std::string::npos);
  EXPECT_EQ(s["statements"].size(), 2u);
  EXPECT_EQ(db.scalar("select count(*) from pg_namespace where nspname = 'belay'"), "0");
}

TEST(Cli, ExampleProjectMigratesAndRollsBack) {
  TestDb db;
  auto example = std::filesystem::path(BELAY_BIN).parent_path().parent_path() / "examples" / "demo";
  ASSERT_TRUE(std::filesystem::exists(example / "belay.toml")) << example;
  auto r = test::run_belay({"migrate", "--json", "--target", db.url()}, example);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto j = parse(r.out);
  EXPECT_EQ(j["steps"].size(), 4u);
  auto st = parse(test::run_belay({"status", "--json", "--target", db.url()}, example).out);
  for (auto& m : st["migrations"]) EXPECT_EQ(m["state"], "applied");
  auto back = test::run_belay({"rollback", "--steps", "4", "--target", db.url()}, example);
  EXPECT_EQ(back.exit_code, 0) << back.err;
  EXPECT_EQ(db.scalar("select count(*) from pg_tables where schemaname = 'public'"), "0");
}

}  // namespace
}  // namespace belay

namespace belay {
namespace {

TEST(CliLive, StatusLiveNamesChangesMadeOutsideMigrations) {
  TestDb db;
  TempProject p("clilive");
  p.write("migrations/1_a.sql", "create table a (id int primary key, owner int);\n");
  ASSERT_EQ(test::run_belay({"migrate", "--target", db.url()}, p.dir()).exit_code, 0);
  EXPECT_EQ(db.scalar("select length(fingerprint) from belay.migrations where version = '1'"), "64");
  auto clean = test::run_belay({"status", "--live", "--json", "--target", db.url()}, p.dir());
  EXPECT_EQ(clean.exit_code, 0) << clean.out << clean.err;
  EXPECT_EQ(parse(clean.out)["live"]["drifted"], false);
  db.scalar("create index a_owner_idx on a (owner)");  // a hotfix applied by hand
  auto drift = test::run_belay({"status", "--live", "--json", "--target", db.url()}, p.dir());
  EXPECT_EQ(drift.exit_code, 3);
  auto j = parse(drift.out);
  EXPECT_EQ(j["live"]["drifted"], true);
  bool named = false;
  for (auto& c : j["live"]["changes"]) named |= c.get<std::string>().find("a_owner_idx") != std::string::npos;
  EXPECT_TRUE(named) << drift.out;
}

TEST(CliLive, FingerprintAfterEveryMigrationOnRequest) {
  TestDb db;
  TempProject p("clieach");
  p.write("migrations/1_a.sql", "create table a (id int primary key);\n");
  p.write("migrations/2_b.sql", "create table b (id int primary key);\n");
  p.write("migrations/3_c.sql", "create table c (id int primary key);\n");
  for (auto* t : {"1_a", "2_b", "3_c"}) p.write(std::string("migrations/") + t + ".down.sql", std::string("drop table ") + t[2] + ";\n");
  // By default one fingerprint per run, after its last migration.
  ASSERT_EQ(test::run_belay({"migrate", "--to", "2", "--target", db.url()}, p.dir()).exit_code, 0);
  EXPECT_EQ(db.scalar("select string_agg(version || ':' || (fingerprint is not null), ',' order by version) "
                      "from belay.migrations"),
            "1:false,2:true");
  ASSERT_EQ(test::run_belay({"migrate", "--fingerprint-each", "--target", db.url()}, p.dir()).exit_code, 0);
  EXPECT_EQ(db.scalar("select string_agg(version || ':' || (fingerprint is not null), ',' order by version) "
                      "from belay.migrations"),
            "1:false,2:true,3:true");
  ASSERT_EQ(test::run_belay({"rollback", "--steps", "3", "--target", db.url()}, p.dir()).exit_code, 0);
  ASSERT_EQ(test::run_belay({"migrate", "--fingerprint-each", "--target", db.url()}, p.dir()).exit_code, 0);
  EXPECT_EQ(db.scalar("select string_agg(version || ':' || (fingerprint is not null), ',' order by version) "
                      "from belay.migrations"),
            "1:true,2:true,3:true");
  // Each one is the schema right after that migration: a fresh database migrated to 1 has 1's.
  TestDb one;
  ASSERT_EQ(test::run_belay({"migrate", "--to", "1", "--target", one.url()}, p.dir()).exit_code, 0);
  EXPECT_EQ(db.scalar("select fingerprint from belay.migrations where version = '1'"),
            one.scalar("select fingerprint from belay.migrations where version = '1'"));
}

TEST(CliEvidence, MigrateWritesAVerifiableRunAndTamperingIsDetected) {
  TestDb db;
  TempProject p("clievid");
  p.write("migrations/1_a.sql", "create table a (id int);\n");
  p.write("migrations/1_a.down.sql", "drop table a;\n");
  auto r = test::run_belay({"migrate", "--json", "--target", db.url()}, p.dir());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto dir = parse(r.out)["evidence"].get<std::string>();
  ASSERT_TRUE(std::filesystem::exists(std::filesystem::path(dir) / "manifest.json")) << dir;
  for (auto f : {"events.jsonl", "report.md", "connectivity.json", "status_before.json", "status_after.json"})
    EXPECT_TRUE(std::filesystem::exists(std::filesystem::path(dir) / f)) << f;
  auto ok = test::run_belay({"evidence", "verify", dir}, p.dir());
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  EXPECT_NE(ok.out.find("OK"), std::string::npos);
  auto show = test::run_belay({"evidence", "show", "--json"}, p.dir());  // newest run by default
  EXPECT_EQ(show.exit_code, 0) << show.err;
  EXPECT_GE(parse(show.out)["events"].size(), 5u);
  // One byte of the hand-off report changed.
  auto report = std::filesystem::path(dir) / "report.md";
  std::string body;
  {
    std::ifstream in(report);
    std::stringstream ss;
    ss << in.rdbuf();
    body = ss.str();
  }
  body[body.size() / 2] = body[body.size() / 2] == 'x' ? 'y' : 'x';
  std::ofstream(report, std::ios::trunc) << body;
  auto bad = test::run_belay({"evidence", "verify", dir}, p.dir());
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.out.find("report.md"), std::string::npos) << bad.out;
}

TEST(CliRehearse, JsonReportAndExitCode) {
  TempProject p("clireh");
  p.write("belay.toml", "[migrations]\ndir = \"migrations\"\n");
  p.write("migrations/1_a.sql", "create table a (id int, owner int);\n");
  p.write("migrations/1_a.down.sql", "drop table a;\n");
  p.write("migrations/2_idx.sql", "create index a_owner_idx on a (owner);\n");
  p.write("migrations/2_idx.down.sql", "select 1;\n");  // forgets the index
  // The project's own embedded cluster provides the shadow databases.
  auto r = test::run_belay({"rehearse", "--json"}, p.dir());
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  auto j = parse(r.out);
  EXPECT_EQ(j["ok"], false);
  ASSERT_EQ(j["migrations"].size(), 2u);
  EXPECT_EQ(j["migrations"][0]["version"], "1");
  EXPECT_EQ(j["migrations"][0]["has_down"], true);
  EXPECT_EQ(j["migrations"][0]["restores"], true);
  EXPECT_EQ(j["migrations"][1]["restores"], false);
  bool named = false;
  for (auto& d : j["migrations"][1]["diff"]) named |= d.get<std::string>().find("a_owner_idx") != std::string::npos;
  EXPECT_TRUE(named) << r.out;
  EXPECT_EQ(j["summary"]["with_down"], 2);
  EXPECT_EQ(j["summary"]["restored"], 1);
  auto v = test::run_belay({"evidence", "verify", j["evidence"].get<std::string>()}, p.dir());
  EXPECT_EQ(v.exit_code, 0) << v.out;
  // Fix the rollback: proven.
  p.write("migrations/2_idx.down.sql", "drop index a_owner_idx;\n");
  auto good = test::run_belay({"rehearse"}, p.dir());
  EXPECT_EQ(good.exit_code, 0) << good.out << good.err;
  EXPECT_NE(good.out.find("restores 2/2"), std::string::npos) << good.out;
  // No shadow database is left behind.
  auto dbs = test::run_belay({"db", "url", "--database", "postgres"}, p.dir());
  auto c = pg::Conn::open(dbs.out.substr(0, dbs.out.find('\n')), "t");
  ASSERT_TRUE(c.ok());
  auto n = c->query("select count(*) from pg_database where datname like 'belay_shadow%'");
  EXPECT_EQ(n->get(0, 0), "0");
}

}  // namespace
}  // namespace belay

namespace belay {
namespace {

TEST(CliFingerprint, FingerprintAndDiffBetweenTargetsAndMigrations) {
  TestDb a, b;
  TempProject p("clifp");
  p.write("migrations/1_a.sql", "create table t (id int primary key, owner int);\n");
  p.write("migrations/2_idx.sql", "create index t_owner_idx on t (owner);\n");
  ASSERT_EQ(test::run_belay({"migrate", "--no-evidence", "--target", a.url()}, p.dir()).exit_code, 0);
  ASSERT_EQ(test::run_belay({"migrate", "--no-evidence", "--to", "1", "--target", b.url()}, p.dir()).exit_code, 0);
  // No project needed to fingerprint a database.
  TempProject empty("clifp0");
  auto fa = test::run_belay({"fingerprint", "--json", "--target", a.url()}, empty.dir());
  ASSERT_EQ(fa.exit_code, 0) << fa.err;
  auto ja = parse(fa.out);
  EXPECT_EQ(ja["hash"].get<std::string>().size(), 64u);
  EXPECT_GT(ja["objects"].get<int>(), 3);
  auto d = test::run_belay({"diff", a.url(), b.url(), "--json"}, p.dir());
  ASSERT_EQ(d.exit_code, 0) << d.err;
  auto jd = parse(d.out);
  EXPECT_EQ(jd["equal"], false);
  bool removed = false;
  for (auto& c : jd["changes"]) removed |= c["text"] == "index public.t_owner_idx: removed";
  EXPECT_TRUE(removed) << d.out;
  EXPECT_EQ(test::run_belay({"diff", a.url(), b.url(), "--exit-code"}, p.dir()).exit_code, 3);
  // A database migrated to the end equals the schema the migration files build.
  auto m = test::run_belay({"diff", a.url(), "migrations", "--json"}, p.dir());
  ASSERT_EQ(m.exit_code, 0) << m.err;
  EXPECT_EQ(parse(m.out)["equal"], true) << m.out;
  EXPECT_EQ(parse(m.out)["from"]["hash"], ja["hash"]);
}

}  // namespace
}  // namespace belay
