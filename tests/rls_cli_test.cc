// belay rls check / rls test from the command line: formats, exit codes, [rls] in
// belay.toml, contracts on disk, --generate, and the evidence both leave.
#include <fstream>
#include <set>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support.h"

namespace belay {
namespace {

using test::run_belay;
using test::TempProject;

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

// A Supabase project on its own embedded cluster.
void supabase_project(TempProject& p) {
  ASSERT_EQ(run_belay({"init", "--supabase"}, p.dir()).exit_code, 0);
}

TEST(RlsCheckCli, FormatsFailOnRulesExplainAndEvidence) {
  TempProject p("rlscheck");
  supabase_project(p);
  // Warnings only: a function that does not pin its search_path.
  p.write("supabase/migrations/20240101000000_fn.sql",
          "create function public.add(a int, b int) returns int language sql as $$ select a + b $$;\n");
  ASSERT_EQ(run_belay({"migrate", "--no-evidence"}, p.dir()).exit_code, 0);
  auto r = run_belay({"rls", "check"}, p.dir());
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;  // --fail-on error by default
  EXPECT_NE(r.out.find("warning[function-search-path-mutable] function public.add(a integer, b integer)"), std::string::npos)
      << r.out;
  r = run_belay({"rls", "check", "--fail-on", "warning", "--no-evidence"}, p.dir());
  EXPECT_EQ(r.exit_code, 1);
  r = run_belay({"rls", "check", "--fail-on", "fatal", "--no-evidence"}, p.dir());
  EXPECT_EQ(r.exit_code, 2);

  // A leak: a table the API serves without RLS.
  p.write("supabase/migrations/20240102000000_leads.sql", "create table public.leads (id int primary key, api_key text);\n");
  ASSERT_EQ(run_belay({"migrate", "--no-evidence"}, p.dir()).exit_code, 0);
  r = run_belay({"rls", "check", "--json"}, p.dir());
  EXPECT_EQ(r.exit_code, 1) << r.err;
  auto j = nlohmann::json::parse(r.out);
  std::set<std::string> rules;
  for (auto& f : j["findings"]) {
    rules.insert(f["rule"].get<std::string>());
    EXPECT_TRUE(f.contains("object") && f.contains("severity") && f.contains("message")) << f.dump();
  }
  EXPECT_TRUE(rules.count("rls-disabled-in-exposed-schema"));
  EXPECT_TRUE(rules.count("sensitive-column-exposed"));
  EXPECT_EQ(j["exposed_schemas"], nlohmann::json::array({"public"}));

  r = run_belay({"rls", "check", "--format", "sarif", "--no-evidence"}, p.dir());
  auto sarif = nlohmann::json::parse(r.out);
  EXPECT_EQ(sarif["version"], "2.1.0");
  EXPECT_FALSE(sarif["runs"][0]["results"].empty());
  EXPECT_EQ(sarif["runs"][0]["tool"]["driver"]["rules"].size(), 12u);
  r = run_belay({"rls", "check", "--format", "github", "--no-evidence"}, p.dir());
  EXPECT_NE(r.out.find("::error"), std::string::npos) << r.out;

  r = run_belay({"rls", "check", "--rules"}, p.dir());
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("view-bypasses-rls"), std::string::npos);
  r = run_belay({"rls", "check", "--explain", "policy-true-for-null-sub"}, p.dir());
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("auth.uid() is null"), std::string::npos) << r.out;
  r = run_belay({"rls", "check", "--explain", "nope"}, p.dir());
  EXPECT_EQ(r.exit_code, 2);

  // [rls] in belay.toml: ignore the table, lower a severity; a stale ignore is reported.
  auto toml = slurp(p.dir() / "belay.toml");
  p.write("belay.toml", toml + "\n[rls]\nignore = [\"public.leads*\", \"public.gone\"]\n"
                               "[rls.severity]\nfunction-search-path-mutable = \"error\"\n");
  r = run_belay({"rls", "check", "--json", "--no-evidence"}, p.dir());
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(r.exit_code, 1);
  ASSERT_EQ(j["findings"].size(), 1u) << r.out;
  EXPECT_EQ(j["findings"][0]["severity"], "error");
  EXPECT_EQ(j["ignored"], 2);
  EXPECT_EQ(j["unused_ignores"], nlohmann::json::array({"public.gone"}));
  EXPECT_NE(r.err.find("\"public.gone\" matched no finding"), std::string::npos) << r.err;
  p.write("belay.toml", toml + "\n[rls]\ndisable = [\"no-such-check\"]\n");
  r = run_belay({"rls", "check", "--no-evidence"}, p.dir());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown check 'no-such-check'"), std::string::npos) << r.err;

