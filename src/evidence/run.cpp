// The evidence writer: the only code that writes evidence.
//
// Layout of one run:
//
//   <project_root>/artifacts/<UTC YYYY-MM-DD>/<run id>/
//     events.jsonl     hash-chained event log, one JSON object per line
//     <files>          written with Run::write_file / write_json (may be in subfolders)
//     report.md        the hand-off summary, written by finish()
//     manifest.json    written last by finish(); absent when the run did not finish
//
//   run id = <UTC HHMMSS>-<command>-<6 random hex>, created with mkdir (fails if it
//   exists; a clash is retried with new random hex), so two runs in one second differ.
//
// THE CHAIN RULE (verify.cpp re-implements it; keep both in step):
//
//   Each line of events.jsonl is the nlohmann::json dump() (no indent, keys sorted,
//   UTF-8 unescaped) of {"data","hash","kind","prev","seq","ts"} followed by '\n', where
//     seq   1, 2, 3, ... (consecutive, 1-based)
//     ts    UTC, ISO-8601 with milliseconds: "2024-05-01T12:34:56.789Z"
//     prev  the previous event's hash; for seq 1, 64 '0' characters
//     hash  sha256_hex(prev + "\n" + body.dump()), lower-case hex, where body is the
//           JSON object {"data","kind","prev","seq","ts"} (the event without "hash").
//   nlohmann::json objects are std::map-backed, so dump() sorts keys: that is the
//   canonical form. manifest.json's "chain_head" is the last event's hash.
//
// Secrets: every caller-supplied string (event kind, event data keys and values at any
// depth, file names and contents, command, argv) is passed through pg::scrub for each
// registered secret, longest first, before it reaches disk. Values belay generates itself
// (seq, ts, hashes, run id's time and hex) are not scrubbed: scrubbing a hex hash would
// break the chain.
#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <map>
#include <mutex>
#include <random>

#include <fmt/format.h>

#include "evidence/evidence.h"
#include "pg/pg.h"
#include "util/fs.h"
#include "util/sha256.h"

namespace belay::evidence {

namespace stdfs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kBelayVersion = "0.1.0";
const std::string kGenesisPrev(64, '0');

// UTC timestamps, read once per use so date dir, run id and ts agree.
struct Clock {
  std::tm tm{};
  int millis = 0;
  static Clock now() {
    auto t = std::chrono::system_clock::now();
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
    std::time_t secs = static_cast<std::time_t>(ms / 1000);
    Clock c;
    ::gmtime_r(&secs, &c.tm);
    c.millis = static_cast<int>(ms % 1000);
    return c;
  }
  std::string date() const { return fmt::format("{:04}-{:02}-{:02}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday); }
  std::string hhmmss() const { return fmt::format("{:02}{:02}{:02}", tm.tm_hour, tm.tm_min, tm.tm_sec); }
  std::string iso() const {
    return fmt::format("{}T{:02}:{:02}:{:02}.{:03}Z", date(), tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  }
};

std::string random_hex6() {
  std::random_device rd;
  return fmt::format("{:06x}", rd() & 0xffffffu);
}

// The command as it appears in a directory name: [A-Za-z0-9._-] only, never empty.
std::string dir_safe(const std::string& command) {
  std::string out;
  for (char c : command.substr(0, 40)) {
    bool safe = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
    out += safe ? c : '-';
  }
  if (out.empty() || out.find_first_not_of(".-") == std::string::npos) out = "run";
  return out;
}

// dump() throws on invalid UTF-8; evidence must never fail (or throw) because a message
// quoted a binary byte, so such strings get U+FFFD replacements instead.
std::string valid_utf8(std::string s) {
  try {
    (void)json(s).dump();
    return s;
  } catch (const json::type_error&) {
    return json::parse(json(s).dump(-1, ' ', false, json::error_handler_t::replace)).get<std::string>();
  }
}

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "";
  return buf;
}

std::string user_name() {
  struct passwd pw {};
  struct passwd* found = nullptr;
  char buf[4096];
  if (::getpwuid_r(::geteuid(), &pw, buf, sizeof buf, &found) == 0 && found) return found->pw_name;
  if (const char* u = ::getenv("USER")) return u;
  return std::to_string(::geteuid());
}

// Appends all of `data` to fd (O_APPEND), retrying short writes.
Status append_all(int fd, const std::string& data, const stdfs::path& p) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::failure(fmt::format("cannot append to {}: {}", p.string(), std::strerror(errno)));
    }
    off += static_cast<size_t>(n);
  }
  return ok_status();
}

