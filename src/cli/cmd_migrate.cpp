// belay status | migrate | rollback | baseline
#include <unistd.h>

#include <iostream>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/render.h"
#include "cli/session.h"
#include "fingerprint/fingerprint.h"
#include "migrate/migrate.h"
#include "project/project.h"
#include "rls/rls.h"
#include "util/text.h"

namespace belay::cli {
namespace {

std::string state_colored(const std::string& st) {
  if (st == "applied") return green(st);
  if (st == "pending") return yellow(st);
  return red(st);
}

int cmd_status(const Global& g, bool live) {
  auto s = open_session(g, "status");
  if (!s.ok()) return report_error(s.error());
  auto st = migrate::status(*s->conn, s->set);
  if (!st.ok()) return report_error(st.error());
  int applied = 0, pending = 0, problems = 0;
  for (auto& e : *st) {
    if (e.state == "applied") ++applied;
    else if (e.state == "pending") ++pending;
    else ++problems;
  }
  std::optional<migrate::LiveDrift> drift;
  if (live) {
    auto d = migrate::live_drift(*s->conn);
    if (!d.ok()) return report_error(d.error());
    drift = *d;
  }
  // Live drift is refused-class: the schema no longer matches what migrations built.
  int rc = drift && drift->drifted ? static_cast<int>(ExitCode::refused) : 0;
  // A check of a database is evidence too (seed 002 keeps every status listing).
  auto rec = Recorder::open(g, *s, "status");
  if (!rec.ok()) return report_error(rec.error());
  rec->json_file("status.json", {{"migrations", status_json(*st)}});
  std::string md = fmt::format("# belay status\n\n- target: `{}`\n- {} applied, {} pending, {} need attention\n",
                               s->target.display, applied, pending, problems);
  for (auto& e : *st)
    if (e.state != "applied" && e.state != "pending") md += fmt::format("- `{}_{}`: {} {}\n", e.version, e.name, e.state, e.detail);
  if (drift) {
    rec->json_file("live.json", {{"version", drift->version}, {"recorded_fingerprint", drift->recorded_hash},
                                 {"live_fingerprint", drift->live_hash}, {"drifted", drift->drifted},
                                 {"changes", drift->changes}});
    md += drift->drifted ? "\n## Live drift\n\nThe schema changed outside migrations since `" + drift->version + "`:\n\n"
                         : "\nLive schema matches the fingerprint recorded after `" + drift->version + "`.\n";
    for (auto& c : drift->changes) md += "- " + c + "\n";
  }
  rec->finish(rc == 0 ? "ok" : "drift", md);
  if (out().json) {
    nlohmann::json j = {{"target", s->target.display},
                        {"layout", s->set.layout},
                        {"migrations", status_json(*st)},
                        {"summary", {{"applied", applied}, {"pending", pending}, {"problems", problems}}}};
    if (drift)
      j["live"] = {{"version", drift->version}, {"recorded", drift->recorded}, {"recorded_fingerprint", drift->recorded_hash},
                   {"live_fingerprint", drift->live_hash}, {"drifted", drift->drifted}, {"changes", drift->changes}};
    print_json(j);
    return rc;
  }
  std::cout << bold("target ") << s->target.display << dim("  (" + s->set.layout + " layout, " + s->set.dir.string() + ")")
            << "\n";
  for (auto& e : *st) {
    std::cout << fmt::format("  {:<16} {:<28} {:<9} {}", e.version, e.name.substr(0, 28), e.has_down ? "rollback" : "-",
                             state_colored(e.state));
    if (!e.applied_at.empty() && e.state == "applied") std::cout << dim("  " + e.applied_at);
    if (!e.detail.empty()) std::cout << "  " << e.detail;
    std::cout << "\n";
  }
  std::cout << fmt::format("{} applied, {} pending{}\n", applied, pending,
                           problems ? fmt::format(", {} need attention", problems) : "");
  if (drift) {
    if (drift->version.empty()) std::cout << "live: nothing applied yet\n";
    else if (!drift->recorded)
      std::cout << yellow("live: ") << "no fingerprint recorded for " << drift->version
                << " (applied before fingerprints were kept); live schema " << drift->live_hash.substr(0, 12) << "\n";
    else if (!drift->drifted)
      std::cout << green("live: ") << "schema matches the fingerprint recorded after " << drift->version << " ("
                << drift->live_hash.substr(0, 12) << ")\n";
    else {
      std::cout << red("live: drift") << " — the schema changed outside migrations since " << drift->version << "\n";
      for (auto& c : drift->changes) std::cout << "  " << c << "\n";
      if (!drift->detailed) std::cout << "  (no snapshot of the recorded schema to name the changes)\n";
    }
  }
  return rc;
}

int cmd_run(const Global& g, const RunFlags& f, bool up) {
  auto s = open_session(g, up ? "migrate" : "rollback");
  if (!s.ok()) return report_error(s.error());
  auto opt = run_options(*s, f);
  if (!opt.ok()) return report_error(opt.error());
  bool human = !out().json;
  // --check-surface: a second connection follows the schema (fingerprint::Tracker); after
  // each migration commits, what it made more exposed to the API roles is reported.
  std::optional<rls::SurfaceConfig> surface;
  std::optional<pg::Conn> watch_conn;
  std::optional<fingerprint::Tracker> watch;
  std::vector<std::pair<std::string, findings::Finding>> regressions;  // migration, finding
  int failing = 0;
  if (f.check_surface && !f.dry_run) {
    auto sc = rls::surface_config(s->cfg, f.regressions_fail_at);
    if (!sc.ok()) return report_error(sc.error());
    surface = *sc;
    auto c = pg::Conn::open(s->target.dsn, "belay migrate (surface)");
    if (!c.ok()) return report_error(c.error());
    watch_conn.emplace(std::move(*c));
    auto t = fingerprint::Tracker::start(*watch_conn);
    if (!t.ok()) return report_error(t.error());
    watch.emplace(std::move(*t));
  }
  auto check_surface = [&](const std::string& label) {
    if (!watch) return;
    if (auto u = watch->update(*watch_conn); !u.ok()) {
      findings::Finding f;
      f.rule = "surface-not-compared";
      f.severity = findings::Severity::warning;
      f.message = "the security surface could not be read: " + u.error().message;
      regressions.push_back({label, f});
      return;
    }
    for (auto& f : rls::surface_regressions(*watch, surface->options)) {
      if (surface->fail_at && f.severity >= *surface->fail_at) ++failing;
      if (human) {
        auto sev = findings::to_string(f.severity);
        std::cout << "\n  " << (f.severity == findings::Severity::error ? red(sev) : yellow(sev)) << " " << f.rule << ": "
                  << f.message;
      }
      regressions.push_back({label, std::move(f)});
    }
  };
  opt->on_event = [&](const migrate::Event& e) {
    auto label = fmt::format("{}_{}", e.version, e.name);
    if (e.kind == migrate::Event::done && human) std::cout << " " << green("ok") << dim(" " + e.message) << std::flush;
    if (e.kind == migrate::Event::done) check_surface(label);
    if (!human) return;
    switch (e.kind) {
      case migrate::Event::plan: break;
      case migrate::Event::begin:
        std::cout << dim(fmt::format("[{}/{}] ", e.index, e.total)) << (up ? "applying " : "reverting ") << label
                  << std::flush;
        break;
      case migrate::Event::done: std::cout << "\n"; break;
      case migrate::Event::attempt_failed: std::cout << "\n  " << yellow("lock: ") << e.message << std::flush; break;
      case migrate::Event::note: std::cout << "\n  " << dim(e.message) << std::flush; break;
    }
  };
  if (human) std::cout << bold("target ") << s->target.display << (f.dry_run ? yellow("  (dry run)") : "") << "\n";
  const char* verb = up ? "migrate" : "rollback";
  Recorder rec = Recorder::none();
  if (!f.dry_run) {
    auto r = Recorder::open(g, *s, verb);
    if (!r.ok()) return report_error(r.error());
    rec = std::move(*r);
  }
  rec.status("status_before.json", *s->conn, s->set);
  auto rep = up ? migrate::migrate(*s->conn, s->set, *opt) : migrate::rollback(*s->conn, s->set, *opt);
  rec.run_report(rep, s->set);
  rec.status("status_after.json", *s->conn, s->set);
  nlohmann::json surface_json = nlohmann::json::array();
  std::string surface_md;
  for (auto& [m, f] : regressions) {
    auto j = findings::to_json(f);
    j["migration"] = m;
    surface_json.push_back(j);
    surface_md += fmt::format("- `{}` **{}** {}: {}\n", m, findings::to_string(f.severity), f.rule, f.message);
  }
  if (watch) rec.json_file("surface.json", {{"regressions", surface_json}, {"failing", failing}});
  std::string md = run_markdown(verb, *s, rep);
  if (watch)
    md += surface_md.empty() ? "\nSecurity surface: no regressions.\n" : "\n## Security surface regressions\n\n" + surface_md;
  rec.finish(rep.error || failing ? "failed" : "ok", md);
  const int surface_rc = failing ? static_cast<int>(ExitCode::failure) : 0;
  int applied = 0;
  for (auto& st : rep.steps)
    if (st.outcome == "applied" || st.outcome == "reverted") ++applied;
  if (out().json) {
    nlohmann::json steps = nlohmann::json::array();
    for (auto& st : rep.steps) steps.push_back(step_json(st));
    nlohmann::json j = {{"ok", !rep.error}, {"target", s->target.display}, {"dry_run", f.dry_run},
                        {"steps", steps}, {"warnings", rep.warnings}};
    if (rec.active()) j["evidence"] = rec.dir();
    if (!rep.fingerprint.empty()) j["fingerprint"] = rep.fingerprint;
    if (rep.error) j["error"] = error_json(*rep.error);
    if (watch) j["surface"] = {{"regressions", surface_json}, {"failing", failing}};
    print_json(j);
    return rep.error ? static_cast<int>(rep.error->code) : surface_rc;
  }
  for (auto& w : rep.warnings) std::cout << yellow("warning: ") << w << "\n";
  if (f.dry_run) {
    for (auto& st : rep.steps) {
      std::cout << bold(fmt::format("{} {}_{}", st.direction, st.version, st.name)) << dim("  " + st.file) << "\n"
                << fmt::format("  mode {} · lock_timeout {}ms · statement_timeout {}\n", st.mode, st.lock_timeout_ms,
                               st.statement_timeout_ms ? std::to_string(st.statement_timeout_ms) + "ms" : "none");
      if (st.resumed_from) std::cout << fmt::format("  resumes at statement {}\n", st.resumed_from + 1);
      for (auto& l : st.statements) {
        auto one = l.substr(0, l.find('\n'));
        std::cout << "    " << one << (one.size() < l.size() ? " …" : "") << "\n";
      }
    }
    std::cout << fmt::format("{} migration{} would {}; nothing was changed\n", rep.steps.size(),
                             rep.steps.size() == 1 ? "" : "s", up ? "apply" : "roll back");
    return rep.error ? report_error(*rep.error) : 0;
  }
  if (rep.error) {
    if (!rep.steps.empty() && rep.steps.back().outcome == "failed") std::cout << " " << red("failed") << "\n";
    std::cout << fmt::format("{} {}; stopped at the first failure\n", applied, up ? "applied" : "reverted");
    if (rec.active()) std::cout << dim("evidence: " + rec.dir()) << "\n";
    return report_error(*rep.error);
  }
  if (rec.active()) std::cout << dim("evidence: " + rec.dir()) << "\n";
  if (rep.steps.empty()) std::cout << (up ? "nothing to apply: up to date\n" : "nothing to roll back\n");
  else std::cout << fmt::format("{} migration{} {}\n", applied, applied == 1 ? "" : "s", up ? "applied" : "rolled back");
  if (watch)
    std::cout << (regressions.empty() ? green("security surface: no regressions")
                                      : (failing ? red : yellow)(fmt::format("security surface: {} regression{} ({} failing)",
                                                                              regressions.size(),
                                                                              regressions.size() == 1 ? "" : "s", failing)))
              << "\n";
  return surface_rc;
}

int cmd_baseline(const Global& g, const RunFlags& f) {
  auto s = open_session(g, "baseline");
  if (!s.ok()) return report_error(s.error());
  auto rec = Recorder::open(g, *s, "baseline");
  if (!rec.ok()) return report_error(rec.error());
  rec->status("status_before.json", *s->conn, s->set);
  auto r = migrate::baseline(*s->conn, s->set, f.to.empty() ? std::nullopt : std::optional(f.to), f.from_supabase);
  rec->event("baseline", r.ok() ? nlohmann::json{{"versions", *r}} : nlohmann::json{{"error", r.error().message}});
  rec->status("status_after.json", *s->conn, s->set);
  rec->finish(r.ok() ? "ok" : "failed",
              r.ok() ? fmt::format("# belay baseline\n\n{} migration(s) marked as applied without running them on `{}`.\n",
                                   r->size(), s->target.display)
                     : "# belay baseline — FAILED\n\n```\n" + r.error().render() + "\n```\n");
  if (!r.ok()) return report_error(r.error());
  if (out().json) print_json({{"ok", true}, {"baselined", *r}});
  else std::cout << fmt::format("{} migration{} marked as applied\n", r->size(), r->size() == 1 ? "" : "s");
  return 0;
}

void add_run_flags(CLI::App* c, RunFlags& f) {
  c->add_flag("--dry-run", f.dry_run, "print the exact plan (files, statements, transaction mode, timeouts); change nothing");
  c->add_flag("--allow-drift", f.allow_drift, "run even if applied migrations changed on disk");
  c->add_option("--lock-wait", f.lock_wait, "wait this long for another runner (default 30s)");
  c->add_option("--lock-timeout", f.lock_timeout, "DDL lock_timeout (default 2s; per file: -- belay:lock_timeout=5s)");
  c->add_option("--statement-timeout", f.statement_timeout, "statement_timeout (default none)");
  c->add_option("--lock-retries", f.lock_retries, "retries after a lock timeout (default 5)");
  c->add_flag("--fingerprint-each", f.fingerprint_each,
              "record the schema fingerprint after every migration (default: after the last one of the run)");
  c->add_flag("--check-surface", f.check_surface,
              "after each migration, report what it made more exposed to the API roles (RLS, policies, grants)");
  c->add_option("--regressions-fail-at", f.regressions_fail_at,
                "with --check-surface: exit 1 for regressions at or above this (error, warning, info, never)");
}

}  // namespace

void add_migrate_commands(CLI::App& app, Global& g, int& rc) {
  static RunFlags mf, rf, bf;
  static bool live = false;
  auto* st = app.add_subcommand("status", "each migration: applied, pending, drifted, missing or partial");
  st->add_flag("--live", live, "also compare the live schema with the fingerprint recorded by the last migration");
  st->callback([&] { rc = cmd_status(g, live); });
  auto* m = app.add_subcommand("migrate", "apply pending migrations in order, each in its own transaction");
  m->add_option("--to", mf.to, "stop after this version");
  m->add_flag("--allow-out-of-order", mf.allow_ooo, "apply pending migrations older than the newest applied");
  add_run_flags(m, mf);
  m->callback([&] { rc = cmd_run(g, mf, true); });

  auto* r = app.add_subcommand("rollback", "run down scripts in reverse order");
  auto* steps = r->add_option("--steps", rf.steps, "how many migrations to roll back (default 1)");
  auto* to = r->add_option("--to", rf.to, "roll back every migration newer than this version");
  steps->excludes(to);
  add_run_flags(r, rf);
  r->callback([&] { rc = cmd_run(g, rf, false); });

  auto* b = app.add_subcommand("baseline", "mark migrations as applied without running them (adopt an existing database)");
  auto* bto = b->add_option("--to", bf.to, "every migration up to this version");
  auto* bsb = b->add_flag("--from-supabase", bf.from_supabase, "the versions in supabase_migrations.schema_migrations");
  bto->excludes(bsb);
  b->callback([&] { rc = cmd_baseline(g, bf); });
}

}  // namespace belay::cli
