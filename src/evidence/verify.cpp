// Offline readers of a run directory: verify(), read_events(), latest_run().
//
// THE CHAIN RULE (as written by run.cpp; an independent checker needs only this):
//
//   events.jsonl holds one event per line, each line exactly the nlohmann::json dump()
//   (no indent, keys sorted) of {"data","hash","kind","prev","seq","ts"} plus '\n'.
//     seq   1, 2, 3, ... consecutive; line N holds seq N
//     prev  previous event's hash; for seq 1, 64 '0' characters
//     hash  sha256_hex(prev + "\n" + body.dump()), body = {"data","kind","prev","seq","ts"}
//   The first event is "run.start"; a finished run's last event is "run.end" and
//   manifest.json (dump(2) + "\n") holds {"run_id","command","created","files",
//   "events","chain_head"}: chain_head = last hash, events = number of lines, files =
//   name -> sha256 of every file in the run directory except manifest.json.
//
// verify() reports the FIRST problem, checking in this order: the log line by line
// (JSON, exact canonical text — so even a one-byte edit that parses to the same value is
// caught —, hash, seq, prev), then the manifest against the log, then the files on disk
// against the manifest (missing, altered, extra).
#include <algorithm>
#include <cctype>
#include <climits>
#include <map>
#include <set>

#include <fmt/format.h>

#include "evidence/evidence.h"
#include "util/fs.h"
#include "util/sha256.h"