// A file name relative to the run directory: no absolute paths, no "..", ".", or empty
// components, and not one of the names the writer itself owns.
Status check_name(const std::string& name) {
  auto bad = [&](const char* why) {
    return Error::usage(fmt::format("evidence file name '{}' rejected: {}", name, why));
  };
  if (name.empty()) return bad("empty");
  if (name.front() == '/') return bad("absolute path");
  if (name.find('\0') != std::string::npos) return bad("contains NUL");
  size_t start = 0;
  while (true) {
    size_t slash = name.find('/', start);
    std::string part = name.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (part.empty()) return bad("empty path component");
    if (part == "..") return bad("escapes the run directory");
    if (part == ".") return bad("'.' path component");
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  if (name == "events.jsonl" || name == "manifest.json") return bad("reserved for the evidence writer");
  return ok_status();
}

}  // namespace

struct Run::Impl {
  stdfs::path dir;
  std::string id, command, created;
  std::vector<std::string> secrets;      // non-empty, longest first
  std::map<std::string, std::string> files;  // name -> sha256 as written
  std::string log;                       // events.jsonl as written, for its manifest hash
  std::string prev = kGenesisPrev;
  int seq = 0;
  int fd = -1;
  bool finished = false;
  bool broken = false;                   // a write to events.jsonl failed midway
  std::mutex mu;                         // events may come from callbacks on other threads

  ~Impl() {
    if (fd >= 0) ::close(fd);
  }

  std::string scrub(std::string s) const {
    for (const auto& sec : secrets) s = pg::scrub(std::move(s), sec);
    return s;
  }

  // Scrubs every string in j (object keys too) and makes it valid UTF-8.
  json clean(const json& j) const {
    if (j.is_string()) return valid_utf8(scrub(j.get<std::string>()));
    if (j.is_array()) {
      json out = json::array();
      for (const auto& v : j) out.push_back(clean(v));
      return out;
    }
    if (j.is_object()) {
      json out = json::object();
      for (auto it = j.begin(); it != j.end(); ++it) out[valid_utf8(scrub(it.key()))] = clean(it.value());
      return out;
    }
    return j;
  }

