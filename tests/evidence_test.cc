// Tests for the evidence writer (src/evidence): run layout, the hash chain (re-implemented
// here from its documented rule), tamper detection, secrets, unfinished runs. No database.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "evidence/evidence.h"
#include "support.h"
#include "util/sha256.h"

namespace stdfs = std::filesystem;
// Not "Run": inside a TEST body that name is testing::Test::Run.
using EvidenceRun = belay::evidence::Run;
using nlohmann::json;

namespace {

std::string slurp(const stdfs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void spit(const stdfs::path& p, const std::string& s) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << s;
}

// Overwrites one byte in place (no truncation: ext4 flushes truncated files on close,
// which made the byte-by-byte tests slow).
void poke(const stdfs::path& p, size_t offset, char c) {
  std::fstream f(p, std::ios::binary | std::ios::in | std::ios::out);
  f.seekp(static_cast<std::streamoff>(offset));
  f.put(c);
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

std::string join_lines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

// Every regular file under dir, with its content (a snapshot to compare or grep).
std::map<std::string, std::string> snapshot(const stdfs::path& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : stdfs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) out[e.path().lexically_relative(dir).generic_string()] = slurp(e.path());
  return out;
}

// A finished run: run.start, one event, two files, report.md, run.end.
stdfs::path finished_run(const belay::test::TempProject& proj) {
  auto run = EvidenceRun::open(proj.dir(), "migrate", {"belay", "migrate", "--target", "staging"});
  EXPECT_TRUE(run.ok()) << run.error().render();
  EXPECT_TRUE(run->event("migration.done", {{"version", "001"}, {"ms", 12}, {"ratio", 1.5e100}}).ok());
  EXPECT_TRUE(run->write_file("sql/001_init.sql", "create table t (id int);\n").ok());
  EXPECT_TRUE(run->write_json("plan.json", {{"pending", {"001"}}, {"target", "staging"}}).ok());
  auto st = run->finish("ok", "# migrate\n\nApplied 001.\n");
  EXPECT_TRUE(st.ok()) << st.error().render();
  return run->dir();
}

belay::evidence::Verdict verdict(const stdfs::path& dir) {
  auto v = belay::evidence::verify(dir);
  EXPECT_TRUE(v.ok()) << v.error().render();
  return v.ok() ? *v : belay::evidence::Verdict{};
}

// verify() must fail, naming `want` in its problem.
void expect_detected(const stdfs::path& dir, const std::string& want) {
  auto v = verdict(dir);
  EXPECT_FALSE(v.ok) << "not detected; expected a problem containing: " << want;
  EXPECT_NE(v.problem.find(want), std::string::npos) << "problem: " << v.problem << "\nexpected: " << want;
}

}  // namespace

// ---------------------------------------------------------------- clean runs

TEST(Evidence, CleanRunVerifies) {
  belay::test::TempProject proj("evidence");
  auto dir = finished_run(proj);

  auto v = verdict(dir);
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.problem, "");
  EXPECT_EQ(v.events, 6);  // run.start, migration.done, 2 x file, file report.md, run.end
  EXPECT_EQ(v.files, 4);   // sql/001_init.sql, plan.json, report.md, events.jsonl

  // Layout: <root>/artifacts/<YYYY-MM-DD>/<HHMMSS>-<command>-<6 hex>/
  EXPECT_EQ(dir.parent_path().parent_path(), proj.dir() / "artifacts");
  EXPECT_TRUE(std::regex_match(dir.parent_path().filename().string(), std::regex(R"(\d{4}-\d{2}-\d{2})")));
  EXPECT_TRUE(std::regex_match(dir.filename().string(), std::regex(R"(\d{6}-migrate-[0-9a-f]{6})")));

  auto files = snapshot(dir);
  std::set<std::string> names;
  for (const auto& [n, c] : files) names.insert(n);
  EXPECT_EQ(names, (std::set<std::string>{"events.jsonl", "manifest.json", "plan.json", "report.md",
                                          "sql/001_init.sql"}));

  auto m = json::parse(files["manifest.json"]);
  EXPECT_EQ(m["run_id"], dir.filename().string());
  EXPECT_EQ(m["command"], "migrate");
  EXPECT_EQ(m["events"], 6);
  EXPECT_EQ(m["files"].size(), 4u);
  EXPECT_FALSE(m["files"].contains("manifest.json"));
  for (const auto& [name, content] : files)
    if (name != "manifest.json") {
      EXPECT_EQ(m["files"][name], belay::sha256_hex(content)) << name;
    }
}