namespace belay::evidence {

namespace stdfs = std::filesystem;
using nlohmann::json;

namespace {

const std::string kGenesisPrev(64, '0');

// The lines of events.jsonl without their '\n'; `unterminated` when the last one has none.
struct Lines {
  std::vector<std::string> lines;
  bool unterminated = false;
};

Lines split_lines(const std::string& text) {
  Lines out;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) {
      out.lines.push_back(text.substr(start));
      out.unterminated = true;
      break;
    }
    out.lines.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

// Parses one line into `ev` (and the raw JSON into `j`); returns "" or what is wrong.
std::string parse_line(const std::string& text, Event& ev, json& j) {
  if (text.empty()) return "empty line";
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    return fmt::format("invalid JSON at byte {}", e.byte);
  }
  if (!j.is_object()) return "invalid event: not a JSON object";
  for (const char* key : {"seq", "ts", "kind", "data", "prev", "hash"})
    if (!j.contains(key)) return fmt::format("invalid event: no \"{}\"", key);
  if (j.size() != 6) return "invalid event: unexpected fields";
  const json& seq = j["seq"];
  if (!seq.is_number_integer() || seq.get<long long>() < 1 || seq.get<long long>() > INT_MAX)
    return "invalid event: seq is not a positive integer";
  for (const char* key : {"ts", "kind", "prev", "hash"})
    if (!j[key].is_string()) return fmt::format("invalid event: \"{}\" is not a string", key);
  ev.seq = static_cast<int>(seq.get<long long>());
  ev.ts = j["ts"].get<std::string>();
  ev.kind = j["kind"].get<std::string>();
  ev.data = j["data"];
  ev.prev = j["prev"].get<std::string>();
  ev.hash = j["hash"].get<std::string>();
  return "";
}

// The chain rule, from the event's own fields.
std::string chain_hash(const Event& ev) {
  json body = json::object();
  body["seq"] = ev.seq;
  body["ts"] = ev.ts;
  body["kind"] = ev.kind;
  body["data"] = ev.data;
  body["prev"] = ev.prev;
  return sha256_hex(ev.prev + "\n" + body.dump());
}

// The events that check out, and the first problem in the log ("" if none).
struct Chain {
  std::vector<Event> events;
  std::string problem;
};

Result<Chain> check_chain(const stdfs::path& dir) {
  Chain c;
  auto path = dir / "events.jsonl";
  std::error_code ec;
  if (!stdfs::exists(path, ec)) {
    c.problem = "events.jsonl: missing";
    return c;
  }
  BELAY_ASSIGN(std::string text, fs::read_file(path));
  Lines lines = split_lines(text);
  if (lines.lines.empty()) {
    c.problem = "events.jsonl: empty (no run.start event)";
    return c;
  }
  for (size_t i = 0; i < lines.lines.size(); ++i) {
    int n = static_cast<int>(i) + 1;
    const std::string& line = lines.lines[i];
    Event ev;
    json j;
    if (auto why = parse_line(line, ev, j); !why.empty()) {
      c.problem = fmt::format("events.jsonl line {}: {}", n, why);
      return c;
    }
    std::string at = fmt::format("events.jsonl line {} (seq {})", n, ev.seq);
    if (line != j.dump()) {
      c.problem = at + ": not in canonical form (event edited)";
      return c;
    }
    if (chain_hash(ev) != ev.hash) {
      c.problem = at + ": hash mismatch (event altered)";
      return c;
    }
    if (ev.seq != n) {
      c.problem = fmt::format("{}: expected seq {} (event deleted, inserted or reordered)", at, n);
      return c;
    }
    const std::string& want_prev = i == 0 ? kGenesisPrev : c.events.back().hash;
    if (ev.prev != want_prev) {
      c.problem = at + (i == 0 ? ": prev is not the genesis value (64 zeros)"
                               : ": prev does not match the previous event's hash (event deleted or reordered)");
      return c;
    }
    if (i == 0 && ev.kind != "run.start") {
      c.problem = fmt::format("{}: first event is '{}', not run.start", at, ev.kind);
      return c;
    }
    c.events.push_back(std::move(ev));
  }
  if (lines.unterminated)
    c.problem = fmt::format("events.jsonl line {}: no newline at the end (truncated or edited)", lines.lines.size());
  return c;
}

// A manifest file name must stay inside the run directory.
bool safe_name(const std::string& name) {
  if (name.empty() || name.front() == '/' || name.find('\0') != std::string::npos) return false;
  for (const auto& part : stdfs::path(name))
    if (part == ".." || part == "." || part.empty()) return false;
  return name.back() != '/' && name.find("//") == std::string::npos;
}

// "" when `name` is a regular file in `dir` with SHA-256 `want`; else the problem.
Result<std::string> check_file(const stdfs::path& dir, const std::string& name, const std::string& want,
                               const std::string& missing_why, const std::string& altered_why) {
  auto p = dir / name;
  std::error_code ec;
  auto st = stdfs::symlink_status(p, ec);
  if (!stdfs::exists(st)) return fmt::format("{}: missing ({})", name, missing_why);
  if (!stdfs::is_regular_file(st)) return fmt::format("{}: not a regular file", name);
  BELAY_ASSIGN(std::string content, fs::read_file(p));
  if (sha256_hex(content) != want) return fmt::format("{}: altered ({})", name, altered_why);
  return std::string();
}

// The latest "file" event per name: name -> (sha256, seq).
std::map<std::string, std::pair<std::string, int>> recorded_files(const std::vector<Event>& events) {
  std::map<std::string, std::pair<std::string, int>> out;
  for (const auto& ev : events) {
    if (ev.kind != "file" || !ev.data.is_object()) continue;
    auto name = ev.data.find("name");
    auto sha = ev.data.find("sha256");
    if (name == ev.data.end() || sha == ev.data.end() || !name->is_string() || !sha->is_string()) continue;
    out[name->get<std::string>()] = {sha->get<std::string>(), ev.seq};
  }
  return out;
}

// The manifest's fields, or a problem.
struct Manifest {
  std::string run_id, command, created, chain_head;
  std::map<std::string, std::string> files;
  long long events = 0;
};

std::string parse_manifest(const std::string& text, Manifest& m) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    return fmt::format("manifest.json: invalid JSON at byte {}", e.byte);
  }
  if (!j.is_object()) return "manifest.json: not a JSON object";
  if (text != j.dump(2) + "\n") return "manifest.json: not in canonical form (edited)";
  for (const char* key : {"run_id", "command", "created", "chain_head"}) {
    if (!j.contains(key) || !j[key].is_string()) return fmt::format("manifest.json: no \"{}\" string", key);
  }
  if (!j.contains("events") || !j["events"].is_number_integer()) return "manifest.json: no \"events\" count";
  if (!j.contains("files") || !j["files"].is_object()) return "manifest.json: no \"files\" object";
  for (auto it = j["files"].begin(); it != j["files"].end(); ++it) {
    if (!it->is_string()) return fmt::format("manifest.json: sha256 of {} is not a string", it.key());
    if (!safe_name(it.key())) return fmt::format("manifest.json: file name '{}' leaves the run directory", it.key());
    m.files[it.key()] = it->get<std::string>();
  }
  m.run_id = j["run_id"].get<std::string>();
  m.command = j["command"].get<std::string>();
  m.created = j["created"].get<std::string>();
  m.chain_head = j["chain_head"].get<std::string>();
  m.events = j["events"].get<long long>();
  return "";
}