  // The first run left evidence that verifies.
  std::filesystem::path run_dir;
  for (auto& d : std::filesystem::recursive_directory_iterator(p.dir() / "artifacts"))
    if (d.path().filename() == "rls_check.json") run_dir = d.path().parent_path();
  ASSERT_FALSE(run_dir.empty());
  auto v = run_belay({"evidence", "verify", run_dir.string()}, p.dir());
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
}

const char* kContract = R"TOML(
[personas.anon]
role = "anon"

[personas.alice]
role = "authenticated"
claims = { sub = "00000000-0000-0000-0000-00000000000a" }

[[fixtures]]
table = "auth.users"
rows = [ { id = "00000000-0000-0000-0000-00000000000a" }, { id = "00000000-0000-0000-0000-00000000000b" } ]

[[fixtures]]
table = "public.notes"
rows = [ { id = 1, owner = "00000000-0000-0000-0000-00000000000a" }, { id = 2, owner = "00000000-0000-0000-0000-00000000000b" } ]

[tables."public.notes"]
select = { anon = "denied", alice = "allowed" }
update = { alice = "where owner = auth.uid()" }
)TOML";

// Issue: privilege regressions per migration, in rehearse (by default) and migrate (on request).
TEST(RlsSurfaceCli, RehearseAndMigrateNameTheMigrationThatOpensData) {
  TempProject p("rlssurf");
  supabase_project(p);
  p.write("supabase/migrations/20240101000000_notes.sql",
          "create table public.notes (id int primary key, owner uuid);\n"
          "alter table public.notes enable row level security;\n"
          "create policy own on public.notes for select to authenticated using (owner = (select auth.uid()));\n");
  p.write("supabase/migrations/20240102000000_open.sql", "alter table public.notes disable row level security;\n");
  auto r = run_belay({"rehearse", "--json", "--no-evidence"}, p.dir());
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["migrations"].size(), 2u);
  EXPECT_TRUE(j["migrations"][0]["surface"].empty()) << j["migrations"][0].dump();
  std::set<std::string> rules;
  for (auto& f : j["migrations"][1]["surface"]) {
    rules.insert(f["rule"].get<std::string>());
    EXPECT_EQ(f["object"], "public.notes");
  }
  EXPECT_EQ(rules, (std::set<std::string>{"surface-rls-disabled", "surface-table-exposed"}));
  EXPECT_EQ(j["summary"]["surface_failing"], 2);
  // Configurable: reported but not fatal, from belay.toml or the command line.
  r = run_belay({"rehearse", "--regressions-fail-at", "never", "--no-evidence"}, p.dir());
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("error surface-rls-disabled: row level security was disabled on table public.notes"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("2 surface regressions (0 failing)"), std::string::npos) << r.out;
  r = run_belay({"rehearse", "--regressions-fail-at", "loud", "--no-evidence"}, p.dir());
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  p.write("belay.toml", slurp(p.dir() / "belay.toml") + "\n[rls]\nregressions_fail_at = \"never\"\n");
  EXPECT_EQ(run_belay({"rehearse", "--no-evidence"}, p.dir()).exit_code, 0);
  EXPECT_EQ(run_belay({"rehearse", "--no-surface", "--json", "--no-evidence"}, p.dir()).exit_code, 0);

  // migrate --check-surface: per migration, after it commits; exit 1 at the failing level.
  r = run_belay({"migrate", "--check-surface", "--regressions-fail-at", "error", "--json"}, p.dir());
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  j = nlohmann::json::parse(r.out);
  EXPECT_TRUE(j["ok"].get<bool>());
  EXPECT_EQ(j["surface"]["failing"], 2);
  for (auto& f : j["surface"]["regressions"]) EXPECT_EQ(f["migration"], "20240102000000_open") << f.dump();
  ASSERT_TRUE(j.contains("evidence"));
  auto evidence = slurp(std::filesystem::path(j["evidence"].get<std::string>()) / "surface.json");
  EXPECT_NE(evidence.find("surface-rls-disabled"), std::string::npos) << evidence;
  // Nothing more to apply: nothing to report.
  r = run_belay({"migrate", "--check-surface", "--no-evidence"}, p.dir());
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("security surface: no regressions"), std::string::npos) << r.out;
}

