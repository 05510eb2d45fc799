// Tests for src/findings: severity and format names, the four renderings, exit codes.
// SARIF output is validated against the SARIF 2.1.0 JSON schema (tests/data) with
// python3-jsonschema, which scripts/setup.sh installs.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "findings/findings.h"
#include "support.h"
#include "util/proc.h"

namespace fnd = belay::findings;
using nlohmann::json;
namespace stdfs = std::filesystem;

namespace {

fnd::Finding sample() {
  fnd::Finding f;
  f.rule = "index-without-concurrently";
  f.severity = fnd::Severity::error;
  f.message = "index t_owner_idx on public.t is built without CONCURRENTLY";
  f.object = "public.t";
  f.fix = "CREATE INDEX CONCURRENTLY in a migration of its own";
  f.file = "migrations/002_idx.sql";
  f.line = 3;
  f.column = 5;
  f.source_line = "    create index t_owner_idx on t (owner);";
  return f;
}

fnd::RenderOptions options() {
  fnd::RenderOptions o;
  o.tool_version = "0.1.0";
  o.rules.push_back({"index-without-concurrently", "locks", fnd::Severity::error,
                     "CREATE INDEX without CONCURRENTLY on an existing table",
                     "Blocks writes for the whole build.\nUse CREATE INDEX CONCURRENTLY."});
  o.rules.push_back({"prefer-text", "types", fnd::Severity::info, "varchar(n) where text fits", ""});
  return o;
}

// Validates `doc` against tests/data/sarif-schema-2.1.0.json; returns the validator's
// complaint ("" when valid).
std::string sarif_schema_errors(const std::string& doc) {
  auto dir = stdfs::path(BELAY_TEST_ROOT) / "findings";
  stdfs::create_directories(dir);
  auto file = dir / belay::test::unique_name("sarif");
  std::ofstream(file) << doc;
  const char* script =
      "import json, sys, jsonschema\n"
      "schema = json.load(open(sys.argv[1]))\n"
      "errors = sorted(jsonschema.Draft4Validator(schema).iter_errors(json.load(open(sys.argv[2]))), key=str)\n"
      "for e in errors: print(list(e.absolute_path), e.message)\n"
      "sys.exit(1 if errors else 0)\n";
  auto r = belay::proc::run({"python3", "-c", script, std::string(BELAY_TEST_DATA) + "/sarif-schema-2.1.0.json",
                             file.string()});
  stdfs::remove(file);
  if (!r.ok()) return "cannot run python3: " + r.error().message;
  if (r->exit_code == 0) return "";
  return r->out + r->err + (r->out.empty() && r->err.empty() ? "validator failed" : "");
}

}  // namespace

TEST(Findings, SeverityNamesRoundTrip) {
  for (auto s : {fnd::Severity::info, fnd::Severity::warning, fnd::Severity::error})
    EXPECT_EQ(fnd::parse_severity(fnd::to_string(s)), s);
  EXPECT_EQ(fnd::parse_severity("ERROR"), fnd::Severity::error);
  EXPECT_EQ(fnd::parse_severity("warn"), fnd::Severity::warning);
  EXPECT_EQ(fnd::parse_severity("note"), fnd::Severity::info);
  EXPECT_FALSE(fnd::parse_severity("fatal"));
  EXPECT_FALSE(fnd::parse_severity(""));
}

TEST(Findings, FormatNames) {
  EXPECT_EQ(fnd::parse_format("text"), fnd::Format::text);
  EXPECT_EQ(fnd::parse_format("json"), fnd::Format::json);
  EXPECT_EQ(fnd::parse_format("SARIF"), fnd::Format::sarif);
  EXPECT_EQ(fnd::parse_format("github"), fnd::Format::github);
  EXPECT_FALSE(fnd::parse_format("xml"));
}

