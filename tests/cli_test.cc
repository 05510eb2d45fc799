// The command line: exit codes, --json shapes, plain output when piped, bad input.
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
