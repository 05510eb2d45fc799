// belay fingerprint | diff FROM TO | rehearse
#include <unistd.h>

#include <atomic>
#include <iostream>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/render.h"
#include "cli/session.h"
#include "embedded/embedded.h"
#include "fingerprint/fingerprint.h"
#include "rehearse/rehearse.h"
#include "rls/rls.h"

namespace belay::cli {
namespace {

// Throwaway databases on the project's embedded cluster, dropped when this goes away.
class Shadows {
 public:
  explicit Shadows(const project::Config& cfg) : cluster_(cfg.root, project::embedded_options(cfg)) {}
  ~Shadows() {
    if (keep_) return;
    for (auto& n : names_) cluster_.drop_database(n).ok();
  }
  Result<std::string> make() {
    if (!started_) {
      BELAY_TRY(cluster_.start());
      started_ = true;
    }
    static std::atomic<int> n{0};
    auto name = fmt::format("belay_shadow_{}_{}", ::getpid(), n++);
    BELAY_ASSIGN(auto url, cluster_.create_database(name));
    names_.push_back(name);
    return url;
  }
  void keep() { keep_ = true; }
  const std::vector<std::string>& names() const { return names_; }

 private:
  embedded::Cluster cluster_;
  bool started_ = false, keep_ = false;
  std::vector<std::string> names_;
};

// The schema the migration files produce: every migration applied on a fresh shadow.
Result<fingerprint::Model> model_of_migrations(const Session& s, Shadows& shadows) {
  BELAY_ASSIGN(auto url, shadows.make());
  BELAY_ASSIGN(auto conn, pg::Conn::open(url, "belay diff (shadow)"));
  migrate::RunOptions o;
  o.flavor = s.cfg.flavor;
  o.fingerprint = migrate::RunOptions::Fingerprint::off;
  auto rep = migrate::migrate(conn, s.set, o);
  if (rep.error) {
    Error e = *rep.error;
    e.message = "building the schema from migrations failed: " + e.message;
    return e;
  }
  return fingerprint::capture(conn);
}

Result<fingerprint::Model> model_of(const std::string& spec, const Session& s, Shadows& shadows, std::string& shown) {
  if (spec == "migrations") {
    shown = "migrations (" + s.set.dir.string() + ")";
    return model_of_migrations(s, shadows);
  }
  BELAY_ASSIGN(auto t, project::resolve_target(s.cfg, spec));
  shown = t.display;
  BELAY_ASSIGN(auto conn, pg::Conn::open(t.dsn, "belay diff"));
  return fingerprint::capture(conn);
}

int cmd_fingerprint(const Global& g, bool list) {
  auto s = open_session(g, "fingerprint", true, false);
  if (!s.ok()) return report_error(s.error());
  auto m = fingerprint::capture(*s->conn);
  if (!m.ok()) return report_error(m.error());
  auto rec = Recorder::open(g, *s, "fingerprint");
  if (!rec.ok()) return report_error(rec.error());
  rec->json_file("fingerprint.json", fingerprint::to_json(*m));
  rec->finish("ok", fmt::format("# belay fingerprint\n\n- target: `{}`\n- fingerprint: `{}`\n- objects: {}\n",
                                s->target.display, m->hash, m->size()));
  if (out().json) {
    nlohmann::json j = {{"hash", m->hash}, {"objects", m->size()}, {"target", s->target.display}};
    if (list) j["model"] = fingerprint::to_json(*m);
    print_json(j);
    return 0;
  }
  std::cout << m->hash << "  " << dim(fmt::format("{} objects · {}", m->size(), s->target.display)) << "\n";
  if (list)
    for (auto& o : m->objects) std::cout << "  " << o.label << "\n";
  return 0;
}

int cmd_diff(const Global& g, const std::string& from, const std::string& to, bool exit_code) {
  auto s = open_session(g, "diff", false, from == "migrations" || to == "migrations");
  if (!s.ok()) return report_error(s.error());
  Shadows shadows(s->cfg);
  std::string from_shown, to_shown;
  auto a = model_of(from, *s, shadows, from_shown);
  if (!a.ok()) return report_error(a.error());
  auto b = model_of(to, *s, shadows, to_shown);
  if (!b.ok()) return report_error(b.error());
  auto changes = fingerprint::diff(*a, *b);
  auto rec = Recorder::open(g, *s, "diff");
  if (!rec.ok()) return report_error(rec.error());
  std::string md = fmt::format("# belay diff\n\n- from: `{}` (`{}`)\n- to: `{}` (`{}`)\n\n", from_shown, a->hash,
                               to_shown, b->hash);
  nlohmann::json recorded = nlohmann::json::array();
  for (auto& c : changes) {
    md += "- " + c.describe() + "\n";
    recorded.push_back(fingerprint::to_json(c));
  }
  if (changes.empty()) md += "No differences.\n";
  rec->json_file("diff.json", {{"from", from_shown}, {"to", to_shown}, {"changes", recorded}});
  rec->finish(changes.empty() ? "equal" : "different", md);
  if (out().json) {
    nlohmann::json arr = nlohmann::json::array();
    for (auto& c : changes) {
      auto j = fingerprint::to_json(c);
      j["text"] = c.describe();
      arr.push_back(j);
    }
    print_json({{"from", {{"target", from_shown}, {"hash", a->hash}, {"objects", a->size()}}},
                {"to", {{"target", to_shown}, {"hash", b->hash}, {"objects", b->size()}}},
                {"equal", changes.empty()},
                {"changes", arr}});
  } else {
    std::cout << bold("from ") << from_shown << dim("  " + a->hash.substr(0, 12)) << "\n"
              << bold("to   ") << to_shown << dim("  " + b->hash.substr(0, 12)) << "\n";
    if (changes.empty()) std::cout << green("no differences") << "\n";
    for (auto& c : changes) {
      auto line = c.describe();
      std::cout << "  " << (c.what == "added" ? green(line) : c.what == "removed" ? red(line) : yellow(line)) << "\n";
    }
  }
  return exit_code && !changes.empty() ? static_cast<int>(ExitCode::refused) : 0;
}

nlohmann::json proof_json(const rehearse::MigrationProof& p) {
  nlohmann::json j = {{"version", p.version}, {"name", p.name}, {"has_down", p.has_down}, {"ran", p.ran},
                      {"mode", p.mode}, {"up_ms", p.up_ms}, {"down_ms", p.down_ms}, {"reup_ms", p.reup_ms},
                      {"before", p.before}, {"after", p.after}, {"diff", p.diff}, {"reapply_diff", p.reapply_diff}};
  j["restores"] = p.restores ? nlohmann::json(*p.restores) : nlohmann::json(nullptr);
  j["reapplies"] = p.reapplies ? nlohmann::json(*p.reapplies) : nlohmann::json(nullptr);
  nlohmann::json locks = nlohmann::json::array();
  for (auto& l : p.locks) locks.push_back({{"line", l.line}, {"statement", l.statement}, {"locks", l.locks}});
  j["locks"] = locks;
  if (p.error) j["error"] = error_json(*p.error);
  nlohmann::json surface = nlohmann::json::array();
  for (auto& f : p.surface) surface.push_back(findings::to_json(f));
  j["surface"] = surface;
  return j;
}

std::string lock_text(const std::string& l) {
  return l.rfind("AccessExclusiveLock", 0) == 0 ? red(l) : l;
}

std::string rehearse_markdown(const Session& s, const rehearse::Report& r, const std::string& where) {
  std::string md = fmt::format("# belay rehearse — {}\n\n", r.ok ? "every rollback proven" : "NOT PROVEN");
  md += fmt::format("- target: {}\n- migrations rehearsed: {}\n- rollback coverage: {}/{}\n- rollbacks that restore the "
                    "schema: {}/{}\n- re-applies to the same schema: {}/{}\n- failures: {}\n- total time: {:.0f} ms\n\n",
                    where, r.total, r.with_down, r.total, r.restored, r.with_down, r.reapplied, r.with_down, r.failed,
                    r.total_ms);
  md += "| version | name | down | restores | re-applies | up ms | down ms | ACCESS EXCLUSIVE on |\n"
        "|---|---|---|---|---|---|---|---|\n";
  for (auto& p : r.migrations) {
    std::string ae;
    for (auto& l : p.locks)
      for (auto& x : l.locks)
        if (x.rfind("AccessExclusiveLock on ", 0) == 0) ae += (ae.empty() ? "" : ", ") + x.substr(23);
    auto yn = [](const std::optional<bool>& b) { return b ? (*b ? "yes" : "**NO**") : "-"; };
    md += fmt::format("| {} | {} | {} | {} | {} | {:.1f} | {:.1f} | {} |\n", p.version, p.name,
                      p.has_down ? "yes" : "**missing**", yn(p.restores), yn(p.reapplies), p.up_ms, p.down_ms,
                      ae.empty() ? "-" : ae);
  }
  bool problems = false;
  for (auto& p : r.migrations)
    if (!p.diff.empty() || !p.reapply_diff.empty() || p.error) problems = true;
  if (problems) {
    md += "\n## What failed and why\n\n";
    for (auto& p : r.migrations) {
      if (p.diff.empty() && p.reapply_diff.empty() && !p.error) continue;
      md += fmt::format("### {}_{}\n\n", p.version, p.name);
      if (!p.diff.empty()) {
        md += "The rollback does not restore the schema; after down, compared with before up:\n\n";
        for (auto& d : p.diff) md += "- " + d + "\n";
      }
      if (!p.reapply_diff.empty()) {
        md += "\nRe-applying gives a different schema than the first apply:\n\n";
        for (auto& d : p.reapply_diff) md += "- " + d + "\n";
      }
      if (p.error) md += "\n```\n" + p.error->render() + "\n```\n";
      md += "\n";
    }
  }
  bool surface = false;
  for (auto& p : r.migrations) surface = surface || !p.surface.empty();
  if (surface) {
    md += "\n## Security surface regressions\n\n";
    for (auto& p : r.migrations)
      for (auto& f : p.surface)
        md += fmt::format("- `{}_{}` **{}** {}: {} — fix: {}\n", p.version, p.name, findings::to_string(f.severity),
                          f.rule, f.message, f.fix);
  }
  if (!r.missing_down.empty()) {
    md += "\n## Missing rollback scripts\n\n";
    for (auto& m : r.missing_down) md += "- `" + m + "`\n";
  }
  if (!r.notes.empty()) {
    md += "\n## Notes\n\n";
    for (auto& n : r.notes) md += "- " + n + "\n";
  }
  (void)s;
  return md;
}

struct RehearseFlags {
  bool require_down = false;
  bool keep = false;
  bool no_surface = false;
  int jobs = 0;
  std::string regressions_fail_at;
  RunFlags run;
};

int cmd_rehearse(const Global& g, const RehearseFlags& f) {
  // Without --target the rehearsal runs on a fresh shadow database; with one, on that
  // database (its pending migrations), like seed 002 does on staging.
  bool on_target = !g.target.empty();
  auto s = open_session(g, "rehearse", on_target);
  if (!s.ok()) return report_error(s.error());
  auto ro = run_options(*s, f.run);
  if (!ro.ok()) return report_error(ro.error());
  Shadows shadows(s->cfg);
  if (f.keep) shadows.keep();
  std::string dsn, where;
  rehearse::Options opt;
  opt.run = *ro;
  opt.require_down = f.require_down || s->cfg.require_down;
  opt.jobs = f.jobs;
  if (!f.no_surface) {
    auto sc = rls::surface_config(s->cfg, f.regressions_fail_at);
    if (!sc.ok()) return report_error(sc.error());
    opt.surface = sc->options;
    opt.surface_fail_at = sc->fail_at;
  }
  if (on_target) {
    dsn = s->target.dsn;
    where = s->target.display;
  } else {
    auto url = shadows.make();
    if (!url.ok()) return report_error(url.error());
    dsn = *url;
    where = "fresh shadow database on the embedded cluster";
    s->target.display = pg::redact(dsn);
    s->target.name = "shadow";
    opt.fresh_database = [&] { return shadows.make(); };
  }
  auto rec = Recorder::open(g, *s, "rehearse");
  if (!rec.ok()) return report_error(rec.error());
  bool human = !out().json;
  opt.on_progress = [&](const rehearse::MigrationProof& p, int i, int n) {
    if (!human) return;
    auto mark = [](const std::optional<bool>& b) { return b ? (*b ? green("yes") : red("NO")) : dim("-"); };
    std::cout << dim(fmt::format("[{}/{}] ", i, n)) << p.version << "_" << p.name << "  up "
              << fmt::format("{:.1f}", p.up_ms) << "ms";
    if (p.has_down)
      std::cout << "  down " << fmt::format("{:.1f}", p.down_ms) << "ms  restores " << mark(p.restores)
                << "  re-applies " << mark(p.reapplies);
    else
      std::cout << "  " << yellow("no rollback");
    std::cout << "\n";
    for (auto& l : p.locks)
      for (auto& x : l.locks) std::cout << "    " << dim(fmt::format("line {}: ", l.line)) << lock_text(x) << "\n";
    for (auto& d : p.diff) std::cout << "    " << red("left by rollback: ") << d << "\n";
    for (auto& d : p.reapply_diff) std::cout << "    " << red("re-apply differs: ") << d << "\n";
    if (p.error) std::cout << "    " << red("error: ") << p.error->render() << "\n";
    for (auto& f : p.surface) {
      auto sev = findings::to_string(f.severity);
      std::cout << "    " << (f.severity == findings::Severity::error ? red(sev) : f.severity == findings::Severity::warning ? yellow(sev) : dim(sev))
                << " " << f.rule << ": " << f.message << "\n";
    }
  };
  if (human) std::cout << bold("rehearsing on ") << where << "\n";
  auto r = rehearse::run(dsn, s->set, opt);
  if (!r.ok()) {
    rec->event("error", {{"message", r.error().render()}});
    rec->finish("failed", "# belay rehearse — FAILED\n\n```\n" + r.error().render() + "\n```\n");
    return report_error(r.error());
  }
  nlohmann::json migrations = nlohmann::json::array();
  for (auto& p : r->migrations) migrations.push_back(proof_json(p));
  nlohmann::json summary = {{"total", r->total},         {"with_down", r->with_down}, {"restored", r->restored},
                            {"reapplied", r->reapplied}, {"failed", r->failed},       {"missing_down", r->missing_down},
                            {"total_ms", r->total_ms}, {"tracked_fingerprints", r->tracked_updates},
                            {"surface_findings", r->surface_findings}, {"surface_failing", r->surface_failing}};
  nlohmann::json report = {{"ok", r->ok}, {"target", where}, {"migrations", migrations}, {"summary", summary},
                            {"notes", r->notes}};
  if (rec->active()) {
    rec->json_file("rehearse.json", report);
    for (auto& p : r->migrations)
      rec->event("proof", {{"version", p.version}, {"has_down", p.has_down},
                           {"restores", p.restores ? nlohmann::json(*p.restores) : nlohmann::json(nullptr)},
                           {"reapplies", p.reapplies ? nlohmann::json(*p.reapplies) : nlohmann::json(nullptr)}});
    rec->finish(r->ok ? "ok" : "failed", rehearse_markdown(*s, *r, where));
    report["evidence"] = rec->dir();
  }
  if (f.keep) report["kept_databases"] = shadows.names();
  if (out().json) {
    print_json(report);
  } else {
    std::cout << fmt::format("rollback coverage {}/{} · restores {}/{} · re-applies {}/{}{}{} · {:.0f} ms\n", r->with_down,
                             r->total, r->restored, r->with_down, r->reapplied, r->with_down,
                             r->failed ? fmt::format(" · {} failed", r->failed) : "",
                             r->surface_findings ? fmt::format(" · {} surface regression{} ({} failing)", r->surface_findings,
                                                               r->surface_findings == 1 ? "" : "s", r->surface_failing)
                                                 : "",
                             r->total_ms);
    if (rec->active()) std::cout << dim("evidence: " + rec->dir()) << "\n";
    std::cout << (r->ok ? green("every rollback proven") : red("not proven")) << "\n";
  }
  return r->ok ? 0 : static_cast<int>(ExitCode::failure);
}

}  // namespace

void add_rehearse_commands(CLI::App& app, Global& g, int& rc) {
  static bool list = false;
  auto* fp = app.add_subcommand("fingerprint", "hash of the schema model (and --objects to list it)");
  fp->add_flag("--objects", list, "list every object of the model");
  fp->callback([&] { rc = cmd_fingerprint(g, list); });

  static std::string from, to;
  static bool exit_code = false;
  auto* d = app.add_subcommand("diff", "compare two schemas: targets, or a target and 'migrations'");
  d->add_option("from", from, "target name, postgres:// URL, 'embedded' or 'migrations'")->required();
  d->add_option("to", to, "target name, postgres:// URL, 'embedded' or 'migrations'")->required();
  d->add_flag("--exit-code", exit_code, "exit 3 when the schemas differ");
  d->callback([&] { rc = cmd_diff(g, from, to, exit_code); });

  static RehearseFlags rf;
  auto* r = app.add_subcommand("rehearse", "prove every rollback on a throwaway database (or --target)");
  r->add_flag("--require-down", rf.require_down, "a migration without a rollback fails the rehearsal");
  r->add_flag("--keep", rf.keep, "keep the shadow databases for inspection");
  r->add_option("--jobs", rf.jobs, "shadow databases proving parts of the set at once (default: one per core, at most 4)")
      ->check(CLI::Range(0, 64));
  r->add_flag("--no-surface", rf.no_surface, "do not compare the security surface before and after each migration");
  r->add_option("--regressions-fail-at", rf.regressions_fail_at,
                "surface regressions at or above this fail the rehearsal: error (default), warning, info, never");
  r->add_option("--lock-timeout", rf.run.lock_timeout, "DDL lock_timeout");
  r->add_option("--statement-timeout", rf.run.statement_timeout, "statement_timeout");
  r->callback([&] { rc = cmd_rehearse(g, rf); });
}

}  // namespace belay::cli