TEST(Findings, TextNamesLocationRuleSeveritySourceCaretAndFix) {
  auto opt = options();
  std::string t = fnd::render({sample()}, fnd::Format::text, opt);
  EXPECT_NE(t.find("migrations/002_idx.sql:3:5: error[index-without-concurrently] index t_owner_idx"), std::string::npos) << t;
  EXPECT_NE(t.find(" 3 |     create index t_owner_idx on t (owner);\n"), std::string::npos) << t;
  EXPECT_NE(t.find("   |     ^\n"), std::string::npos) << t;  // caret under column 5
  EXPECT_NE(t.find("fix: CREATE INDEX CONCURRENTLY"), std::string::npos) << t;
  EXPECT_NE(t.find("1 finding: 1 error, 0 warnings, 0 infos"), std::string::npos) << t;
  EXPECT_EQ(t.find('\033'), std::string::npos) << "colour without opt.color";
  opt.color = true;
  std::string c = fnd::render({sample()}, fnd::Format::text, opt);
  EXPECT_NE(c.find("\033[31;1merror[index-without-concurrently]\033[0m"), std::string::npos) << c;
}

TEST(Findings, TextCaretKeepsTabsAndCountsCharactersNotBytes) {
  auto f = sample();
  f.source_line = "\t\xc3\xa9t\xc3\xa9 x";  // tab, "été", space, x
  f.column = 8;                            // byte column of x: 1 + 1 + 2+1+2 + 1 = 8
  std::string t = fnd::render({f}, fnd::Format::text, options());
  EXPECT_NE(t.find("   | \t    ^\n"), std::string::npos) << t;
}

TEST(Findings, TextWithoutFileShowsObjectAndNoCaret) {
  fnd::Finding f;
  f.rule = "rls-disabled";
  f.severity = fnd::Severity::warning;
  f.message = "table public.notes has RLS disabled";
  f.object = "public.notes";
  std::string t = fnd::render({f}, fnd::Format::text, {});
  EXPECT_EQ(t.rfind("warning[rls-disabled] table public.notes", 0), 0u) << t;
  EXPECT_NE(t.find("object: public.notes"), std::string::npos) << t;
  EXPECT_EQ(t.find('^'), std::string::npos) << t;
}

TEST(Findings, TextControlCharactersCannotDriveTheTerminal) {
  auto f = sample();
  f.message = "evil \033[2J name";
  f.source_line = "select '\033]0;title\007'";
  std::string t = fnd::render({f}, fnd::Format::text, {});
  EXPECT_EQ(t.find('\033'), std::string::npos) << t;
  EXPECT_EQ(t.find('\007'), std::string::npos) << t;
}

TEST(Findings, TextEmpty) {
  EXPECT_EQ(fnd::render({}, fnd::Format::text, {}), "no findings\n");
}

TEST(Findings, JsonHasEveryField) {
  auto j = json::parse(fnd::render({sample()}, fnd::Format::json, options()));
  ASSERT_EQ(j["findings"].size(), 1u);
  auto f = j["findings"][0];
  EXPECT_EQ(f["file"], "migrations/002_idx.sql");
  EXPECT_EQ(f["line"], 3);
  EXPECT_EQ(f["column"], 5);
  EXPECT_EQ(f["rule"], "index-without-concurrently");
  EXPECT_EQ(f["severity"], "error");
  EXPECT_EQ(f["message"], sample().message);
  EXPECT_EQ(f["object"], "public.t");
  EXPECT_EQ(f["fix"], sample().fix);
  EXPECT_EQ(json::parse(fnd::render({}, fnd::Format::json, {})), json::parse(R"({"findings":[]})"));
}

TEST(Findings, JsonSurvivesInvalidUtf8) {
  auto f = sample();
  f.message = "bad \xff byte";
  auto j = json::parse(fnd::render({f}, fnd::Format::json, {}));
  EXPECT_EQ(j["findings"][0]["message"], "bad \xef\xbf\xbd byte");
}