  void add_secret(const std::string& s) {
    if (s.empty() || std::find(secrets.begin(), secrets.end(), s) != secrets.end()) return;
    secrets.push_back(s);
    // Longest first, so a secret containing a shorter one is replaced whole.
    std::stable_sort(secrets.begin(), secrets.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
  }

  Status writable() const {
    if (finished) return Error::failure(fmt::format("evidence run {} is finished; nothing may be written after finish", id));
    if (broken) return Error::failure(fmt::format("evidence run {}: events.jsonl is damaged by an earlier write failure", id));
    return ok_status();
  }

  // Caller holds mu and has checked writable().
  // `ts` defaults to now; run.start passes the run's creation time so the manifest's
  // "created" equals the first event's ts.
  Status append_event(const std::string& kind, const json& data, const std::string& ts = "") {
    json body = json::object();
    body["seq"] = seq + 1;
    body["ts"] = ts.empty() ? Clock::now().iso() : ts;
    body["kind"] = valid_utf8(scrub(kind));
    body["data"] = clean(data);
    body["prev"] = prev;
    std::string hash = sha256_hex(prev + "\n" + body.dump());
    json line = body;
    line["hash"] = hash;
    std::string text = line.dump() + "\n";
    if (auto st = append_all(fd, text, dir / "events.jsonl"); !st.ok()) {
      broken = true;  // part of a line may be on disk; the chain cannot continue
      return st;
    }
    ++seq;
    prev = hash;
    log += text;
    return ok_status();
  }

  Status write_file(const std::string& raw_name, const std::string& content) {
    // The name is stored in events and the manifest, so it gets the same cleaning as data.
    std::string name = valid_utf8(scrub(raw_name));
    BELAY_TRY(check_name(name));
    std::string data = scrub(content);
    auto path = dir / name;
    std::error_code ec;
    stdfs::create_directories(path.parent_path(), ec);
    if (ec) return Error::failure(fmt::format("cannot create {}: {}", path.parent_path().string(), ec.message()));
    BELAY_TRY(fs::write_file_atomic(path, data));
    std::string sha = sha256_hex(data);
    files[name] = sha;
    return append_event("file", json{{"name", name}, {"sha256", sha}, {"bytes", data.size()}});
  }
};

Run::Run() : impl_(std::make_unique<Impl>()) {}
Run::Run(Run&&) noexcept = default;
Run& Run::operator=(Run&&) noexcept = default;
// An unfinished run is left as it is: no manifest, so verify() says it did not finish.
Run::~Run() = default;

const stdfs::path& Run::dir() const {
  static const stdfs::path none;
  return impl_ ? impl_->dir : none;
}

const std::string& Run::id() const {
  static const std::string none;
  return impl_ ? impl_->id : none;
}

void Run::add_secret(const std::string& secret) {
  if (!impl_) return;
  std::lock_guard lock(impl_->mu);
  impl_->add_secret(secret);
}

Result<Run> Run::open(const stdfs::path& project_root, const std::string& command,
                      const std::vector<std::string>& argv, const std::vector<std::string>& secrets) {
  Run run;
  Impl& r = *run.impl_;
  for (const auto& s : secrets) r.add_secret(s);
  // A DSN with a password on the command line makes that password a secret everywhere.
  for (const auto& a : argv) r.add_secret(pg::password_of(a));
  r.command = valid_utf8(r.scrub(command));

  Clock clock = Clock::now();
  r.created = clock.iso();
  stdfs::path date_dir = project_root / "artifacts" / clock.date();
  std::error_code ec;
  stdfs::create_directories(date_dir, ec);
  if (ec) return Error::failure(fmt::format("cannot create {}: {}", date_dir.string(), ec.message()));

  // mkdir fails when the directory exists, so a run never reuses another's directory.
  for (int attempt = 0;; ++attempt) {
    r.id = fmt::format("{}-{}-{}", clock.hhmmss(), dir_safe(r.command), random_hex6());
    r.dir = date_dir / r.id;
    if (::mkdir(r.dir.c_str(), 0755) == 0) break;
    if (errno != EEXIST || attempt >= 20)
      return Error::failure(fmt::format("cannot create run directory {}: {}", r.dir.string(), std::strerror(errno)));
  }

  auto events = r.dir / "events.jsonl";
  // Unbuffered O_APPEND writes: each event is in the kernel once event() returns, so a
  // killed process keeps every event up to its last.
  r.fd = ::open(events.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
  if (r.fd < 0) return Error::failure(fmt::format("cannot create {}: {}", events.string(), std::strerror(errno)));

  json args = json::array();
  for (const auto& a : argv) args.push_back(pg::redact(a));
  std::error_code cwd_ec;
  auto cwd = stdfs::current_path(cwd_ec);
  json start = {{"command", r.command},
                {"argv", std::move(args)},
                {"belay_version", kBelayVersion},
                {"host", host_name()},
                {"user", user_name()},
                {"pid", static_cast<long long>(::getpid())},
                {"cwd", cwd_ec ? std::string() : cwd.string()}};
  BELAY_TRY(r.append_event("run.start", start, r.created));
  return run;
}

Status Run::event(const std::string& kind, const json& data) {
  if (!impl_) return Error::failure("evidence run was moved from");
  std::lock_guard lock(impl_->mu);
  BELAY_TRY(impl_->writable());
  if (kind.empty()) return Error::usage("evidence event kind is empty");
  // These kinds mean something to verify(); only the writer itself emits them.
  if (kind == "run.start" || kind == "run.end" || kind == "file")
    return Error::usage(fmt::format("evidence event kind '{}' is reserved for the evidence writer", kind));
  return impl_->append_event(kind, data);
}

Status Run::write_file(const std::string& name, const std::string& content) {
  if (!impl_) return Error::failure("evidence run was moved from");
  std::lock_guard lock(impl_->mu);
  BELAY_TRY(impl_->writable());
  return impl_->write_file(name, content);
}

Status Run::write_json(const std::string& name, const json& j) {
  if (!impl_) return Error::failure("evidence run was moved from");
  std::string text;
  {
    std::lock_guard lock(impl_->mu);
    // Scrub the tree first: a secret with a quote or backslash in it no longer appears
    // verbatim once dumped, so scrubbing only the text could miss it.
    text = impl_->clean(j).dump(2) + "\n";
  }
  return write_file(name, text);
}

Status Run::finish(const std::string& outcome, const std::string& report_markdown) {
  if (!impl_) return Error::failure("evidence run was moved from");
  std::lock_guard lock(impl_->mu);
  Impl& r = *impl_;
  BELAY_TRY(r.writable());
  // One attempt: whatever happens below, nothing more is written through this Run. A
  // failure leaves no manifest, which verify() reports as a run that did not finish.
  r.finished = true;
  BELAY_TRY(r.write_file("report.md", report_markdown));
  BELAY_TRY(r.append_event("run.end", json{{"outcome", outcome}}));
  ::close(r.fd);
  r.fd = -1;

  json files = json::object();
  for (const auto& [name, sha] : r.files) files[name] = sha;
  files["events.jsonl"] = sha256_hex(r.log);
  json manifest = {{"run_id", r.id},           {"command", r.command}, {"created", r.created},
                   {"files", std::move(files)}, {"events", r.seq},      {"chain_head", r.prev}};
  // Everything in it is either generated (hashes, times) or was scrubbed on the way in.
  return fs::write_file_atomic(r.dir / "manifest.json", manifest.dump(2) + "\n");
}

}  // namespace belay::evidence
