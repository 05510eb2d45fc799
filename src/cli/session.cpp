#include "cli/session.h"

#include <unistd.h>

#include <fmt/format.h>

#include "util/text.h"

namespace belay::cli {

Result<Session> open_session(const Global& g, const std::string& verb, bool connect, bool need_set) {
  Session s;
  BELAY_ASSIGN(s.cfg, project::load(g.project_dir));
  if (need_set) { BELAY_ASSIGN(s.set, migrate::load_set(s.cfg)); }
  if (!connect) return s;
  BELAY_ASSIGN(s.target, project::resolve_target(s.cfg, g.target));
  BELAY_ASSIGN(auto c, pg::Conn::open(s.target.dsn, fmt::format("belay {} (pid {})", verb, ::getpid())));
  s.conn.emplace(std::move(c));
  return s;
}

Result<migrate::RunOptions> run_options(const Session& s, const RunFlags& f) {
  migrate::RunOptions o;
  o.lock_timeout = s.cfg.lock_timeout;
  o.statement_timeout = s.cfg.statement_timeout;
  o.lock_wait = s.cfg.lock_wait;
  o.lock_retries = f.lock_retries >= 0 ? f.lock_retries : s.cfg.lock_retries;
  o.flavor = s.cfg.flavor;
  o.dry_run = f.dry_run;
  o.allow_drift = f.allow_drift;
  o.allow_out_of_order = f.allow_ooo;
  if (!f.to.empty()) o.to = f.to;
  if (f.steps > 0) o.steps = f.steps;
  if (f.fingerprint_each) o.fingerprint = migrate::RunOptions::Fingerprint::each;
  auto dur = [](const std::string& v, const char* flag, std::chrono::milliseconds& dst) -> Status {
    if (v.empty()) return ok_status();
    auto d = text::parse_duration(v);
    if (!d) return Error::usage(fmt::format("{} needs a duration like 2s or 500ms, got '{}'", flag, v));
    dst = *d;
    return ok_status();
  };
  BELAY_TRY(dur(f.lock_wait, "--lock-wait", o.lock_wait));
  BELAY_TRY(dur(f.lock_timeout, "--lock-timeout", o.lock_timeout));
  BELAY_TRY(dur(f.statement_timeout, "--statement-timeout", o.statement_timeout));
  return o;
}

nlohmann::json step_json(const migrate::StepReport& s) {
  nlohmann::json j = {{"version", s.version},   {"name", s.name},       {"direction", s.direction},
                      {"file", s.file},         {"outcome", s.outcome}, {"mode", s.mode},
                      {"lock_timeout_ms", s.lock_timeout_ms}, {"statement_timeout_ms", s.statement_timeout_ms},
                      {"duration_ms", s.duration_ms}, {"attempts", s.attempts}};
  if (s.resumed_from) j["resumed_from"] = s.resumed_from;
  if (!s.statements.empty()) j["statements"] = s.statements;
  if (!s.log.empty()) j["log"] = s.log;
  if (!s.notices.empty()) j["notices"] = s.notices;
  if (!s.locks.empty()) {
    nlohmann::json locks = nlohmann::json::array();
    for (auto& l : s.locks) locks.push_back({{"line", l.line}, {"statement", l.statement}, {"locks", l.locks}});
    j["locks"] = locks;
  }
  return j;
}

nlohmann::json status_json(const std::vector<migrate::StatusEntry>& st) {
  nlohmann::json arr = nlohmann::json::array();
  for (auto& e : st) {
    nlohmann::json j = {{"version", e.version}, {"name", e.name}, {"state", e.state}, {"has_down", e.has_down}};
    if (!e.applied_at.empty()) j["applied_at"] = e.applied_at;
    if (!e.file.empty()) j["file"] = e.file;
    if (!e.detail.empty()) j["detail"] = e.detail;
    arr.push_back(j);
  }
  return arr;
}

Result<Recorder> Recorder::open(const Global& g, Session& s, const std::string& command) {
  Recorder r;
  if (g.no_evidence) return r;
  // argv as typed, with every DSN redacted; the password is also registered as a secret.
  std::vector<std::string> argv;
  for (auto& a : g.argv) argv.push_back(pg::is_url(a) || a.find("password") != std::string::npos ? pg::redact(a) : a);
  std::vector<std::string> secrets;
  if (auto pw = pg::password_of(s.target.dsn); !pw.empty()) secrets.push_back(pw);
  auto run = evidence::Run::open(s.cfg.root, command, argv, secrets);
  if (!run.ok()) {
    Error e = std::move(run).error();
    e.next = "make the project's artifacts/ folder writable, or pass --no-evidence";
    return e;
  }
  r.run_.emplace(std::move(*run));
  nlohmann::json conn = {{"target", s.target.display}, {"target_name", s.target.name}};
  if (s.conn) {
    auto q = s.conn->query(
        "select current_database(), coalesce(inet_server_addr()::text, 'unix socket'), "
        "coalesce(inet_server_port()::text, ''), version(), current_user, "
        "to_char(now() at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')");
    if (q.ok())
      conn.update({{"current_database", q->get(0, 0)}, {"server_address", q->get(0, 1)}, {"server_port", q->get(0, 2)},
                   {"server_version", q->get(0, 3)}, {"user", q->get(0, 4)}, {"now", q->get(0, 5)}});
    else
      conn["error"] = q.error().message;
  }
  r.json_file("connectivity.json", conn);
  r.event("connectivity", conn);
  return r;
}

std::string Recorder::dir() const { return run_ ? run_->dir().string() : ""; }

void Recorder::event(const std::string& kind, const nlohmann::json& data) {
  if (run_) run_->event(kind, data).ok();
}

void Recorder::json_file(const std::string& name, const nlohmann::json& j) {
  if (run_) run_->write_json(name, j).ok();
}

void Recorder::status(const std::string& name, pg::Conn& conn, const migrate::MigrationSet& set) {
  if (!run_) return;
  auto st = migrate::status(conn, set);
  if (st.ok()) json_file(name, {{"migrations", status_json(*st)}});
  else json_file(name, {{"error", st.error().message}});
}

void Recorder::run_report(const migrate::RunReport& rep, const migrate::MigrationSet& set) {
  if (!run_) return;
  // One file for every step (a reviewer reads one document, and a 500-migration run
  // does not write 500 files), one event per step.
  nlohmann::json steps = nlohmann::json::array();
  for (auto& st : rep.steps) {
    auto j = step_json(st);
    // The exact statements that ran, with their file positions.
    const auto* m = set.find(st.version);
    if (m) {
      const migrate::Script* script = st.direction == "up" ? &m->up : (m->down ? &*m->down : nullptr);
      if (script) {
        nlohmann::json stmts = nlohmann::json::array();
        for (auto& s : script->statements)
          stmts.push_back({{"line", s.line}, {"column", s.column}, {"sql", s.text}});
        j["statements"] = stmts;
        j["checksum"] = script->checksum;
      }
    }
    steps.push_back(std::move(j));
    event("step", {{"version", st.version}, {"name", st.name}, {"direction", st.direction},
                   {"outcome", st.outcome}, {"duration_ms", st.duration_ms}, {"attempts", st.attempts}});
  }
  json_file("migrations.json", {{"steps", steps}});
  if (rep.error) event("error", {{"message", rep.error->render()}, {"sqlstate", rep.error->sqlstate}});
  if (!rep.fingerprint.empty()) event("fingerprint", {{"hash", rep.fingerprint}});
}

void Recorder::finish(const std::string& outcome, const std::string& markdown) {
  if (run_) run_->finish(outcome, markdown).ok();
}

std::string run_markdown(const std::string& command, const Session& s, const migrate::RunReport& rep) {
  std::string md = fmt::format("# belay {} — {}\n\n", command, rep.error ? "FAILED" : "succeeded");
  md += fmt::format("- target: `{}`\n- project: `{}` ({} layout)\n", s.target.display, s.cfg.root.string(),
                    s.set.layout);
  if (!rep.fingerprint.empty()) md += fmt::format("- schema fingerprint after the run: `{}`\n", rep.fingerprint);
  md += "\n## What ran\n\n";
  if (rep.steps.empty()) md += "Nothing: the database was already where it should be.\n";
  else {
    md += "| version | name | direction | mode | outcome | attempts | ms |\n|---|---|---|---|---|---|---|\n";
    for (auto& st : rep.steps)
      md += fmt::format("| {} | {} | {} | {} | {} | {} | {:.1f} |\n", st.version, st.name, st.direction, st.mode,
                        st.outcome, st.attempts, st.duration_ms);
  }
  bool any_log = false;
  for (auto& st : rep.steps)
    if (!st.log.empty() || !st.notices.empty()) any_log = true;
  if (any_log) {
    md += "\n## Retries, recoveries and notices\n\n";
    for (auto& st : rep.steps) {
      for (auto& l : st.log) md += fmt::format("- {}_{}: {}\n", st.version, st.name, l);
      for (auto& n : st.notices) md += fmt::format("- {}_{} (server notice): {}\n", st.version, st.name, n);
    }
  }
  if (rep.error) {
    md += "\n## What failed and why\n\n```\n" + rep.error->render() + "\n```\n";
  }
  std::vector<std::string> missing;
  for (auto& m : s.set.migrations)
    if (!m.down) missing.push_back(m.version + "_" + m.name);
  if (!rep.warnings.empty() || !missing.empty()) {
    md += "\n## What is missing or needs attention\n\n";
    for (auto& w : rep.warnings) md += "- " + w + "\n";
    if (!missing.empty()) {
      md += fmt::format("- {} migration{} without a rollback script:", missing.size(), missing.size() == 1 ? "" : "s");
      for (auto& x : missing) md += " `" + x + "`";
      md += "\n";
    }
  }
  return md;
}

}  // namespace belay::cli