TEST(Evidence, RunStartAndReadEvents) {
  belay::test::TempProject proj("evidence");
  auto dir = finished_run(proj);
  auto events = belay::evidence::read_events(dir);
  ASSERT_TRUE(events.ok()) << events.error().render();
  ASSERT_EQ(events->size(), 6u);
  std::vector<std::string> kinds;
  for (size_t i = 0; i < events->size(); ++i) {
    EXPECT_EQ((*events)[i].seq, static_cast<int>(i) + 1);
    kinds.push_back((*events)[i].kind);
  }
  EXPECT_EQ(kinds, (std::vector<std::string>{"run.start", "migration.done", "file", "file", "file", "run.end"}));

  const auto& start = (*events)[0].data;
  EXPECT_EQ(start["command"], "migrate");
  EXPECT_EQ(start["argv"], json({"belay", "migrate", "--target", "staging"}));
  EXPECT_EQ(start["belay_version"], "0.1.0");
  EXPECT_EQ(start["pid"], static_cast<long long>(::getpid()));
  for (const char* key : {"host", "user", "cwd"}) EXPECT_TRUE(start[key].is_string()) << key;
  EXPECT_FALSE(start["user"].get<std::string>().empty());

  const auto& file = (*events)[2].data;
  EXPECT_EQ(file["name"], "sql/001_init.sql");
  EXPECT_EQ(file["bytes"], 25);
  EXPECT_EQ(file["sha256"], belay::sha256_hex("create table t (id int);\n"));
  EXPECT_EQ((*events)[5].data, json({{"outcome", "ok"}}));

  // A bad line is an error naming it.
  auto lines = lines_of(slurp(dir / "events.jsonl"));
  lines[2] = "{not json";
  spit(dir / "events.jsonl", join_lines(lines));
  auto bad = belay::evidence::read_events(dir);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().line, 3);
  EXPECT_NE(bad.error().message.find("events.jsonl line 3"), std::string::npos) << bad.error().message;
}

// The chain rule, re-implemented from its description in run.cpp:
//   hash = sha256_hex(prev + "\n" + dump({"data","kind","prev","seq","ts"})), prev of seq 1 = 64 zeros.
TEST(Evidence, ChainRuleIndependent) {
  belay::test::TempProject proj("evidence");
  auto dir = finished_run(proj);
  std::string prev(64, '0');
  int seq = 0;
  std::regex iso(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)");
  for (const auto& line : lines_of(slurp(dir / "events.jsonl"))) {
    auto j = json::parse(line);
    EXPECT_EQ(j["seq"], ++seq);
    EXPECT_EQ(j["prev"], prev);
    EXPECT_TRUE(std::regex_match(j["ts"].get<std::string>(), iso)) << j["ts"];
    json body = {{"seq", j["seq"]}, {"ts", j["ts"]}, {"kind", j["kind"]}, {"data", j["data"]}, {"prev", j["prev"]}};
    std::string hash = belay::sha256_hex(prev + "\n" + body.dump());
    EXPECT_EQ(j["hash"], hash) << "seq " << seq;
    EXPECT_EQ(line, j.dump());  // each line is the canonical dump
    prev = hash;
  }
  EXPECT_EQ(seq, 6);
  auto m = json::parse(slurp(dir / "manifest.json"));
  EXPECT_EQ(m["chain_head"], prev);

  // The run id and date dir come from the same clock reading as run.start's ts.
  auto first = json::parse(lines_of(slurp(dir / "events.jsonl"))[0]);
  std::string ts = first["ts"];
  EXPECT_EQ(m["created"], ts);
  EXPECT_EQ(dir.parent_path().filename().string(), ts.substr(0, 10));
  EXPECT_EQ(dir.filename().string().substr(0, 6), ts.substr(11, 2) + ts.substr(14, 2) + ts.substr(17, 2));
}

// ---------------------------------------------------------------- tampering

TEST(EvidenceTamper, ReportEdited) {
  belay::test::TempProject proj("evidence");
  auto dir = finished_run(proj);
  auto s = slurp(dir / "report.md");
  s[3] = 'X';
  spit(dir / "report.md", s);
  expect_detected(dir, "report.md: altered (sha256 mismatch)");
}

