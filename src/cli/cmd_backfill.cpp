// belay backfill plan | run | verify | rollback JOB
#include <unistd.h>

#include <filesystem>
#include <iostream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "backfill/backfill.h"
#include "cli/commands.h"
#include "cli/render.h"
#include "cli/session.h"
#include "util/text.h"

namespace belay::cli {
namespace {

namespace bf = backfill;

struct BackfillFlags {
  std::string job;
  long long limit = 0;
  std::vector<std::string> users;
  bool sql = false;
  int batch_size = 0, workers = 0;
  bool retry_quarantined = false;
  std::string lock_wait;
  std::string run_id, user;
};

// JOB as given, else relative to the project directory.
Result<bf::Job> load(const Global& g, const std::string& path) {
  std::filesystem::path p(path);
  if (p.is_relative() && !std::filesystem::exists(p) && std::filesystem::exists(std::filesystem::path(g.project_dir) / p))
    p = std::filesystem::path(g.project_dir) / p;
  return bf::load_job(p);
}

std::string n(long long v) {  // 12,345
  auto s = std::to_string(v < 0 ? -v : v);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<size_t>(i), ",");
  return (v < 0 ? "-" : "") + s;
}

nlohmann::json tables_json(const std::vector<bf::TableCount>& ts) {
  nlohmann::json a = nlohmann::json::array();
  for (auto& t : ts) a.push_back({{"entity", t.entity}, {"table", t.table}, {"rows", t.rows}, {"skipped", t.skipped}});
  return a;
}

nlohmann::json problem_json(const bf::Problem& p) {
  nlohmann::json j = {{"user", p.user}, {"entity", p.entity}, {"kind", p.kind}, {"detail", p.detail}, {"action", p.action}};
  if (p.index >= 0) j["index"] = p.index;
  if (!p.field.empty()) j["field"] = p.field;
  return j;
}

std::string problem_text(const bf::Problem& p) {
  std::string at = p.entity;
  if (p.index >= 0) at += fmt::format("[{}]", p.index) + (p.field.empty() ? "" : "." + p.field);
  else if (!p.field.empty() && p.field != p.entity) at += " (" + p.field + ")";  // the array's path
  return fmt::format("{} {}: {} — {} → {}", p.user, at, p.kind, p.detail, p.action);
}

std::string tables_md(const std::vector<bf::TableCount>& ts, const char* what) {
  std::string md = fmt::format("| entity | table | {} | skipped |\n|---|---|---|---|\n", what);
  for (auto& t : ts) md += fmt::format("| {} | {} | {} | {} |\n", t.entity, t.table, t.rows, t.skipped);
  return md;
}

nlohmann::json job_json(const bf::Job& job) {
  return {{"name", job.name}, {"file", job.file.string()}, {"checksum", job.checksum}};
}

int cmd_plan(const Global& g, const BackfillFlags& f) {
  auto job = load(g, f.job);
  if (!job.ok()) return report_error(job.error());
  auto s = open_session(g, "backfill plan", true, false);
  if (!s.ok()) return report_error(s.error());
  bf::PlanOptions o;
  o.limit = f.limit;
  o.users = f.users;
  auto p = bf::plan(*s->conn, *job, o);
  if (!p.ok()) return report_error(p.error());
  nlohmann::json users = nlohmann::json::array(), problems = nlohmann::json::array();
  for (auto& u : p->users) {
    nlohmann::json ents = nlohmann::json::array();
    for (auto& e : u.entities) {
      nlohmann::json ids = nlohmann::json::array();
      for (auto& m : e.ids) ids.push_back({{"old", m.old_id}, {"new", m.new_id}});
      ents.push_back({{"entity", e.entity}, {"table", e.table}, {"source_elements", e.source_elements},
                      {"rows", e.rows}, {"skipped", e.skipped}, {"ids", ids}});
    }
    nlohmann::json uj = {{"user", u.user}, {"source_id", u.source_id}, {"quarantined", u.quarantined}, {"entities", ents}};
    if (u.quarantined) uj["reason"] = u.reason;
    users.push_back(uj);
    for (auto& pr : u.problems) problems.push_back(problem_json(pr));
  }
  nlohmann::json report = {{"job", job_json(*job)},
                           {"target", s->target.display},
                           {"users", users},
                           {"tables", tables_json(p->tables)},
                           {"problems", problems},
                           {"problems_by_kind", p->problems_by_kind},
                           {"summary",
                            {{"planned_users", p->users.size()}, {"pending_users", p->pending_users},
                             {"done_users", p->done_users}, {"quarantined_users", p->quarantined_users},
                             {"superseded_rows", p->superseded_rows}, {"rows_without_user", p->rows_without_user},
                             {"empty_users", p->empty_users}}},
                           {"statements", p->statements},
                           {"sql", p->script}};
  auto rec = Recorder::open(g, *s, "backfill plan");
  if (!rec.ok()) return report_error(rec.error());
  rec->json_file("plan.json", report);
  rec->finish("ok", fmt::format("# belay backfill plan — {}\n\n- job: `{}` (`{}`)\n- target: `{}`\n- users planned: {} "
                                "(pending {}, done {}, quarantined {})\n- problems: {}\n\nNothing was written.\n\n{}",
                                job->name, job->file.string(), job->checksum.substr(0, 12), s->target.display,
                                p->users.size(), p->pending_users, p->done_users, p->quarantined_users, problems.size(),
                                tables_md(p->tables, "rows")));
  if (out().json) {
    if (rec->active()) report["evidence"] = rec->dir();
    print_json(report);
    return 0;
  }
  if (f.sql) {
    std::cout << p->script;
    return 0;
  }
  std::cout << bold("plan ") << job->name << dim("  " + job->file.string() + " · " + s->target.display) << "\n";
  std::cout << fmt::format("{} users planned · {} pending · {} done · {} quarantined", n(static_cast<long long>(p->users.size())),
                           n(p->pending_users), n(p->done_users), n(p->quarantined_users));
  if (p->superseded_rows) std::cout << fmt::format(" · {} older rows superseded (latest wins)", n(p->superseded_rows));
  if (p->rows_without_user) std::cout << yellow(fmt::format(" · {} rows without a user", n(p->rows_without_user)));
  std::cout << "\n";
  for (auto& t : p->tables)
    std::cout << fmt::format("  {:<16} → {:<20} {:>10} rows {:>8} skipped\n", t.entity, t.table, n(t.rows), n(t.skipped));
  long long nprob = 0;
  for (auto& u : p->users) nprob += static_cast<long long>(u.problems.size());
  if (nprob) {
    std::string kinds;
    for (auto& [k, c] : p->problems_by_kind) kinds += (kinds.empty() ? "" : ", ") + fmt::format("{} {}", k, c);
    std::cout << yellow(fmt::format("{} problems", nprob)) << dim(" (" + kinds + ")") << "\n";
    int shown = 0;
    for (auto& u : p->users)
      for (auto& pr : u.problems)
        if (shown++ < 50) std::cout << "  " << problem_text(pr) << "\n";
    if (shown > 50) std::cout << dim(fmt::format("  … {} more in --json", shown - 50)) << "\n";
  }
  bool maps = !f.users.empty() || p->users.size() <= 3;
  for (auto& u : p->users) {
    if (!maps) break;
    std::cout << bold(u.user) << dim(" (source row " + u.source_id + ")")
              << (u.quarantined ? red(" quarantined: " + u.reason) : "") << "\n";
    for (auto& e : u.entities)
      for (auto& m : e.ids) std::cout << fmt::format("  {:<12} {:<14} → {}\n", e.entity, m.old_id, m.new_id);
  }
  std::cout << dim("nothing written · the exact SQL: --sql · everything: --json") << "\n";
  if (rec->active()) std::cout << dim("evidence: " + rec->dir()) << "\n";
  return 0;
}

// "\r  [#####-----] 1,200/20,000 users · 34,800 rows · 52,000 rows/s · ETA 0:05" on stderr.
class Bar {
 public:
  explicit Bar(bool on) : on_(on) {}
  void show(const bf::Progress& p) {
    if (!on_) return;
    if (!start_) start_ = p.users_done + p.users_quarantined;
    long long done = p.users_done + p.users_quarantined;
    double frac = p.users_total ? static_cast<double>(done) / static_cast<double>(p.users_total) : 1.0;
    int width = 24, fill = static_cast<int>(frac * width);
    double rate_users = p.elapsed_s > 0 ? static_cast<double>(done - *start_) / p.elapsed_s : 0;
    double rate_rows = p.elapsed_s > 0 ? static_cast<double>(p.rows) / p.elapsed_s : 0;
    std::string eta = "--:--";
    if (rate_users > 0) {
      auto secs = static_cast<long long>(static_cast<double>(p.users_total - done) / rate_users);
      eta = fmt::format("{}:{:02}", secs / 60, secs % 60);
    }
    std::cerr << fmt::format("\r  [{}{}] {}/{} users · {} rows · {} rows/s · ETA {}{}\033[K",
                             std::string(static_cast<size_t>(fill), '#'), std::string(static_cast<size_t>(width - fill), '-'),
                             n(done), n(p.users_total), n(p.rows), n(static_cast<long long>(rate_rows)), eta,
                             p.throttled ? " · throttled" : "")
              << std::flush;
    drawn_ = true;
  }
  void clear() {
    if (drawn_) std::cerr << "\r\033[K" << std::flush;
    drawn_ = false;
  }
  bool on() const { return on_; }

