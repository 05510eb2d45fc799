// `belay flags` from the command line: every verb with --json, --reason in the audit
// log, exit codes, import and export files, tokens, evidence, no password in output.
#include <algorithm>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "embedded/embedded.h"
#include "support.h"

namespace belay {
namespace {

using nlohmann::json;

struct Cli {
  test::TestDb db;
  test::TempProject project{"flagscli"};
  Cli() { project.write("belay.toml", "[project]\nname = \"flags\"\n"); }

  proc::Outcome run(std::vector<std::string> args, std::vector<std::string> env = {}) {
    args.push_back("--target");
    args.push_back(db.url());
    env.push_back("BELAY_ACTOR=ci-bot");
    return test::run_belay(args, project.dir(), env);
  }
  json ok_json(std::vector<std::string> args) {
    args.push_back("--json");
    auto r = run(args);
    std::string cmd;
    for (auto& x : args) cmd += x + " ";
    EXPECT_EQ(r.exit_code, 0) << cmd << "\n" << r.out << r.err;
    auto j = json::parse(r.out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r.out;
    return j;
  }
};

TEST(FlagsCli, TheRunbookInCommands) {
  Cli c;
  auto created = c.ok_json({"flags", "create", "persistence_v2", "--rollout", "5", "--reason", "phase 2 of the runbook"});
  EXPECT_EQ(created["ok"], true);
  EXPECT_EQ(created["actor"], "ci-bot");
  c.ok_json({"flags", "enable", "persistence_v2", "--reason", "start the canary"});
  auto ev = c.ok_json({"flags", "eval", "persistence_v2", "--context", R"({"userId": "42"})"});
  EXPECT_TRUE(ev.contains("enabled"));
  EXPECT_TRUE(ev["variant"].contains("name"));
  EXPECT_TRUE(ev["variant"].contains("enabled"));
  EXPECT_EQ(ev["reason"], ev["enabled"].get<bool>() ? "SPLIT" : "DEFAULT");
  c.ok_json({"flags", "rollout", "persistence_v2", "100", "--reason", "all good"});
  ev = c.ok_json({"flags", "eval", "persistence_v2", "--context", R"({"userId": "42"})"});
  EXPECT_EQ(ev["enabled"], true);
  auto in_db = c.ok_json({"flags", "eval", "persistence_v2", "--context", R"({"userId": "42"})", "--in-database"});
  EXPECT_EQ(in_db, ev);
  c.ok_json({"flags", "disable", "persistence_v2", "--reason", "error rate up"});
  ev = c.ok_json({"flags", "eval", "persistence_v2", "--context", R"({"userId": "42"})"});
  EXPECT_EQ(ev["enabled"], false);
  EXPECT_EQ(ev["reason"], "DISABLED");

  auto list = c.ok_json({"flags", "list"});
  ASSERT_EQ(list["flags"].size(), 1u);
  EXPECT_EQ(list["flags"][0]["rollout"], "100");
  EXPECT_EQ(list["flags"][0]["enabled"], false);
  auto show = c.ok_json({"flags", "show", "persistence_v2"});
  EXPECT_EQ(show["environments"]["production"]["strategies"][0]["parameters"]["rollout"], "100");

  auto hist = c.ok_json({"flags", "history", "persistence_v2"});
  std::vector<std::string> reasons;
  for (auto& e : hist["history"]) {
    EXPECT_EQ(e["actor"], "ci-bot");
    reasons.push_back(e["reason"].is_null() ? "" : e["reason"].get<std::string>());
  }
  EXPECT_NE(std::find(reasons.begin(), reasons.end(), "error rate up"), reasons.end());
  EXPECT_NE(std::find(reasons.begin(), reasons.end(), "start the canary"), reasons.end());
  auto human = c.run({"flags", "history", "persistence_v2"});
  EXPECT_EQ(human.exit_code, 0);
  EXPECT_NE(human.out.find("error rate up"), std::string::npos) << human.out;

  // Each change left an evidence run directory.
  int runs = 0;
  for (auto& p : std::filesystem::recursive_directory_iterator(c.project.dir() / "artifacts"))
    if (p.path().filename() == "events.jsonl") ++runs;
  EXPECT_EQ(runs, 4);  // create, enable, rollout, disable; reads record nothing
}

TEST(FlagsCli, OverridesImportExportAndErrors) {
  Cli c;
  ASSERT_TRUE(c.db.connect().exec(
      "create table workspace_feature_flags (feature_key text, enabled boolean, workspace text);"
      "insert into workspace_feature_flags values ('docs.canvas-mode', true, 'beta-1'), ('docs.canvas-mode', false, 'acme')").ok());
  auto imp = c.ok_json({"flags", "import", "--reason", "adopt the legacy table"});
  EXPECT_EQ(imp["flags_created"], 1);
  EXPECT_EQ(imp["overrides"], 2);
  auto on = c.ok_json({"flags", "eval", "docs.canvas-mode", "--context", R"({"properties": {"workspace": "beta-1"}})"});
  EXPECT_EQ(on["enabled"], true);
  c.ok_json({"flags", "override", "docs.canvas-mode", "--workspace", "beta-7", "on"});
  on = c.ok_json({"flags", "eval", "docs.canvas-mode", "--context", R"({"workspace": "beta-7"})"});
  EXPECT_EQ(on["enabled"], true);  // a top-level key is a property, as in the SDKs
  c.ok_json({"flags", "override", "docs.canvas-mode", "--workspace", "beta-7", "clear"});
  on = c.ok_json({"flags", "eval", "docs.canvas-mode", "--context", R"({"workspace": "beta-7"})"});
  EXPECT_EQ(on["enabled"], false);

  auto exp = c.run({"flags", "export", "--format", "unleash", "-o", "flags.json"});
  ASSERT_EQ(exp.exit_code, 0) << exp.err;
  auto imp2 = c.ok_json({"flags", "import", "--file", (c.project.dir() / "flags.json").string(), "-e", "staging"});
  EXPECT_EQ(imp2["source"], "unleash-export");
  on = c.ok_json({"flags", "eval", "docs.canvas-mode", "-e", "staging", "--context", R"({"workspace": "beta-1"})"});
  EXPECT_EQ(on["enabled"], true);
  auto client = c.run({"flags", "export"});
  ASSERT_EQ(client.exit_code, 0);
  EXPECT_EQ(json::parse(client.out)["version"], 2);

  // Failures: unknown flag (1), malformed context (2), bad percentage (2), bad file (2).
  auto missing = c.run({"flags", "enable", "nope", "--json"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.out.find("no flag named"), std::string::npos) << missing.out;
  auto eval_missing = c.run({"flags", "eval", "nope", "--json"});
  EXPECT_EQ(eval_missing.exit_code, 1);
  EXPECT_EQ(json::parse(eval_missing.out)["errorCode"], "FLAG_NOT_FOUND");
  EXPECT_EQ(c.run({"flags", "eval", "docs.canvas-mode", "--context", "{nope"}).exit_code, 2);
  EXPECT_EQ(c.run({"flags", "rollout", "docs.canvas-mode", "150"}).exit_code, 2);
  EXPECT_EQ(c.run({"flags", "override", "docs.canvas-mode", "--workspace", "w", "maybe"}).exit_code, 2);
  c.project.write("bad.json", "[1, 2]");
  EXPECT_EQ(c.run({"flags", "import", "--file", "bad.json"}).exit_code, 2);
}

TEST(FlagsCli, TokensPrintTheSecretOnceAndStoreOnlyItsHash) {
  Cli c;
  auto t = c.ok_json({"flags", "token", "create", "web", "--kind", "frontend"});
  std::string secret = t["secret"];
  EXPECT_EQ(secret.rfind("frontend:production.", 0), 0u);
  auto conn = c.db.connect();
  auto r = conn.query("select count(*) from belay.flag_tokens where secret_sha256 = encode(sha256(convert_to($1, 'UTF8')), 'hex')",
                      {secret});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->get(0, 0), "1");
  EXPECT_EQ(c.db.scalar("select count(*) from belay.flag_audit where after::text like '%" + secret.substr(20) + "%' "
                        "or after ? 'secret_sha256'"), "0");
  auto list = c.ok_json({"flags", "token", "list"});
  ASSERT_EQ(list["tokens"].size(), 1u);
  EXPECT_EQ(list["tokens"][0].dump().find(secret.substr(20)), std::string::npos);
  EXPECT_EQ(c.run({"flags", "token", "create", "web"}).exit_code, 2);  // name taken
  c.ok_json({"flags", "token", "revoke", "web"});
  EXPECT_EQ(c.ok_json({"flags", "token", "list"})["tokens"].size(), 0u);
}

TEST(FlagsCli, APasswordInTheTargetNeverReachesOutput) {
  Cli c;
  auto conn = c.db.connect();
  std::string role = test::unique_name("flagpw");
  ASSERT_TRUE(conn.exec("create role " + role + " login password 'Sup3r-s3cret' superuser").ok());
  int port = embedded::Cluster(test::cluster_project()).status()->port;
  std::string with_pw = "postgres://" + role + ":Sup3r-s3cret@127.0.0.1:" + std::to_string(port) + "/" + c.db.name();
  for (auto args : std::vector<std::vector<std::string>>{{"flags", "create", "p1", "--json"},
                                                         {"flags", "enable", "nope"},
                                                         {"flags", "list", "--json"}}) {
    args.push_back("--target");
    args.push_back(with_pw);
    auto r = test::run_belay(args, c.project.dir());
    EXPECT_EQ(r.out.find("Sup3r-s3cret"), std::string::npos) << r.out;
    EXPECT_EQ(r.err.find("Sup3r-s3cret"), std::string::npos) << r.err;
  }
  for (auto& p : std::filesystem::recursive_directory_iterator(c.project.dir()))
    if (p.is_regular_file()) {
      std::ifstream in(p.path());
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      EXPECT_EQ(text.find("Sup3r-s3cret"), std::string::npos) << p.path();
    }
  ASSERT_TRUE(conn.exec("drop owned by " + role + " cascade; drop role " + role).ok());
}

}  // namespace
}  // namespace belay
