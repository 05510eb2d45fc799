// `belay lint` end to end: formats (SARIF validated against its schema), exit codes and
// --fail-on, --rules / --explain, --json, no database without --target, evidence with it.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "support.h"
#include "util/proc.h"

using belay::test::run_belay;
using belay::test::TempProject;
using nlohmann::json;
namespace stdfs = std::filesystem;

namespace {

// A project with one error (index without CONCURRENTLY), one warning and one info.
void hazards(const TempProject& p) {
  p.write("migrations/1_t.sql", "create table if not exists t (id bigint generated always as identity primary key, name varchar(40));\n"
                                "alter table t enable row level security;\n");
  p.write("migrations/2_idx.sql", "create index t_name on t (name);\n");
}

std::string sarif_errors(const std::string& doc) {
  auto file = stdfs::temp_directory_path() / belay::test::unique_name("lint-sarif");
  std::ofstream(file) << doc;
  auto r = belay::proc::run({"python3", "-c",
                             "import json, sys, jsonschema\n"
                             "jsonschema.Draft4Validator(json.load(open(sys.argv[1]))).validate(json.load(open(sys.argv[2])))\n",
                             std::string(BELAY_TEST_DATA) + "/sarif-schema-2.1.0.json", file.string()});
  stdfs::remove(file);
  if (!r.ok()) return r.error().message;
  return r->exit_code == 0 ? "" : r->out + r->err;
}

}  // namespace

TEST(LintCli, TextOutputAndExitCodes) {
  TempProject p("lint-cli-text");
  hazards(p);
  auto r = run_belay({"lint"}, p.dir());
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("migrations/2_idx.sql:1:1: error[create-index-non-concurrently]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" 1 | create index t_name on t (name);\n   | ^\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("fix: CREATE INDEX CONCURRENTLY"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find('\033'), std::string::npos) << "colour on a pipe";
  EXPECT_EQ(r.err, "");
  // The offending migration suppressed: only warnings and infos remain.
  p.write("migrations/2_idx.sql", "-- belay:ignore create-index-non-concurrently\ncreate index t_name on t (name);\n");
  auto ok = run_belay({"lint"}, p.dir());
  EXPECT_EQ(ok.exit_code, 0) << ok.out;
  auto warn = run_belay({"lint", "--fail-on", "warning"}, p.dir());
  EXPECT_EQ(warn.exit_code, 1) << warn.out;  // create-without-if-not-exists on the index
  auto bad = run_belay({"lint", "--fail-on", "fatal"}, p.dir());
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--fail-on must be"), std::string::npos) << bad.err;
}

TEST(LintCli, MachineFormatsAreTheWholeStdout) {
  TempProject p("lint-cli-formats");
  hazards(p);
  auto j = run_belay({"lint", "--format", "json"}, p.dir());
  EXPECT_EQ(j.exit_code, 1);
  auto doc = json::parse(j.out);  // throws (fails the test) on anything but one document
  bool found = false;
  for (auto& f : doc["findings"])
    if (f["rule"] == "create-index-non-concurrently") {
      found = true;
      EXPECT_EQ(f["file"], "migrations/2_idx.sql");
      EXPECT_EQ(f["line"], 1);
      EXPECT_EQ(f["column"], 1);
      EXPECT_EQ(f["severity"], "error");
    }
  EXPECT_TRUE(found) << j.out;
  auto global = run_belay({"lint", "--json"}, p.dir());
  EXPECT_EQ(json::parse(global.out), doc);

  auto s = run_belay({"lint", "--format", "sarif"}, p.dir());
  EXPECT_EQ(s.exit_code, 1);
  EXPECT_EQ(sarif_errors(s.out), "") << s.out;
  auto sdoc = json::parse(s.out);
  EXPECT_GE(sdoc["runs"][0]["tool"]["driver"]["rules"].size(), 40u);

  auto g = run_belay({"lint", "--format", "github"}, p.dir());
  EXPECT_NE(g.out.find("::error file=migrations/2_idx.sql,line=1,col=1,title=create-index-non-concurrently::"),
            std::string::npos) << g.out;
  for (size_t pos = 0; pos < g.out.size();) {  // every line is a workflow command
    EXPECT_EQ(g.out.compare(pos, 2, "::"), 0) << g.out;
    pos = g.out.find('\n', pos);
    if (pos == std::string::npos) break;
    ++pos;
  }
  auto bad = run_belay({"lint", "--format", "xml"}, p.dir());
  EXPECT_EQ(bad.exit_code, 2);
}

TEST(LintCli, RulesAndExplain) {
  TempProject p("lint-cli-rules");
  auto r = run_belay({"lint", "--rules"}, p.dir());
  EXPECT_EQ(r.exit_code, 0);
  for (const char* id : {"create-index-non-concurrently", "rls-not-enabled", "policy-per-row-auth-call", "prefer-timestamptz",
                         "existing-rows-may-violate", "security-definer-executable"})
    EXPECT_NE(r.out.find(id), std::string::npos) << id;
  auto rj = run_belay({"lint", "--rules", "--json"}, p.dir());
  EXPECT_GE(json::parse(rj.out)["rules"].size(), 40u);
  auto e = run_belay({"lint", "--explain", "set-not-null-without-check"}, p.dir());
  EXPECT_EQ(e.exit_code, 0);
  EXPECT_NE(e.out.find("VALIDATE CONSTRAINT"), std::string::npos) << e.out;
  EXPECT_NE(e.out.find("-- belay:ignore set-not-null-without-check"), std::string::npos) << e.out;
  auto u = run_belay({"lint", "--explain", "nope"}, p.dir());
  EXPECT_EQ(u.exit_code, 2);
  EXPECT_NE(u.err.find("unknown rule 'nope'"), std::string::npos) << u.err;
}

TEST(LintCli, NoDatabaseWithoutTargetAndNoEvidence) {
  TempProject p("lint-cli-nodb");
  hazards(p);
  // A DATABASE_URL that cannot work: lint must not touch it.
  auto r = run_belay({"lint", "migrations/1_t.sql"}, p.dir(), {"DATABASE_URL=postgres://nobody@127.0.0.1:1/none"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_FALSE(stdfs::exists(p.dir() / "artifacts"));
  EXPECT_FALSE(stdfs::exists(p.dir() / ".belay"));
}

TEST(LintCli, TargetCountsRowsAndRecordsEvidence) {
  belay::test::TestDb db;
  ASSERT_TRUE(db.connect().exec("create table users (id int, email text); insert into users values (1, 'a'), (2, 'a'), (3, null);").ok());
  TempProject p("lint-cli-target");
  p.write("migrations/1_uniq.sql", "create unique index concurrently if not exists users_email on users (email);\n");
  auto r = run_belay({"lint", "--target", db.url(), "--format", "json"}, p.dir());
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  auto doc = json::parse(r.out);
  bool found = false;
  for (auto& f : doc["findings"])
    if (f["rule"] == "existing-rows-may-violate") {
      found = true;
      EXPECT_EQ(f["severity"], "error");
      EXPECT_NE(f["message"].get<std::string>().find("1 duplicate rows"), std::string::npos) << f;
    }
  EXPECT_TRUE(found) << r.out;
  ASSERT_TRUE(stdfs::exists(p.dir() / "artifacts")) << r.err;
  bool lint_json = false;
  for (auto& e : stdfs::recursive_directory_iterator(p.dir() / "artifacts"))
    if (e.path().filename() == "lint.json") lint_json = true;
  EXPECT_TRUE(lint_json);
  auto v = run_belay({"evidence", "verify"}, p.dir());
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
}