 private:
  bool on_;
  bool drawn_ = false;
  std::optional<long long> start_;
};

int cmd_run(const Global& g, const BackfillFlags& f) {
  auto job = load(g, f.job);
  if (!job.ok()) return report_error(job.error());
  auto s = open_session(g, "backfill run", true, false);
  if (!s.ok()) return report_error(s.error());
  auto rec = Recorder::open(g, *s, "backfill run");
  if (!rec.ok()) return report_error(rec.error());
  rec->event("job", job_json(*job));
  bf::RunOptions o;
  o.limit = f.limit;
  o.batch_size = f.batch_size;
  o.workers = f.workers;
  o.retry_quarantined = f.retry_quarantined;
  if (!f.lock_wait.empty()) {
    auto d = text::parse_duration(f.lock_wait);
    if (!d) return report_error(Error::usage("--lock-wait needs a duration like 30s"));
    o.lock_wait = *d;
  } else {
    o.lock_wait = s->cfg.lock_wait;
  }
  // The progress bar is for people at a terminal: never in --json, a pipe or a log file.
  Bar bar(!out().json && ::isatty(2));
  o.on_progress = [&](const bf::Progress& p) { bar.show(p); };
  o.on_event = [&](const bf::RunEvent& e) {
    if (e.kind != "batch") rec->event("backfill." + e.kind, e.data);
    else rec->event("backfill.batch", e.data);
    if (out().json) return;
    if (e.kind == "backup" || e.kind == "resume" || e.kind == "throttle" || e.kind == "throttle_end" ||
        e.kind == "error") {
      bar.clear();
      if (e.kind == "backup")
        std::cerr << dim(fmt::format("run {} · backup of {} source rows in {}", e.data.value("run_id", ""),
                                     n(e.data.value("users", 0LL)), e.data.value("backup_table", "")))
                  << "\n";
      else if (e.kind == "resume")
        std::cerr << yellow(fmt::format("resuming run {}: {} of {} users already done", e.data.value("run_id", ""),
                                        n(e.data.value("already_done", 0LL)), n(e.data.value("users", 0LL))))
                  << "\n";
      else if (e.kind == "throttle")
        std::cerr << yellow("throttled: " + e.data.value("reason", "")) << "\n";
      else if (e.kind == "throttle_end")
        std::cerr << dim("resumed after throttling") << "\n";
    }
  };
  auto r = bf::run(*s->conn, *job, o);
  bar.clear();
  nlohmann::json quarantined = nlohmann::json::array();
  for (auto& q : r.quarantined)
    quarantined.push_back({{"user", q.user}, {"source_id", q.source_id}, {"reason", q.reason}, {"sqlstate", q.sqlstate}});
  nlohmann::json report = {{"job", job_json(*job)},
                           {"target", s->target.display},
                           {"run_id", r.run_id},
                           {"resumed", r.resumed},
                           {"backup", {{"table", r.backup_table}, {"rows", r.backup_rows}}},
                           {"users", {{"total", r.users_total}, {"done", r.users_done},
                                      {"quarantined", r.users_quarantined}, {"already_done_before", r.users_already},
                                      {"empty", r.empty_users}}},
                           {"rows", r.rows},
                           {"superseded_rows", r.superseded_rows},
                           {"tables", tables_json(r.tables)},
                           {"problems_by_kind", r.problems_by_kind},
                           {"quarantined", quarantined},
                           {"batches", r.batches},
                           {"batch_retries", r.batch_retries},
                           {"bisections", r.bisections},
                           {"throttled_ms", r.throttled_ms},
                           {"duration_ms", r.duration_ms},
                           {"ok", !r.error}};
  if (r.error) report["error"] = error_json(*r.error);
  rec->json_file("backfill.json", report);
  std::string md = fmt::format("# belay backfill run — {}\n\n- job: `{}` (`{}`, sha256 `{}`)\n- target: `{}`\n- run: `{}`{}\n"
                               "- backup of the rows read: `{}` ({} rows)\n- users: {} done, {} quarantined, of {}\n"
                               "- rows written: {}\n- batches: {} ({} retried, {} split)\n- throttled: {:.0f} ms\n\n{}",
                               r.error ? "STOPPED" : "finished", job->name, job->file.string(), job->checksum,
                               s->target.display, r.run_id, r.resumed ? " (resumed)" : "", r.backup_table, r.backup_rows,
                               r.users_done, r.users_quarantined, r.users_total, r.rows, r.batches, r.batch_retries,
                               r.bisections, r.throttled_ms, tables_md(r.tables, "rows"));
  if (!r.quarantined.empty()) {
    md += "\n## Quarantined users\n\n";
    for (auto& q : r.quarantined) md += fmt::format("- `{}` (source row {}): {}\n", q.user, q.source_id, q.reason);
  }
  if (r.error) md += "\n## What stopped the run\n\n```\n" + r.error->render() + "\n```\n\nRerun to resume.\n";
  rec->finish(r.error ? "failed" : "ok", md);
  if (out().json) {
    if (rec->active()) report["evidence"] = rec->dir();
    print_json(report);
    return r.error ? static_cast<int>(r.error->code) : 0;
  }
  if (r.error && r.run_id.empty()) return report_error(*r.error);
  std::cout << bold("backfill ") << job->name << dim("  run " + r.run_id + (r.resumed ? " (resumed)" : "")) << "\n";
  for (auto& t : r.tables)
    std::cout << fmt::format("  {:<16} → {:<20} {:>10} rows {:>8} skipped\n", t.entity, t.table, n(t.rows), n(t.skipped));
  std::cout << fmt::format("{} users done, {} quarantined, of {} · {} rows · {:.1f} s\n", n(r.users_done),
                           n(r.users_quarantined), n(r.users_total), n(r.rows), r.duration_ms / 1000);
  for (auto& q : r.quarantined) std::cout << "  " << yellow("quarantined ") << q.user << ": " << q.reason << "\n";
  if (rec->active()) std::cout << dim("evidence: " + rec->dir()) << "\n";
  if (r.error) return report_error(*r.error);
  return 0;
}

int cmd_verify(const Global& g, const BackfillFlags& f) {
  auto job = load(g, f.job);
  if (!job.ok()) return report_error(job.error());
  auto s = open_session(g, "backfill verify", true, false);
  if (!s.ok()) return report_error(s.error());
  auto v = bf::verify(*s->conn, *job);
  if (!v.ok()) return report_error(v.error());
  nlohmann::json issues = nlohmann::json::array();
  for (auto& i : v->issues)
    issues.push_back({{"check", i.check}, {"user", i.user}, {"entity", i.entity}, {"table", i.table}, {"detail", i.detail}});
  nlohmann::json report = {{"job", job_json(*job)},
                           {"target", s->target.display},
                           {"ok", v->ok},
                           {"summary",
                            {{"users_checked", v->users_checked}, {"rows_checked", v->rows_checked},
                             {"users_changed_since", v->users_changed_since}, {"users_pending", v->users_pending},
                             {"users_quarantined", v->users_quarantined}}},
                           {"failures_by_check", v->failures_by_check},
                           {"issues", issues}};
  auto rec = Recorder::open(g, *s, "backfill verify");
  if (!rec.ok()) return report_error(rec.error());
  rec->json_file("verify.json", report);
  std::string md = fmt::format("# belay backfill verify — {}\n\n- job: `{}`\n- target: `{}`\n- users checked: {}, rows: {}\n"
                               "- changed since backfilled: {}\n- pending: {}, quarantined: {}\n",
                               v->ok ? "OK" : "FAILED", job->name, s->target.display, v->users_checked, v->rows_checked,
                               v->users_changed_since, v->users_pending, v->users_quarantined);
  for (auto& i : v->issues) md += fmt::format("- {} {} {}: {}\n", i.check, i.user, i.entity, i.detail);
  rec->finish(v->ok ? "ok" : "failed", md);
  int rc = v->ok ? 0 : static_cast<int>(ExitCode::failure);
  if (out().json) {
    if (rec->active()) report["evidence"] = rec->dir();
    print_json(report);
    return rc;
  }
  std::cout << bold("verify ") << job->name << dim("  " + s->target.display) << "\n";
  std::cout << fmt::format("{} users, {} rows checked · {} changed since backfilled · {} pending · {} quarantined\n",
                           n(v->users_checked), n(v->rows_checked), n(v->users_changed_since), n(v->users_pending),
                           n(v->users_quarantined));
  for (auto& i : v->issues)
    std::cout << "  " << red(i.check) << " " << i.user << (i.entity.empty() ? "" : " " + i.entity) << ": " << i.detail << "\n";
  std::cout << (v->ok ? green("counts match, no orphans, no duplicate mappings") : red("verification failed")) << "\n";
  if (rec->active()) std::cout << dim("evidence: " + rec->dir()) << "\n";
  return rc;
}

int cmd_rollback(const Global& g, const BackfillFlags& f) {
  auto job = load(g, f.job);
  if (!job.ok()) return report_error(job.error());
  auto s = open_session(g, "backfill rollback", true, false);
  if (!s.ok()) return report_error(s.error());
  auto rec = Recorder::open(g, *s, "backfill rollback");
  if (!rec.ok()) return report_error(rec.error());
  rec->event("job", job_json(*job));
  bf::RollbackOptions o;
  o.run_id = f.run_id;
  o.user = f.user;
  if (f.batch_size > 0) o.batch_users = f.batch_size;
  o.lock_wait = s->cfg.lock_wait;
  bool tty = !out().json && ::isatty(2);
  o.on_progress = [&](long long done, long long total) {
    rec->event("backfill.rollback_batch", {{"users_done", done}, {"users_total", total}});
    if (tty) std::cerr << fmt::format("\r  rolling back: {}/{} users\033[K", n(done), n(total)) << std::flush;
  };
  auto r = bf::rollback(*s->conn, *job, o);
  if (tty) std::cerr << "\r\033[K" << std::flush;
  nlohmann::json report = {{"job", job_json(*job)}, {"target", s->target.display}, {"run", f.run_id}, {"user", f.user},
                           {"users", r.users}, {"rows", r.rows}, {"tables", tables_json(r.tables)},
                           {"order", r.order}, {"runs_rolled_back", r.runs}, {"ok", !r.error}};
  if (r.error) report["error"] = error_json(*r.error);
  rec->json_file("rollback.json", report);
  std::string md = fmt::format("# belay backfill rollback — {}\n\n- job: `{}`\n- target: `{}`\n- scope: {}{}\n"
                               "- users: {}, rows deleted: {}\n- order: {}\n\n{}",
                               r.error ? "STOPPED" : "finished", job->name, s->target.display,
                               f.run_id.empty() ? "every run" : "run " + f.run_id, f.user.empty() ? "" : ", user " + f.user,
                               r.users, r.rows, fmt::join(r.order, " → "), tables_md(r.tables, "rows deleted"));
  if (r.error) md += "\n## What stopped the rollback\n\n```\n" + r.error->render() + "\n```\n\nRerun to finish.\n";
  rec->finish(r.error ? "failed" : "ok", md);
  if (out().json) {
    if (rec->active()) report["evidence"] = rec->dir();
    print_json(report);
    return r.error ? static_cast<int>(r.error->code) : 0;
  }
  for (auto& t : r.tables)
    if (t.rows) std::cout << fmt::format("  {:<16} {:>10} rows deleted\n", t.table, n(t.rows));
  std::cout << fmt::format("{} users, {} rows rolled back{}\n", n(r.users), n(r.rows),
                           r.runs.empty() ? "" : fmt::format(" · runs rolled back: {}", fmt::join(r.runs, ", ")));
  if (rec->active()) std::cout << dim("evidence: " + rec->dir()) << "\n";
  if (r.error) return report_error(*r.error);
  return 0;
}

}  // namespace

