// Every lint rule's own must-flag and must-not-flag cases (the data in its file under
// src/lint/rules/), one parameterised test per rule. A rule without both kinds of case
// fails here, as does a rule file that is not registered.
#include <gtest/gtest.h>

#include <filesystem>

#include <fmt/format.h>

#include "lint/rule.h"

namespace lint = belay::lint;

namespace {

std::string describe(const lint::Report& rep) {
  std::string out;
  for (auto& f : rep.findings) out += fmt::format("\n    {}:{}:{} {} {}", f.file, f.line, f.column, f.rule, f.message);
  return out.empty() ? " (none)" : out;
}

class RuleCases : public ::testing::TestWithParam<const lint::Rule*> {};

TEST_P(RuleCases, FlagsWhatItMustAndNothingElse) {
  const lint::Rule& r = *GetParam();
  int flags = 0, clears = 0;
  for (size_t i = 0; i < r.cases.size(); ++i) {
    const lint::Case& c = r.cases[i];
    (c.flag ? flags : clears)++;
    std::vector<std::pair<std::string, std::string>> files;
    for (size_t k = 0; k < c.files.size(); ++k) files.emplace_back(fmt::format("{}_case.sql", k + 1), c.files[k]);
    lint::Options opt;
    if (c.pg_version) opt.pg_version = c.pg_version;
    auto rep = lint::lint_texts(files, opt);
    bool hit = std::any_of(rep.findings.begin(), rep.findings.end(), [&](const lint::Finding& f) { return f.rule == r.info.id; });
    std::string sql;
    for (auto& f : c.files) sql += "\n    -- next migration --\n    " + f;
    EXPECT_EQ(hit, c.flag) << r.info.id << " case " << i << (c.flag ? " must flag:" : " must not flag:") << sql
                           << "\n  findings:" << describe(rep);
    for (auto& f : rep.findings) {
      EXPECT_GT(f.line, 0) << f.rule << ": " << f.message;
      EXPECT_GT(f.column, 0) << f.rule << ": " << f.message;
      EXPECT_FALSE(f.message.empty()) << f.rule;
    }
  }
  EXPECT_GT(flags, 0) << r.info.id << " has no must-flag case";
  EXPECT_GT(clears, 0) << r.info.id << " has no must-not-flag case";
  EXPECT_FALSE(r.info.summary.empty());
  EXPECT_GT(r.info.explanation.size(), 80u) << r.info.id << ": the explanation must give the why and the safe alternative";
  EXPECT_NE(r.info.family, "");
}

std::string name_of(const ::testing::TestParamInfo<const lint::Rule*>& p) {
  std::string n = p.param->info.id;
  for (char& c : n)
    if (c == '-') c = '_';
  return n;
}

INSTANTIATE_TEST_SUITE_P(Lint, RuleCases, ::testing::ValuesIn(lint::all_rules()), name_of);

}  // namespace

TEST(LintRules, EveryRuleFileIsRegisteredAndIdsMatchFileNames) {
  std::set<std::string> files;
  for (auto& e : std::filesystem::directory_iterator(std::filesystem::path(BELAY_SOURCE_DIR) / "src/lint/rules")) {
    auto stem = e.path().stem().string();
    if (e.path().extension() == ".cpp" && stem != "types") files.insert(stem);
  }
  std::set<std::string> ids;
  for (auto* r : lint::all_rules()) ids.insert(r->info.id);
  EXPECT_EQ(files, ids);
  EXPECT_EQ(lint::rules().size(), lint::all_rules().size());
  for (const char* family : {"locks", "client-breakage", "robustness", "security", "types", "data"})
    EXPECT_TRUE(std::any_of(lint::rules().begin(), lint::rules().end(), [&](auto& r) { return r.family == family; })) << family;
}
