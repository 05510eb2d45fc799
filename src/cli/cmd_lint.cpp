// belay lint [PATHS...] [--format text|json|sarif|github] [--fail-on SEVERITY]
//            [--explain RULE] [--rules] [--target T]
// Needs no database unless --target is given (then it counts the rows behind data checks
// and records evidence like every command that touches a database).
#include <iostream>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/render.h"
#include "cli/session.h"
#include "lint/lint.h"

namespace belay::cli {
namespace {

struct LintFlags {
  std::vector<std::string> paths;
  std::string format, fail_on = "error", explain;
  bool rules = false;
};

int list_rules(const findings::Format fmt) {
  const auto& rules = lint::rules();
  if (fmt == findings::Format::json) {
    nlohmann::json arr = nlohmann::json::array();
    for (auto& r : rules)
      arr.push_back({{"id", r.id}, {"family", r.family}, {"severity", findings::to_string(r.severity)}, {"summary", r.summary}});
    print_json({{"rules", arr}});
    return 0;
  }
  size_t w = 0;
  for (auto& r : rules) w = std::max(w, r.id.size());
  for (auto& r : rules)
    std::cout << fmt::format("{:<{}}  {:<15}  {:<7}  {}\n", r.id, w, r.family, findings::to_string(r.severity), r.summary);
  std::cout << dim(fmt::format("{} rules; `belay lint --explain RULE` for one", rules.size())) << "\n";
  return 0;
}

int explain_rule(const std::string& id, findings::Format fmt) {
  const auto* r = lint::find_rule(id);
  if (!r)
    return report_error(Error::usage(fmt::format("unknown rule '{}'", id)).with_next("`belay lint --rules` lists them"));
  if (fmt == findings::Format::json) {
    print_json({{"id", r->id}, {"family", r->family}, {"severity", findings::to_string(r->severity)},
                {"summary", r->summary}, {"explanation", r->explanation}});
    return 0;
  }
  std::cout << lint::explain(*r);
  return 0;
}

nlohmann::json report_json(const lint::Report& rep) {
  nlohmann::json checks = nlohmann::json::array();
  for (auto& d : rep.data_checks)
    checks.push_back({{"table", d.table}, {"what", d.what}, {"violations", d.violations}, {"result", d.result}});
  nlohmann::json fs = nlohmann::json::parse(findings::render(rep.findings, findings::Format::json, {}));
  fs["files"] = rep.files;
  fs["statements"] = rep.statements;
  fs["data_checks"] = checks;
  return fs;
}

int cmd_lint(const Global& g, const LintFlags& f) {
  auto fmt = findings::parse_format(f.format.empty() ? (g.json ? "json" : "text") : f.format);
  if (!fmt) return report_error(Error::usage(fmt::format("--format must be text, json, sarif or github, not '{}'", f.format)));
  auto fail_on = findings::parse_severity(f.fail_on);
  if (!fail_on) return report_error(Error::usage(fmt::format("--fail-on must be info, warning or error, not '{}'", f.fail_on)));
  if (f.rules) return list_rules(*fmt);
  if (!f.explain.empty()) return explain_rule(f.explain, *fmt);

  // Only --target connects: lint itself never needs a database (DATABASE_URL is ignored).
  bool connect = !g.target.empty();
  auto s = open_session(g, "lint", connect, false);
  if (!s.ok()) return report_error(s.error());
  auto opt = lint::options_for(s->cfg);
  if (!opt.ok()) return report_error(opt.error());
  std::vector<std::filesystem::path> paths(f.paths.begin(), f.paths.end());
  auto rep = lint::lint_project(s->cfg, paths, *opt);
  if (!rep.ok()) return report_error(rep.error());

  if (connect) {
    auto rec = Recorder::open(g, *s, "lint");
    if (!rec.ok()) return report_error(rec.error());
    Status checked = lint::check_data(*s->conn, *rep, s->target.display);
    auto j = report_json(*rep);
    rec->json_file("lint.json", j);
    rec->event("lint", {{"files", rep->files}, {"findings", rep->findings.size()}, {"data_checks", rep->data_checks.size()},
                        {"ok", checked.ok()}});
    std::string md = fmt::format("# belay lint\n\n- target: `{}`\n- files: {}, statements: {}\n- findings: {}\n\n",
                                 s->target.display, rep->files, rep->statements, rep->findings.size());
    for (auto& d : rep->data_checks) md += fmt::format("- {} on `{}`: {}\n", d.what, d.table, d.result);
    rec->finish(checked.ok() ? "ok" : "failed", md);
    if (!checked.ok()) return report_error(checked.error());
  }

  findings::RenderOptions ro;
  ro.color = *fmt == findings::Format::text && out().color;
  ro.tool_version = "0.1.0";
  ro.rules = lint::rules();
  std::cout << findings::render(rep->findings, *fmt, ro) << std::flush;
  return static_cast<int>(findings::exit_code(rep->findings, *fail_on));
}

}  // namespace

void add_lint_commands(CLI::App& app, Global& g, int& rc) {
  static LintFlags f;
  auto* c = app.add_subcommand("lint", "find lock, client-breaking and Supabase security hazards in migrations before they run");
  c->add_option("paths", f.paths, "files or folders to report on (default: the project's migrations)");
  c->add_option("--format", f.format, "text (default), json, sarif or github (workflow annotations); --json = json");
  c->add_option("--fail-on", f.fail_on, "exit 1 when a finding is at or above this severity: info, warning, error (default)");
  c->add_option("--explain", f.explain, "print what a rule checks, why, and the safe alternative");
  c->add_flag("--rules", f.rules, "list every rule");
  c->callback([&] { rc = cmd_lint(g, f); });
}

}  // namespace belay::cli