TEST(EvidenceTamper, OtherFileEdited) {
  belay::test::TempProject proj("evidence");
  auto dir = finished_run(proj);
  auto s = slurp(dir / "sql/001_init.sql");
  s.back() = ' ';
  spit(dir / "sql/001_init.sql", s);
  expect_detected(dir, "sql/001_init.sql: altered (sha256 mismatch)");
}

TEST(EvidenceTamper, FileDeleted) {
  belay::test::TempProject proj("evidence");
  auto dir = finished_run(proj);
  stdfs::remove(dir / "plan.json");
  expect_detected(dir, "plan.json: missing");
}

TEST(EvidenceTamper, FileAdded) {
  belay::test::TempProject proj("evidence");
  auto dir = finished_run(proj);
  spit(dir / "sql" / "002_extra.sql", "drop table t;\n");
  expect_detected(dir, "sql/002_extra.sql: not in manifest.json");
}

TEST(EvidenceTamper, ManifestChainHeadEdited) {
  belay::test::TempProject proj("evidence");
  auto dir = finished_run(proj);
  auto s = slurp(dir / "manifest.json");
  auto pos = s.find("\"chain_head\": \"");
  ASSERT_NE(pos, std::string::npos);
  pos += 20;
  s[pos] = s[pos] == 'a' ? 'b' : 'a';
  spit(dir / "manifest.json", s);
  expect_detected(dir, "manifest.json: chain_head does not match");

  // Same with a well-formed rewrite pointing at an earlier event (a truncated history).
  auto m = json::parse(slurp(dir / "manifest.json"));
  m["chain_head"] = json::parse(lines_of(slurp(dir / "events.jsonl"))[4])["hash"];
  spit(dir / "manifest.json", m.dump(2) + "\n");
  expect_detected(dir, "manifest.json: chain_head does not match");
}

TEST(EvidenceTamper, EventAltered) {
  belay::test::TempProject proj("evidence");
  auto dir = finished_run(proj);
  auto lines = lines_of(slurp(dir / "events.jsonl"));
  auto pos = lines[1].find("\"001\"");
  ASSERT_NE(pos, std::string::npos);
  lines[1][pos + 3] = '2';  // version 001 -> 002
  spit(dir / "events.jsonl", join_lines(lines));
  expect_detected(dir, "events.jsonl line 2 (seq 2): hash mismatch");
}

TEST(EvidenceTamper, EveryByteOfEventsJsonl) {
  belay::test::TempProject proj("evidence");
  auto dir = finished_run(proj);
  const std::string original = slurp(dir / "events.jsonl");
  int undetected = 0;
  for (size_t i = 0; i < original.size(); ++i) {
    // 0x01 changes a digit/letter; 0x20 flips case (e.g. "1.5e+100" -> "1.5E+100", the same number).
    for (unsigned char flip : {0x01, 0x20}) {
      poke(dir / "events.jsonl", i, static_cast<char>(original[i] ^ flip));
      auto v = verdict(dir);
      poke(dir / "events.jsonl", i, original[i]);
      if (v.ok || v.problem.find("events.jsonl") == std::string::npos) {
        if (++undetected <= 5) ADD_FAILURE() << "byte " << i << " ^ " << int(flip) << ": " << v.problem;
      }
    }
  }
  EXPECT_EQ(undetected, 0);
  EXPECT_EQ(slurp(dir / "events.jsonl"), original);
  EXPECT_TRUE(verdict(dir).ok);
}

TEST(EvidenceTamper, EveryByteOfManifest) {
  belay::test::TempProject proj("evidence");
  auto dir = finished_run(proj);
  const std::string original = slurp(dir / "manifest.json");
  for (size_t i = 0; i < original.size(); ++i) {
    for (unsigned char flip : {0x01, 0x20}) {
      poke(dir / "manifest.json", i, static_cast<char>(original[i] ^ flip));
      auto v = verdict(dir);
      poke(dir / "manifest.json", i, original[i]);
      EXPECT_FALSE(v.ok) << "byte " << i << " ^ " << int(flip) << " of manifest.json not detected";
    }
  }
  EXPECT_TRUE(verdict(dir).ok);
}