TEST(RlsTestCli, ContractMismatchFixGenerateAndMistakes) {
  TempProject p("rlstest");
  supabase_project(p);
  p.write("supabase/migrations/20240101000000_notes.sql", R"SQL(
create table public.notes (id int primary key, owner uuid references auth.users (id), body text);
alter table public.notes enable row level security;
create policy sel on public.notes for select to authenticated using (true);
create policy upd on public.notes for update to authenticated using (owner = auth.uid()) with check (true);
)SQL");
  ASSERT_EQ(run_belay({"migrate", "--no-evidence"}, p.dir()).exit_code, 0);

  auto r = run_belay({"rls", "test"}, p.dir());
  EXPECT_EQ(r.exit_code, 2);  // no contract yet
  EXPECT_NE(r.err.find("rls/contract.toml"), std::string::npos) << r.err;

  p.write("rls/contract.toml", kContract);
  r = run_belay({"rls", "test"}, p.dir());
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_EQ(r.out.find("MISMATCH public.notes update as alice"), r.out.find("MISMATCH")) << r.out;
  EXPECT_NE(r.out.find("set owner of id=1 to '00000000-0000-0000-0000-00000000000b'"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1 of 3 expectations failed"), std::string::npos) << r.out;

  r = run_belay({"rls", "test", "--json", "--script", "probes.sql", "--no-evidence"}, p.dir());
  EXPECT_EQ(r.exit_code, 1);
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["ok"], false);
  EXPECT_EQ(j["summary"]["mismatches"], 1);
  EXPECT_EQ(j["results"][0]["ok"], false);
  EXPECT_EQ(j["results"][0]["command"], "update");
  EXPECT_EQ(j["results"][0]["expected"], "where owner = auth.uid()");
  EXPECT_NE(j["results"][0]["detail"].get<std::string>().find("WITH CHECK"), std::string::npos);
  EXPECT_EQ(j["contract_sha256"].get<std::string>().size(), 64u);
  EXPECT_EQ(slurp(p.dir() / "probes.sql").rfind("\\set ON_ERROR_STOP 0\nbegin;\n", 0), 0u);

  // The fix: a WITH CHECK that keeps the row the user's.
  p.write("supabase/migrations/20240102000000_fix.sql",
          "alter policy upd on public.notes with check (owner = auth.uid());\n");
  ASSERT_EQ(run_belay({"migrate", "--no-evidence"}, p.dir()).exit_code, 0);
  r = run_belay({"rls", "test"}, p.dir());
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("all 3 expectations hold"), std::string::npos) << r.out;

  // Drafts: printed, or written to a file that does not exist yet.
  r = run_belay({"rls", "test", "--generate", "--no-evidence"}, p.dir());
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("[tables.\"public.notes\"]"), std::string::npos) << r.out;
  r = run_belay({"rls", "test", "--generate", "--contract", "rls/draft.toml", "--no-evidence"}, p.dir());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(slurp(p.dir() / "rls" / "draft.toml").find("[personas.user_b]"), std::string::npos);
  r = run_belay({"rls", "test", "--generate", "--contract", "rls/draft.toml", "--no-evidence"}, p.dir());
  EXPECT_EQ(r.exit_code, 3);

  // A mistake in the contract: exit 2, file:line:column.
  p.write("rls/bad.toml", "[personas.anon]\nrole = \"anon\"\n[tables.\"public.notes\"]\nselect = { anon = \"maybe\" }\n");
  r = run_belay({"rls", "test", "--contract", "rls/bad.toml", "--no-evidence"}, p.dir());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("bad.toml:4:"), std::string::npos) << r.err;

  // The runs that did not pass --no-evidence left rls_test.json.
  int runs = 0;
  for (auto& d : std::filesystem::recursive_directory_iterator(p.dir() / "artifacts"))
    if (d.path().filename() == "rls_test.json") ++runs;
  EXPECT_EQ(runs, 2);
}

}  // namespace
}  // namespace belay