// Why an unfinished run's log or files are not intact, or a summary when they are.
Result<std::string> unfinished_state(const stdfs::path& dir, const Chain& chain) {
  if (!chain.problem.empty()) return chain.problem;
  for (const auto& [name, rec] : recorded_files(chain.events)) {
    BELAY_ASSIGN(std::string p, check_file(dir, name, rec.first, fmt::format("written at seq {}", rec.second),
                                           fmt::format("sha256 differs from its file event, seq {}", rec.second)));
    if (!p.empty()) return p;
  }
  return fmt::format("events.jsonl: {} events, chain intact", chain.events.size());
}

}  // namespace

Result<Verdict> verify(const stdfs::path& run_dir) {
  std::error_code ec;
  if (!stdfs::is_directory(run_dir, ec)) return Error::usage(fmt::format("not a run directory: {}", run_dir.string()));
  // The directory's own name, also for "." or a trailing slash.
  auto abs = stdfs::absolute(run_dir, ec).lexically_normal();
  if (!abs.has_filename()) abs = abs.parent_path();
  const std::string dir_name = abs.filename().string();
  Verdict v;
  BELAY_ASSIGN(Chain chain, check_chain(run_dir));
  v.events = static_cast<int>(chain.events.size());
  auto problem = [&](std::string p) {
    v.ok = false;
    v.problem = std::move(p);
    return v;
  };

  auto manifest_path = run_dir / "manifest.json";
  if (!stdfs::exists(stdfs::symlink_status(manifest_path, ec))) {
    v.files = static_cast<int>(recorded_files(chain.events).size()) + 1;
    BELAY_ASSIGN(std::string state, unfinished_state(run_dir, chain));
    return problem("no manifest.json: the run did not finish; " + state);
  }
  if (!chain.problem.empty()) return problem(chain.problem);

  BELAY_ASSIGN(std::string manifest_text, fs::read_file(manifest_path));
  Manifest m;
  if (auto p = parse_manifest(manifest_text, m); !p.empty()) return problem(p);
  v.files = static_cast<int>(m.files.size());

  // The manifest against the log.
  const Event& first = chain.events.front();
  const Event& last = chain.events.back();
  if (m.events != static_cast<long long>(chain.events.size()))
    return problem(fmt::format("manifest.json: lists {} events but events.jsonl has {} (events added or removed)",
                               m.events, chain.events.size()));
  if (m.chain_head != last.hash)
    return problem(fmt::format("manifest.json: chain_head does not match the hash of the last event (events.jsonl "
                               "line {}, seq {})", chain.events.size(), last.seq));
  if (last.kind != "run.end")
    return problem(fmt::format("events.jsonl line {} (seq {}): last event is '{}', not run.end", chain.events.size(),
                               last.seq, last.kind));
  if (m.run_id != dir_name)
    return problem(fmt::format("manifest.json: run_id '{}' is not the directory's name '{}'", m.run_id, dir_name));
  auto start_command = first.data.is_object() ? first.data.find("command") : first.data.end();
  if (start_command == first.data.end() || !start_command->is_string() || *start_command != m.command)
    return problem("manifest.json: command differs from the run.start event's");
  if (m.created != first.ts) return problem("manifest.json: created differs from the run.start event's ts");

  // Every file the log records is in the manifest with the same hash, and vice versa.
  auto recorded = recorded_files(chain.events);
  for (const auto& [name, rec] : recorded) {
    auto it = m.files.find(name);
    if (it == m.files.end())
      return problem(fmt::format("manifest.json: does not list {} (written at seq {})", name, rec.second));
    if (it->second != rec.first)
      return problem(fmt::format("manifest.json: sha256 of {} differs from its file event (seq {})", name, rec.second));
  }
  if (!m.files.count("events.jsonl")) return problem("manifest.json: does not list events.jsonl");
  for (const auto& [name, sha] : m.files)
    if (name != "events.jsonl" && !recorded.count(name))
      return problem(fmt::format("manifest.json: lists {}, which no file event records", name));

  // The files on disk against the manifest.
  for (const auto& [name, sha] : m.files) {
    BELAY_ASSIGN(std::string p, check_file(run_dir, name, sha, "listed in manifest.json", "sha256 mismatch"));
    if (!p.empty()) return problem(p);
  }
  std::vector<std::string> extra;
  for (auto it = stdfs::recursive_directory_iterator(run_dir, ec); !ec && it != stdfs::recursive_directory_iterator();
       it.increment(ec)) {
    std::error_code sec;
    if (stdfs::is_directory(it->symlink_status(sec))) continue;
    std::string rel = it->path().lexically_relative(run_dir).generic_string();
    if (rel != "manifest.json" && !m.files.count(rel)) extra.push_back(rel);
  }
  if (ec) return Error::failure(fmt::format("cannot list {}: {}", run_dir.string(), ec.message()));
  if (!extra.empty()) {
    std::sort(extra.begin(), extra.end());
    return problem(fmt::format("{}: not in manifest.json (added after the run finished)", extra.front()));
  }

  v.ok = true;
  return v;
}