TEST(Findings, SarifStructure) {
  auto info = sample();
  info.rule = "prefer-text";
  info.severity = fnd::Severity::info;
  info.file = "dir with space/001_a.sql";
  info.source_line = "\xc3\xa9\xc3\xa9 varchar(20)";
  info.column = 6;  // byte 6 = the 'v' after two 2-byte characters and a space
  auto j = json::parse(fnd::render({sample(), info}, fnd::Format::sarif, options()));
  EXPECT_EQ(j["version"], "2.1.0");
  auto run = j["runs"][0];
  EXPECT_EQ(run["tool"]["driver"]["name"], "belay");
  EXPECT_EQ(run["tool"]["driver"]["version"], "0.1.0");
  EXPECT_EQ(run["tool"]["driver"]["rules"][0]["id"], "index-without-concurrently");
  EXPECT_EQ(run["tool"]["driver"]["rules"][0]["defaultConfiguration"]["level"], "error");
  EXPECT_EQ(run["tool"]["driver"]["rules"][0]["properties"]["tags"][0], "locks");
  auto r0 = run["results"][0];
  EXPECT_EQ(r0["ruleId"], "index-without-concurrently");
  EXPECT_EQ(r0["ruleIndex"], 0);
  EXPECT_EQ(r0["level"], "error");
  auto loc = r0["locations"][0]["physicalLocation"];
  EXPECT_EQ(loc["artifactLocation"]["uri"], "migrations/002_idx.sql");
  EXPECT_EQ(loc["region"]["startLine"], 3);
  EXPECT_EQ(loc["region"]["startColumn"], 5);
  EXPECT_EQ(r0["properties"]["fix"], sample().fix);
  auto r1 = run["results"][1];
  EXPECT_EQ(r1["level"], "note");
  EXPECT_EQ(r1["ruleIndex"], 1);
  EXPECT_EQ(r1["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], "dir%20with%20space/001_a.sql");
  EXPECT_EQ(r1["locations"][0]["physicalLocation"]["region"]["startColumn"], 4);  // code points
}

TEST(Findings, SarifValidatesAgainstTheSchema) {
  fnd::Finding catalog;  // no file: a logical location only
  catalog.rule = "unknown-to-driver";
  catalog.severity = fnd::Severity::warning;
  catalog.message = "policy on public.t";
  catalog.object = "public.t";
  auto abs = sample();
  abs.file = "/tmp/x y/001.sql";
  auto no_line = sample();
  no_line.line = 0;
  no_line.column = 0;
  for (const auto& fs : std::vector<std::vector<fnd::Finding>>{{}, {sample()}, {sample(), catalog, abs, no_line}}) {
    std::string doc = fnd::render(fs, fnd::Format::sarif, options());
    EXPECT_EQ(sarif_schema_errors(doc), "") << doc;
  }
  // The validator itself must be able to say no.
  auto bad = json::parse(fnd::render({sample()}, fnd::Format::sarif, options()));
  bad["version"] = "2.0.0";
  bad["runs"][0]["results"][0]["level"] = "fatal";
  EXPECT_NE(sarif_schema_errors(bad.dump()), "");
}

TEST(Findings, GithubAnnotations) {
  auto f = sample();
  f.message = "50% of rows: a, b\nnext";
  f.file = "m/a,b:c.sql";
  std::string g = fnd::render({f}, fnd::Format::github, {});
  EXPECT_EQ(g,
            "::error file=m/a%2Cb%3Ac.sql,line=3,col=5,title=index-without-concurrently::"
            "50%25 of rows: a, b%0Anext%0Afix: CREATE INDEX CONCURRENTLY in a migration of its own\n");
  f.severity = fnd::Severity::info;
  f.fix.clear();
  f.file.clear();
  EXPECT_EQ(fnd::render({f}, fnd::Format::github, {}),
            "::notice title=index-without-concurrently::50%25 of rows: a, b%0Anext\n");
  f.severity = fnd::Severity::warning;
  EXPECT_EQ(fnd::render({f}, fnd::Format::github, {}).rfind("::warning ", 0), 0u);
  EXPECT_EQ(fnd::render({}, fnd::Format::github, {}), "");
}

TEST(Findings, ExitCodeAtOrAboveFailOn) {
  auto warn = sample();
  warn.severity = fnd::Severity::warning;
  EXPECT_EQ(fnd::exit_code({}, fnd::Severity::info), belay::ExitCode::ok);
  EXPECT_EQ(fnd::exit_code({warn}, fnd::Severity::error), belay::ExitCode::ok);
  EXPECT_EQ(fnd::exit_code({warn}, fnd::Severity::warning), belay::ExitCode::failure);
  EXPECT_EQ(fnd::exit_code({warn}, fnd::Severity::info), belay::ExitCode::failure);
  EXPECT_EQ(fnd::exit_code({warn, sample()}, fnd::Severity::error), belay::ExitCode::failure);
}