TEST(EvidenceTamper, EventLineDeleted) {
  belay::test::TempProject proj("evidence");
  auto dir = finished_run(proj);
  const auto original = lines_of(slurp(dir / "events.jsonl"));
  for (size_t del = 0; del < original.size(); ++del) {
    SCOPED_TRACE("deleting line " + std::to_string(del + 1));
    auto lines = original;
    lines.erase(lines.begin() + static_cast<long>(del));
    spit(dir / "events.jsonl", join_lines(lines));
    if (del + 1 < original.size())
      // The line that moved into its place no longer has the expected seq.
      expect_detected(dir, fmt::format("events.jsonl line {} (seq {}): expected seq {}", del + 1, del + 2, del + 1));
    else
      expect_detected(dir, "manifest.json: lists 6 events but events.jsonl has 5");
  }
}

TEST(EvidenceTamper, EventLinesReordered) {
  belay::test::TempProject proj("evidence");
  auto dir = finished_run(proj);
  const auto original = lines_of(slurp(dir / "events.jsonl"));
  for (size_t a = 0; a < original.size(); ++a) {
    for (size_t b = a + 1; b < original.size(); ++b) {
      SCOPED_TRACE(fmt::format("swapping lines {} and {}", a + 1, b + 1));
      auto lines = original;
      std::swap(lines[a], lines[b]);
      spit(dir / "events.jsonl", join_lines(lines));
      expect_detected(dir, fmt::format("events.jsonl line {} (seq {}): expected seq {}", a + 1, b + 1, a + 1));
    }
  }
}

TEST(EvidenceTamper, EventLineInvalidJson) {
  belay::test::TempProject proj("evidence");
  auto dir = finished_run(proj);
  auto lines = lines_of(slurp(dir / "events.jsonl"));
  lines[3].pop_back();  // drop the closing brace
  spit(dir / "events.jsonl", join_lines(lines));
  expect_detected(dir, "events.jsonl line 4: invalid JSON");
}

TEST(EvidenceTamper, EventEditedAndRehashedBreaksTheNextLink) {
  belay::test::TempProject proj("evidence");
  auto dir = finished_run(proj);
  auto lines = lines_of(slurp(dir / "events.jsonl"));
  // A forger who recomputes the edited event's own hash still breaks the next event's prev.
  auto j = json::parse(lines[1]);
  j["data"]["version"] = "999";
  json body = {{"seq", j["seq"]}, {"ts", j["ts"]}, {"kind", j["kind"]}, {"data", j["data"]}, {"prev", j["prev"]}};
  j["hash"] = belay::sha256_hex(j["prev"].get<std::string>() + "\n" + body.dump());
  lines[1] = j.dump();
  spit(dir / "events.jsonl", join_lines(lines));
  expect_detected(dir, "events.jsonl line 3 (seq 3): prev does not match");
}

// ---------------------------------------------------------------- secrets

TEST(Evidence, SecretsNeverReachDisk) {
  belay::test::TempProject proj("evidence");
  const std::string secret = "hunter2-S3cret";
  const std::string added = "tok\"en\\value";  // escaped inside JSON: must be scrubbed before dumping
  const std::string dsn_pw = "pw-from-the-dsn";
  const std::string inner = "hunter2";          // a registered secret inside a longer one
  std::string dir_s;
  {
    auto run = EvidenceRun::open(proj.dir(), "migrate",
                         {"belay", "migrate", "--token=" + secret, "postgres://alice:" + dsn_pw + "@db/app"},
                         {inner, secret, ""});
    ASSERT_TRUE(run.ok()) << run.error().render();
    run->add_secret(added);
    run->add_secret("");
    ASSERT_TRUE(run->event("connect", {{"outer", {{"list", json::array({"x " + secret + " y", json{{secret, 1}}})},
                                                  {"dsn", "postgres://alice:" + dsn_pw + "@db/app"},
                                                  {"tok", added}}}})
                    .ok());
    ASSERT_TRUE(run->event("kind-" + secret, {{"n", 1}}).ok());
    ASSERT_TRUE(run->write_file("out/" + secret + ".txt", "line with " + secret + " and " + added + "\n").ok());
    ASSERT_TRUE(run->write_json("j.json", {{"a", added}, {secret, {secret, dsn_pw}}}).ok());
    ASSERT_TRUE(run->finish("ok", "report mentions " + secret + " and " + dsn_pw).ok());
    dir_s = run->dir().string();
  }
  auto files = snapshot(dir_s);
  EXPECT_EQ(files.size(), 5u);  // events.jsonl, manifest.json, report.md, out/****.txt, j.json
  const std::string escaped = json(added).dump();  // "tok\"en\\value" as JSON text
  for (const auto& [name, content] : files) {
    for (const std::string& s : {secret, added, escaped.substr(1, escaped.size() - 2), dsn_pw, inner,
                                 std::string("-S3cret")}) {
      EXPECT_EQ(name.find(s), std::string::npos) << "secret in file name " << name;
      EXPECT_EQ(content.find(s), std::string::npos) << "secret '" << s << "' in " << name << ":\n" << content;
    }
  }
  EXPECT_TRUE(files.count("out/****.txt"));
  EXPECT_NE(files["report.md"].find("report mentions **** and ****"), std::string::npos);
  EXPECT_TRUE(verdict(dir_s).ok) << verdict(dir_s).problem;
}