Result<std::vector<Event>> read_events(const stdfs::path& run_dir) {
  auto path = run_dir / "events.jsonl";
  BELAY_ASSIGN(std::string text, fs::read_file(path));
  Lines lines = split_lines(text);
  std::vector<Event> out;
  for (size_t i = 0; i < lines.lines.size(); ++i) {
    int n = static_cast<int>(i) + 1;
    Event ev;
    json j;
    if (auto why = parse_line(lines.lines[i], ev, j); !why.empty())
      return Error::failure(fmt::format("events.jsonl line {}: {}", n, why)).with_file(path.string(), n);
    out.push_back(std::move(ev));
  }
  return out;
}

namespace {

bool all_digits(const std::string& s, size_t from, size_t len) {
  if (s.size() < from + len) return false;
  return std::all_of(s.begin() + static_cast<long>(from), s.begin() + static_cast<long>(from + len),
                     [](unsigned char c) { return std::isdigit(c); });
}

// "YYYY-MM-DD"
bool is_date_dir(const std::string& s) {
  return s.size() == 10 && all_digits(s, 0, 4) && s[4] == '-' && all_digits(s, 5, 2) && s[7] == '-' &&
         all_digits(s, 8, 2);
}

// "HHMMSS-<command>-<hex>"
bool is_run_id(const std::string& s) { return s.size() > 7 && all_digits(s, 0, 6) && s[6] == '-'; }

// Names of the subdirectories of `dir` accepted by `keep`, newest (greatest) first.
template <typename Pred>
std::vector<std::string> subdirs_desc(const stdfs::path& dir, Pred keep) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = stdfs::directory_iterator(dir, ec); !ec && it != stdfs::directory_iterator(); it.increment(ec)) {
    std::string name = it->path().filename().string();
    std::error_code dec;
    if (keep(name) && it->is_directory(dec)) out.push_back(name);
  }
  std::sort(out.rbegin(), out.rend());
  return out;
}

}  // namespace

std::optional<stdfs::path> latest_run(const stdfs::path& project_root) {
  auto artifacts = project_root / "artifacts";
  // Run ids start with the UTC time, so within a date dir the greatest name is the newest
  // (runs in the same second are ordered by command and random suffix).
  for (const auto& date : subdirs_desc(artifacts, is_date_dir)) {
    auto runs = subdirs_desc(artifacts / date, is_run_id);
    if (!runs.empty()) return artifacts / date / runs.front();
  }
  return std::nullopt;
}

}  // namespace belay::evidence
