// The one writer of evidence: a run directory per command that changes or checks a
// database, with a hash-chained event log, the files a reviewer needs, a manifest and
// a hand-off report. Readers verify it offline.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "util/error.h"

namespace belay::evidence {

// A run directory: <root>/artifacts/<UTC date>/<run id>/
class Run {
 public:
  // Creates the directory and writes the first event ("run.start": command, argv, belay
  // version, host, user, pid, cwd). `argv` must already be redacted by the caller; every string
  // written is scrubbed of the registered secrets anyway.
  static Result<Run> open(const std::filesystem::path& project_root, const std::string& command,
                          const std::vector<std::string>& argv, const std::vector<std::string>& secrets = {});

  Run(Run&&) noexcept;
  Run& operator=(Run&&) noexcept;
  ~Run();

  const std::filesystem::path& dir() const;
  const std::string& id() const;

  // Never written, in any file: replaced by "****".
  void add_secret(const std::string& secret);

  // Appends {"seq", "ts", "kind", "data", "prev", "hash"} to events.jsonl, where
  // hash = SHA-256 of the previous hash and this event's canonical JSON. Flushed per event
  // so a killed run keeps everything up to its last event. The kinds "run.start",
  // "run.end" and "file" are reserved to the writer.
  Status event(const std::string& kind, const nlohmann::json& data);

  // Writes a file inside the run directory (name may contain '/'), recorded by an event
  // "file" with its SHA-256.
  Status write_file(const std::string& name, const std::string& content);
  Status write_json(const std::string& name, const nlohmann::json& j);

  // Writes report.md (the hand-off summary), a final "run.end" event with `outcome`, and
  // manifest.json: SHA-256 of every file and the chain head. Nothing may be written after.
  Status finish(const std::string& outcome, const std::string& report_markdown);

 private:
  Run();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct Event {
  int seq = 0;
  std::string ts, kind;
  nlohmann::json data;
  std::string prev, hash;
};

// OK, or the first problem: a file whose hash differs from the manifest, a missing or
// extra file, an event altered / deleted / reordered (chain broken), a manifest whose
// chain head is not the log's last hash.
struct Verdict {
  bool ok = false;
  std::string problem;   // one line, names the file (and event seq / line) at fault
  int events = 0;
  int files = 0;         // files in the manifest, events.jsonl included
};
Result<Verdict> verify(const std::filesystem::path& run_dir);

// Events in order (for `belay evidence show`); errors on unreadable lines.
Result<std::vector<Event>> read_events(const std::filesystem::path& run_dir);

// The newest run directory under <root>/artifacts, if any.
std::optional<std::filesystem::path> latest_run(const std::filesystem::path& project_root);

}  // namespace belay::evidence