TEST(Evidence, InvalidUtf8IsStoredReplaced) {
  belay::test::TempProject proj("evidence");
  auto run = EvidenceRun::open(proj.dir(), "migrate", {"belay", std::string("bad\xff") + "arg"});
  ASSERT_TRUE(run.ok()) << run.error().render();
  ASSERT_TRUE(run->event("note", {{std::string("k\xc3"), std::string("v\xfe\xff")}}).ok());
  ASSERT_TRUE(run->finish("ok", "").ok());
  EXPECT_TRUE(verdict(run->dir()).ok);
}

// ---------------------------------------------------------------- lifecycle

TEST(Evidence, TwoRunsInOneSecondGetDifferentDirs) {
  belay::test::TempProject proj("evidence");
  std::set<std::string> dirs;
  std::map<std::string, int> per_second;
  constexpr int kRuns = 20;
  for (int i = 0; i < kRuns; ++i) {
    auto run = EvidenceRun::open(proj.dir(), "migrate", {"belay", "migrate"});
    ASSERT_TRUE(run.ok()) << run.error().render();
    dirs.insert(run->dir().string());
    per_second[run->dir().parent_path().filename().string() + run->id().substr(0, 6)]++;
  }
  EXPECT_EQ(dirs.size(), static_cast<size_t>(kRuns));
  // 20 opens take well under 19 seconds, so some second held at least two of them.
  int most = 0;
  for (const auto& [s, n] : per_second) most = std::max(most, n);
  EXPECT_GE(most, 2);
}

TEST(Evidence, NothingAfterFinish) {
  belay::test::TempProject proj("evidence");
  auto run = EvidenceRun::open(proj.dir(), "check", {});
  ASSERT_TRUE(run.ok());
  ASSERT_TRUE(run->finish("ok", "done").ok());
  auto before = snapshot(run->dir());
  EXPECT_FALSE(run->event("late", {{"x", 1}}).ok());
  EXPECT_FALSE(run->write_file("late.txt", "x").ok());
  EXPECT_FALSE(run->write_json("late.json", {{"x", 1}}).ok());
  EXPECT_FALSE(run->finish("ok", "again").ok());
  EXPECT_EQ(snapshot(run->dir()), before);
  EXPECT_TRUE(verdict(run->dir()).ok);
}

TEST(Evidence, ReservedKindsAndTrailingSlash) {
  belay::test::TempProject proj("evidence");
  auto run = EvidenceRun::open(proj.dir(), "check", {});
  ASSERT_TRUE(run.ok());
  for (const char* kind : {"", "run.start", "run.end", "file"}) EXPECT_FALSE(run->event(kind, {}).ok()) << kind;
  ASSERT_TRUE(run->event("note", nullptr).ok());
  ASSERT_TRUE(run->finish("ok", "done").ok());
  EXPECT_TRUE(verdict(run->dir() / "").ok);  // "…/<run id>/" as a shell completes it
  auto cwd = stdfs::current_path();
  stdfs::current_path(run->dir());
  EXPECT_TRUE(verdict(".").ok);
  stdfs::current_path(cwd);
}