void add_backfill_commands(CLI::App& app, Global& g, int& rc) {
  static BackfillFlags f;
  auto* bfc = app.add_subcommand("backfill", "JSON documents → normalized tables: plan, run, verify, rollback");
  bfc->require_subcommand(1);

  auto* plan = bfc->add_subcommand("plan", "data-level dry run: rows, old→new ids, problems, the exact SQL; writes nothing");
  plan->add_option("job", f.job, "job file (TOML)")->required();
  plan->add_option("--limit", f.limit, "at most N pending users");
  plan->add_option("--user", f.users, "only this user (repeatable), done or not");
  plan->add_flag("--sql", f.sql, "print the exact SQL a run would send for these users");
  plan->callback([&] { rc = cmd_plan(g, f); });

  auto* run = bfc->add_subcommand("run", "write: backup first, per-user atomic batches, audit, resumable");
  run->add_option("job", f.job, "job file (TOML)")->required();
  run->add_option("--limit", f.limit, "at most N users in this run");
  run->add_option("--batch-size", f.batch_size, "users per transaction (default: the job's, 500)");
  run->add_option("--workers", f.workers, "connections writing at once (default: the job's, 2)");
  run->add_flag("--retry-quarantined", f.retry_quarantined, "give quarantined users another try");
  run->add_option("--lock-wait", f.lock_wait, "wait this long for another runner of the job (default 30s)");
  run->callback([&] { rc = cmd_run(g, f); });

  auto* verify = bfc->add_subcommand("verify", "source array lengths = rows created; no orphans; no duplicate mappings");
  verify->add_option("job", f.job, "job file (TOML)")->required();
  verify->callback([&] { rc = cmd_verify(g, f); });

  auto* rb = bfc->add_subcommand("rollback", "delete exactly what the audit says belay created, children first");
  rb->add_option("job", f.job, "job file (TOML)")->required();
  rb->add_option("--run", f.run_id, "only this run");
  rb->add_option("--user", f.user, "only this user");
  rb->add_option("--batch-size", f.batch_size, "users per transaction (default 500)");
  rb->callback([&] { rc = cmd_rollback(g, f); });
}

}  // namespace belay::cli
