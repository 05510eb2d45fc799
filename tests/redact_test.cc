// A password never reaches stdout, stderr, --json output or a file belay writes.
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "embedded/embedded.h"
#include "support.h"

namespace belay {
namespace {

using test::TempProject;
using test::TestDb;

const std::string kSecret = "Xyzzy-Hunter2-Pw991";

struct PasswordTarget {
  TestDb db;
  std::string role = test::unique_name("pw_user");
  std::string url, kv;
  PasswordTarget() {
    auto c = db.connect();
    EXPECT_TRUE(c.exec(fmt::format("create role {} login password '{}'", role, kSecret)).ok());
    EXPECT_TRUE(c.exec(fmt::format("alter database {} owner to {}", db.name(), role)).ok());
    EXPECT_TRUE(c.exec(fmt::format("alter schema public owner to {}", role)).ok());
    int port = embedded::Cluster(test::cluster_project()).status()->port;
    url = fmt::format("postgres://{}:{}@127.0.0.1:{}/{}", role, kSecret, port, db.name());
    kv = fmt::format("host=127.0.0.1 port={} dbname={} user={} password={}", port, db.name(), role, kSecret);
  }
};

void expect_clean(const proc::Outcome& r, const std::string& what) {
  EXPECT_EQ(r.out.find(kSecret), std::string::npos) << what << " stdout: " << r.out;
  EXPECT_EQ(r.err.find(kSecret), std::string::npos) << what << " stderr: " << r.err;
}

void expect_no_file_has_secret(const std::filesystem::path& dir) {
  for (auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    std::ifstream in(e.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    EXPECT_EQ(ss.str().find(kSecret), std::string::npos) << e.path();
  }
}

TEST(Redact, PasswordNeverInOutputLogsOrFiles) {
  PasswordTarget t;
  TempProject p("redact");
  p.write("belay.toml", "[targets.staging]\ndsn_env = \"STAGING_URL\"\n");
  p.write("migrations/1_a.sql", "create table a (id int);\n");
  p.write("migrations/1_a.down.sql", "drop table a;\n");
  p.write("migrations/2_bad.sql", "create table b (id int);\nselect no_such_function();\n");
  std::vector<std::vector<std::string>> cmds = {
      {"status"}, {"status", "--json"}, {"migrate", "--dry-run"}, {"migrate"}, {"migrate", "--json"},
      {"rollback", "--json"}, {"rollback", "--dry-run"}};
  for (auto& c : cmds) {
    auto a = c;
    a.insert(a.end(), {"--target", t.url});
    auto r = test::run_belay(a, p.dir());
    expect_clean(r, "url " + c[0]);
    if (c[0] == "status") {
      EXPECT_EQ(r.exit_code, 0) << r.err;
      EXPECT_NE(r.out.find("****"), std::string::npos) << r.out;  // shown redacted
    }
    auto b = c;
    b.insert(b.end(), {"--target", t.kv});
    expect_clean(test::run_belay(b, p.dir()), "kv " + c[0]);
    auto viaenv = test::run_belay(c, p.dir(), {"DATABASE_URL=" + t.url});
    expect_clean(viaenv, "DATABASE_URL " + c[0]);
    auto named = c;
    named.insert(named.end(), {"--target", "staging"});
    expect_clean(test::run_belay(named, p.dir(), {"STAGING_URL=" + t.url}), "named " + c[0]);
  }
  // The failing migration really ran (so errors were printed) and was reported.
  auto r = test::run_belay({"migrate", "--target", t.url}, p.dir());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no_such_function"), std::string::npos);
  // Connection failures: wrong password, unreachable port.
  auto wrong = t.url;
  wrong.replace(wrong.find(kSecret), kSecret.size(), kSecret + "-wrong");
  auto w = test::run_belay({"status", "--target", wrong}, p.dir());
  EXPECT_EQ(w.exit_code, 1);
  expect_clean(w, "wrong password");
  EXPECT_EQ(w.err.find(kSecret + "-wrong"), std::string::npos);
  auto dead = test::run_belay({"status", "--target", fmt::format("postgres://u:{}@127.0.0.1:1/db", kSecret)}, p.dir());
  EXPECT_EQ(dead.exit_code, 1);
  expect_clean(dead, "unreachable");
  EXPECT_NE(dead.err.find("127.0.0.1"), std::string::npos);
  // Nothing belay wrote holds it: project files, and its tables in the database.
  expect_no_file_has_secret(p.dir());
  EXPECT_EQ(t.db.scalar(fmt::format("select count(*) from belay.migration_log where message like '%{}%' or runner "
                                    "like '%{}%'", kSecret, kSecret)),
            "0");
}

TEST(Redact, LiteralPasswordInBelayTomlIsRefusedWithoutEchoingIt) {
  TempProject p("redact2");
  p.write("belay.toml", fmt::format("[targets.prod]\nurl = \"postgres://app:{}@db.example.com/app\"\n", kSecret));
  p.write("migrations/1_a.sql", "select 1;\n");
  auto r = test::run_belay({"status", "--target", "prod"}, p.dir());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("literal password"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("belay.toml:2"), std::string::npos) << r.err;
  expect_clean(r, "toml");
}

}  // namespace
}  // namespace belay