TEST(Evidence, UnfinishedRunReportsDidNotFinish) {
  belay::test::TempProject proj("evidence");
  stdfs::path dir;
  std::map<std::string, std::string> before;
  {
    auto run = EvidenceRun::open(proj.dir(), "migrate", {"belay", "migrate"});
    ASSERT_TRUE(run.ok());
    ASSERT_TRUE(run->event("migration.begin", {{"version", "001"}}).ok());
    ASSERT_TRUE(run->write_file("partial.txt", "half").ok());
    dir = run->dir();
    before = snapshot(dir);
  }  // destroyed without finish(): writes nothing more
  EXPECT_EQ(snapshot(dir), before);
  EXPECT_FALSE(stdfs::exists(dir / "manifest.json"));

  auto v = verdict(dir);
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.problem, "no manifest.json: the run did not finish; events.jsonl: 3 events, chain intact");
  EXPECT_EQ(v.events, 3);

  // What is there is still checked: a written file ...
  spit(dir / "partial.txt", "HALF");
  expect_detected(dir, "no manifest.json: the run did not finish; partial.txt: altered");
  spit(dir / "partial.txt", "half");
  // ... and the chain.
  auto lines = lines_of(slurp(dir / "events.jsonl"));
  auto edited = lines;
  edited[1][edited[1].find("\"001\"") + 3] = '9';
  spit(dir / "events.jsonl", join_lines(edited));
  expect_detected(dir, "no manifest.json: the run did not finish; events.jsonl line 2 (seq 2): hash mismatch");
  // A process killed in the middle of writing a line.
  spit(dir / "events.jsonl", join_lines(lines) + lines[2].substr(0, 40));
  expect_detected(dir, "no manifest.json: the run did not finish; events.jsonl line 4: invalid JSON");
}

TEST(Evidence, PathEscapeRejected) {
  belay::test::TempProject proj("evidence");
  auto run = EvidenceRun::open(proj.dir(), "migrate", {});
  ASSERT_TRUE(run.ok());
  for (const char* name : {"", "/tmp/evil.txt", "..", "../evil.txt", "a/../../evil.txt", "a/..", "./x", "a//b", "a/",
                           "events.jsonl", "manifest.json"}) {
    auto st = run->write_file(name, "x");
    EXPECT_FALSE(st.ok()) << "accepted '" << name << "'";
  }
  EXPECT_FALSE(stdfs::exists(run->dir().parent_path() / "evil.txt"));
  EXPECT_FALSE(stdfs::exists("/tmp/evil.txt") && slurp("/tmp/evil.txt") == "x");
  ASSERT_TRUE(run->write_file("deep/er/ok.txt", "fine").ok());
  ASSERT_TRUE(run->finish("ok", "").ok());
  auto v = verdict(run->dir());
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.events, 4);  // run.start, file ok.txt, file report.md, run.end
}

TEST(Evidence, RewrittenFileAndMovedRun) {
  belay::test::TempProject proj("evidence");
  auto opened = EvidenceRun::open(proj.dir(), "migrate", {});
  ASSERT_TRUE(opened.ok());
  EvidenceRun run = std::move(opened).value();
  ASSERT_TRUE(run.write_file("status.txt", "pending").ok());
  ASSERT_TRUE(run.write_file("status.txt", "applied").ok());
  EvidenceRun moved = std::move(run);
  ASSERT_TRUE(moved.finish("ok", "").ok());
  auto m = json::parse(slurp(moved.dir() / "manifest.json"));
  EXPECT_EQ(m["files"]["status.txt"], belay::sha256_hex("applied"));
  EXPECT_TRUE(verdict(moved.dir()).ok);
}

TEST(Evidence, LatestRun) {
  belay::test::TempProject proj("evidence");
  EXPECT_FALSE(belay::evidence::latest_run(proj.dir()).has_value());
  auto art = proj.dir() / "artifacts";
  for (const char* d : {"2024-01-02/235959-migrate-aaaaaa", "2024-01-10/000000-zeta-ffffff",
                        "2024-01-10/000001-alpha-000000", "2024-01-10/notes", "notes/999999-x-000000"})
    stdfs::create_directories(art / d);
  stdfs::create_directories(art / "2024-02-01");  // a date with no runs yet
  spit(art / "2024-01-10" / "999999-file-000000", "not a directory");
  auto latest = belay::evidence::latest_run(proj.dir());
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(*latest, art / "2024-01-10" / "000001-alpha-000000");

  auto run = EvidenceRun::open(proj.dir(), "status", {});
  ASSERT_TRUE(run.ok());
  latest = belay::evidence::latest_run(proj.dir());
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(*latest, run->dir());
}

TEST(Evidence, VerifyMissingDirIsAnError) {
  belay::test::TempProject proj("evidence");
  EXPECT_FALSE(belay::evidence::verify(proj.dir() / "nope").ok());
}
