// `belay backfill` from the command line: --json, exit codes, evidence, the progress bar
// (on a terminal only) and passwords.
#include <poll.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "backfill_support.h"
#include "embedded/embedded.h"

namespace belay {
namespace {

using test::BackfillDb;

nlohmann::json parse(const std::string& s) {
  auto j = nlohmann::json::parse(s, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << s.substr(0, 500);
  return j;
}

proc::Outcome belay(const BackfillDb& t, std::vector<std::string> args) {
  args.push_back("--target");
  args.push_back(t.url());
  return test::run_belay(args, t.project().dir());
}

TEST(BackfillCli, PlanRunVerifyRollbackWithJsonAndEvidence) {
  BackfillDb t("bfcli1");
  t.generate(8);
  t.doc("broken", R"({"orgs": {"not": "an array"}})");
  auto plan = belay(t, {"backfill", "plan", "jobs/job.toml", "--limit", "2", "--json"});
  ASSERT_EQ(plan.exit_code, 0) << plan.err;
  auto pj = parse(plan.out);
  EXPECT_EQ(pj["summary"]["planned_users"], 2);
  EXPECT_EQ(pj["summary"]["pending_users"], 9);
  EXPECT_EQ(pj["users"][0]["user"], "broken");  // users in key order
  EXPECT_EQ(pj["users"][0]["quarantined"], true);
  EXPECT_EQ(pj["users"][1]["entities"][0]["ids"][0]["old"], "o1");
  EXPECT_EQ(pj["problems"][0]["kind"], "not_an_array");
  EXPECT_NE(pj["sql"].get<std::string>().find("copy \"personas\""), std::string::npos);
  EXPECT_EQ(t.count("orgs"), 0);

  auto sql = belay(t, {"backfill", "plan", "jobs/job.toml", "--user", "user-000003", "--sql", "--no-evidence"});
  ASSERT_EQ(sql.exit_code, 0) << sql.err;
  EXPECT_EQ(sql.out.rfind("-- belay backfill plan", 0), 0u);
  EXPECT_NE(sql.out.find("\tuser-000003\tOrg 1 of 3\t"), std::string::npos) << sql.out.substr(0, 600);

  auto human = belay(t, {"backfill", "plan", "jobs/job.toml", "--user", "user-000003", "--no-evidence"});
  ASSERT_EQ(human.exit_code, 0) << human.err;
  EXPECT_NE(human.out.find(backfill::new_id(t.job(), "user-000003", "orgs", "o1")), std::string::npos) << human.out;
  EXPECT_NE(human.out.find("nothing written"), std::string::npos);

  auto run = belay(t, {"backfill", "run", "jobs/job.toml", "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.err.find('\r'), std::string::npos);  // no progress bar outside a terminal
  auto rj = parse(run.out);
  EXPECT_EQ(rj["users"]["done"], 8);
  EXPECT_EQ(rj["users"]["quarantined"], 1);
  EXPECT_EQ(rj["quarantined"][0]["user"], "broken");
  EXPECT_EQ(rj["rows"], 8 * 29);
  EXPECT_EQ(rj["tables"][0]["table"], "orgs");
  auto dir = rj["evidence"].get<std::string>();
  ASSERT_FALSE(dir.empty());
  auto report = test::slurp_file(std::filesystem::path(dir) / "backfill.json");
  EXPECT_NE(report.find(rj["run_id"].get<std::string>()), std::string::npos);
  EXPECT_NE(test::slurp_file(std::filesystem::path(dir) / "report.md").find("## Quarantined users"), std::string::npos);
  auto ev = test::slurp_file(std::filesystem::path(dir) / "events.jsonl");
  EXPECT_NE(ev.find("backfill.backup"), std::string::npos);
  EXPECT_NE(ev.find("backfill.batch"), std::string::npos);
  EXPECT_NE(ev.find("backfill.quarantine"), std::string::npos);
  auto check = test::run_belay({"evidence", "verify", dir}, t.project().dir());
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;

  auto verify = belay(t, {"backfill", "verify", "jobs/job.toml", "--json"});
  EXPECT_EQ(verify.exit_code, 0) << verify.out;
  EXPECT_EQ(parse(verify.out)["ok"], true);
  t.exec("delete from inbox_items where user_id = 'user-000004'");
  auto bad = belay(t, {"backfill", "verify", "jobs/job.toml"});
  EXPECT_EQ(bad.exit_code, 1) << bad.out;
  EXPECT_NE(bad.out.find("missing_rows user-000004"), std::string::npos) << bad.out;

  auto rb = belay(t, {"backfill", "rollback", "jobs/job.toml", "--json"});
  EXPECT_EQ(rb.exit_code, 0) << rb.out << rb.err;
  auto rbj = parse(rb.out);
  EXPECT_EQ(rbj["users"], 9);  // the quarantined user's progress row goes too
  EXPECT_EQ(rbj["rows"], 8 * 29 - 4);
  EXPECT_EQ(rbj["order"][0], "inbox_items");
  EXPECT_EQ(t.count("orgs"), 0);
}

TEST(BackfillCli, ExitCodesForBadJobsLocksAndUsage) {
  BackfillDb t("bfcli2");
  t.project().write("jobs/bad.toml", "[job]\nname = \"x\"\n[source]\ntable = \"user_app_state\"\nlatest = \"x\"\n");
  auto bad = belay(t, {"backfill", "run", "jobs/bad.toml"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("bad.toml:5:1: unknown key 'latest' in [source]"), std::string::npos) << bad.err;
  auto missing = belay(t, {"backfill", "plan", "jobs/none.toml"});
  EXPECT_EQ(missing.exit_code, 1) << missing.err;
  EXPECT_NE(missing.err.find("none.toml"), std::string::npos);
  auto usage = test::run_belay({"backfill", "run"}, t.project().dir());
  EXPECT_EQ(usage.exit_code, 2);
  auto holder = t.db().connect("belay backfill run (someone)");
  ASSERT_TRUE(holder.query("select pg_advisory_lock(hashtextextended('belay.backfill:user_app_state', 0))").ok());
  auto locked = belay(t, {"backfill", "run", "jobs/job.toml", "--lock-wait", "200ms"});
  EXPECT_EQ(locked.exit_code, 4) << locked.err;
  EXPECT_NE(locked.err.find("belay backfill run (someone)"), std::string::npos) << locked.err;
}

// Runs belay on a pseudo-terminal and returns everything it printed there.
std::string run_on_terminal(const std::vector<std::string>& args, const std::filesystem::path& cwd) {
  int master = -1;
  pid_t pid = forkpty(&master, nullptr, nullptr, nullptr);
  if (pid == 0) {
    if (::chdir(cwd.c_str()) != 0) _exit(127);
    ::unsetenv("NO_COLOR");
    ::unsetenv("DATABASE_URL");
    std::vector<char*> argv;
    std::string bin = BELAY_BIN;
    argv.push_back(bin.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(bin.c_str(), argv.data());
    _exit(127);
  }
  std::string out;
  char buf[4096];
  while (true) {
    pollfd p{master, POLLIN, 0};
    if (::poll(&p, 1, 60000) <= 0) break;
    auto n = ::read(master, buf, sizeof buf);
    if (n <= 0) break;  // EIO once the child is gone
    out.append(buf, static_cast<size_t>(n));
  }
  int st = 0;
  ::waitpid(pid, &st, 0);
  ::close(master);
  return out;
}

TEST(BackfillCli, ProgressBarWithRateAndEtaOnATerminalOnly) {
  BackfillDb t("bfcli3");
  t.generate(400);
  auto out = run_on_terminal({"backfill", "run", "jobs/job.toml", "--target", t.url(), "--batch-size", "20",
                              "--workers", "1", "--no-evidence"},
                             t.project().dir());
  EXPECT_NE(out.find("\r  ["), std::string::npos) << out.substr(0, 800);
  EXPECT_NE(out.find("rows/s"), std::string::npos);
  EXPECT_NE(out.find("ETA"), std::string::npos);
  EXPECT_NE(out.find("400 users done"), std::string::npos) << out.substr(out.size() > 800 ? out.size() - 800 : 0);
  // The same run with --json on a terminal: a JSON document, no bar.
  BackfillDb t2("bfcli4");
  t2.generate(50);
  auto js = run_on_terminal({"backfill", "run", "jobs/job.toml", "--target", t2.url(), "--json", "--no-evidence"},
                            t2.project().dir());
  EXPECT_EQ(js.find("rows/s"), std::string::npos) << js.substr(0, 400);
  EXPECT_NE(js.find("\"users\""), std::string::npos);
}

TEST(BackfillCli, PasswordNeverInOutputOrEvidence) {
  const std::string secret = "Bf-Secret-Pw-4471";
  BackfillDb t("bfcli5");
  t.generate(5);
  auto c = t.conn();
  auto role = test::unique_name("bf_pw");
  ASSERT_TRUE(c.exec(fmt::format("create role {0} login password '{1}'; grant all on all tables in schema public to {0}; "
                                 "grant create on database {2} to {0}; grant usage, create on schema public to {0}",
                                 role, secret, t.db().name()))
                  .ok());
  int port = embedded::Cluster(test::cluster_project()).status()->port;
  auto url = fmt::format("postgres://{}:{}@127.0.0.1:{}/{}", role, secret, port, t.db().name());
  std::string all;
  for (auto verb : {"plan", "run", "verify", "rollback"}) {
    for (bool json : {false, true}) {
      std::vector<std::string> args{"backfill", verb, "jobs/job.toml", "--target", url};
      if (json) args.push_back("--json");
      auto r = test::run_belay(args, t.project().dir());
      EXPECT_EQ(r.exit_code, 0) << verb << ": " << r.out << r.err;
      all += r.out + r.err;
    }
  }
  EXPECT_EQ(all.find(secret), std::string::npos);
  EXPECT_NE(all.find("****"), std::string::npos);
  for (auto& e : std::filesystem::recursive_directory_iterator(t.project().dir() / "artifacts"))
    if (e.is_regular_file()) {
      EXPECT_EQ(test::slurp_file(e.path()).find(secret), std::string::npos) << e.path();
    }
}

}  // namespace
}  // namespace belay
