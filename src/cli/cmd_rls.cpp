// belay rls check [--format text|json|sarif|github] [--fail-on S] [--rules] [--explain ID]
// belay rls test [--contract FILE] [--generate] [--script FILE]
// A thin layer over rls/: both read a live database (the target), so both record evidence.
#include <iostream>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/render.h"
#include "cli/session.h"
#include "rls/rls.h"
#include "util/fs.h"
#include "util/sha256.h"

namespace belay::cli {
namespace {

struct CheckFlags {
  std::string format, fail_on = "error", explain;
  bool rules = false;
};

struct TestFlags {
  std::string contract, script;
  bool generate = false;
};

int list_checks(findings::Format fmt) {
  auto rules = rls::checks();
  if (fmt == findings::Format::json) {
    nlohmann::json arr = nlohmann::json::array();
    for (auto& r : rules)
      arr.push_back({{"id", r.id}, {"family", r.family}, {"severity", findings::to_string(r.severity)}, {"summary", r.summary}});
    print_json({{"checks", arr}});
    return 0;
  }
  size_t w = 0;
  for (auto& r : rules) w = std::max(w, r.id.size());
  for (auto& r : rules)
    std::cout << fmt::format("{:<{}}  {:<11}  {:<7}  {}\n", r.id, w, r.family, findings::to_string(r.severity), r.summary);
  std::cout << dim(fmt::format("{} checks; `belay rls check --explain ID` for one", rules.size())) << "\n";
  return 0;
}

int explain_check(const std::string& id, findings::Format fmt) {
  for (auto& r : rls::checks()) {
    if (r.id != id) continue;
    if (fmt == findings::Format::json) {
      print_json({{"id", r.id}, {"family", r.family}, {"severity", findings::to_string(r.severity)},
                  {"summary", r.summary}, {"explanation", r.explanation}});
      return 0;
    }
    std::cout << bold(r.id) << "  (" << r.family << ", " << findings::to_string(r.severity) << ")\n"
              << r.summary << "\n\n" << r.explanation << "\n";
    return 0;
  }
  return report_error(Error::usage(fmt::format("unknown check '{}'", id)).with_next("`belay rls check --rules` lists them"));
}

int cmd_check(const Global& g, const CheckFlags& f) {
  auto fmt = findings::parse_format(f.format.empty() ? (g.json ? "json" : "text") : f.format);
  if (!fmt) return report_error(Error::usage(fmt::format("--format must be text, json, sarif or github, not '{}'", f.format)));
  auto fail_on = findings::parse_severity(f.fail_on);
  if (!fail_on) return report_error(Error::usage(fmt::format("--fail-on must be info, warning or error, not '{}'", f.fail_on)));
  if (f.rules) return list_checks(*fmt);
  if (!f.explain.empty()) return explain_check(f.explain, *fmt);

  auto s = open_session(g, "rls check", true, false);
  if (!s.ok()) return report_error(s.error());
  auto cfg = rls::check_config(s->cfg);
  if (!cfg.ok()) return report_error(cfg.error());
  auto rep = rls::check(*s->conn, *cfg);
  if (!rep.ok()) return report_error(rep.error());

  auto j = nlohmann::json::parse(findings::render(rep->findings, findings::Format::json, {}));
  j["target"] = s->target.display;
  j["exposed_schemas"] = cfg->exposed_schemas;
  j["ignored"] = rep->ignored;
  j["unused_ignores"] = rep->unused_ignores;
  auto rec = Recorder::open(g, *s, "rls check");
  if (!rec.ok()) return report_error(rec.error());
  rec->json_file("rls_check.json", j);
  rec->event("rls check", {{"findings", rep->findings.size()}, {"ignored", rep->ignored}});
  std::string md = fmt::format("# belay rls check\n\n- target: `{}`\n- exposed schemas: {}\n- findings: {} ({} ignored)\n\n",
                               s->target.display, fmt::join(cfg->exposed_schemas, ", "), rep->findings.size(), rep->ignored);
  for (auto& x : rep->findings) md += fmt::format("- **{}** `{}`: {}\n", findings::to_string(x.severity), x.rule, x.message);
  int rc = static_cast<int>(findings::exit_code(rep->findings, *fail_on));
  rec->finish(rc == 0 ? "ok" : "findings", md);

  findings::RenderOptions ro;
  ro.color = *fmt == findings::Format::text && out().color;
  ro.tool_version = "0.1.0";
  ro.rules = rls::checks();
  if (*fmt == findings::Format::json) print_json(j);
  else std::cout << findings::render(rep->findings, *fmt, ro) << std::flush;
  // An ignore that matches nothing is stale: say so (on stderr, machine formats stay clean).
  for (auto& u : rep->unused_ignores)
    std::cerr << yellow("note: ") << "[rls] ignore entry \"" << u << "\" matched no finding\n";
  return rc;
}

std::string cell(const std::vector<rls::ProbeResult>& rs, const std::string& table, const std::string& persona,
                 rls::Command cmd) {
  for (auto& r : rs)
    if (r.table == table && r.persona == persona && r.command == cmd) return r.ok ? "ok" : "MISMATCH";
  return "-";
}

nlohmann::json result_json(const rls::ProbeResult& r) {
  nlohmann::json j = {{"table", r.table},    {"persona", r.persona},         {"command", rls::to_string(r.command)},
                      {"expected", r.expected.text()}, {"actual", r.actual}, {"ok", r.ok}};
  if (!r.detail.empty()) j["detail"] = r.detail;
  if (!r.note.empty()) j["note"] = r.note;
  return j;
}

int cmd_generate(const Global& g, Session& s, const TestFlags& f) {
  auto cfg = rls::check_config(s.cfg);
  if (!cfg.ok()) return report_error(cfg.error());
  auto text = rls::generate_contract(*s.conn, *cfg);
  if (!text.ok()) return report_error(text.error());
  auto rec = Recorder::open(g, s, "rls test --generate");
  if (!rec.ok()) return report_error(rec.error());
  rec->event("rls generate", {{"bytes", text->size()}, {"sha256", sha256_hex(*text)}});
  std::string written;
  if (!f.contract.empty()) {
    auto path = std::filesystem::path(f.contract);
    if (path.is_relative()) path = std::filesystem::current_path() / path;
    if (std::filesystem::exists(path)) {
      rec->finish("refused", "# belay rls test --generate\n\nRefused: the contract file exists.\n");
      return report_error(Error::refused(fmt::format("{} exists; the draft would replace it", path.string()))
                              .with_next("generate to stdout (no --contract) and merge by hand, or remove the file"));
    }
    std::error_code ec;
    std::filesystem::create_directories(path.parent_path(), ec);
    auto w = fs::write_file_atomic(path, *text);
    if (!w.ok()) return report_error(w.error());
    written = path.string();
  }
  rec->finish("ok", fmt::format("# belay rls test --generate\n\n- target: `{}`\n- draft contract: {}\n", s.target.display,
                                written.empty() ? "printed" : "`" + written + "`"));
  if (out().json) print_json({{"contract", *text}, {"written", written}});
  else if (written.empty()) std::cout << *text;
  else std::cout << green("wrote ") << written << dim("  (a draft: review every expectation)") << "\n";
  return 0;
}

int cmd_test(const Global& g, const TestFlags& f) {
  auto s = open_session(g, "rls test", true, false);
  if (!s.ok()) return report_error(s.error());
  if (f.generate) return cmd_generate(g, *s, f);
  auto path = std::filesystem::path(f.contract.empty() ? s->cfg.rls.contract : f.contract);
  if (path.is_relative()) path = (f.contract.empty() ? s->cfg.root : std::filesystem::current_path()) / path;
  auto contract = rls::load_contract(path);
  if (!contract.ok()) return report_error(contract.error());
  rls::TestOptions opt;
  opt.search_path = s->cfg.exposed_schemas;
  for (auto* extra : {"public", "extensions"})
    if (std::find(opt.search_path.begin(), opt.search_path.end(), extra) == opt.search_path.end()) opt.search_path.push_back(extra);
  opt.keep_script = !f.script.empty();
  auto rep = rls::run_contract(*s->conn, *contract, opt);
  if (!rep.ok()) return report_error(rep.error());
  if (!f.script.empty()) {
    auto w = fs::write_file_atomic(f.script, "\\set ON_ERROR_STOP 0\n" + rep->script);
    if (!w.ok()) return report_error(w.error());
  }

  nlohmann::json results = nlohmann::json::array();
  for (auto& r : rep->results) results.push_back(result_json(r));
  auto text = fs::read_file(path);
  nlohmann::json j = {{"ok", rep->mismatches == 0},
                      {"target", s->target.display},
                      {"contract", path.string()},
                      {"contract_sha256", text.ok() ? sha256_hex(*text) : ""},
                      {"results", results},
                      {"summary",
                       {{"expectations", rep->results.size()}, {"mismatches", rep->mismatches}, {"probes", rep->probes},
                        {"statements", rep->statements}, {"ms", rep->ms}}}};
  auto rec = Recorder::open(g, *s, "rls test");
  if (!rec.ok()) return report_error(rec.error());
  rec->json_file("rls_test.json", j);
  rec->event("rls test", {{"expectations", rep->results.size()}, {"mismatches", rep->mismatches}});
  std::string md = fmt::format("# belay rls test\n\n- target: `{}`\n- contract: `{}`\n- {} expectations, {} mismatches\n\n",
                               s->target.display, path.string(), rep->results.size(), rep->mismatches);
  for (auto& r : rep->results)
    if (!r.ok)
      md += fmt::format("- **{} {} as {}**: expected {}, got {}. {}\n", rls::to_string(r.command), r.table, r.persona,
                        r.expected.text(), r.actual, r.detail);
  int rc = rep->mismatches ? static_cast<int>(ExitCode::failure) : 0;
  rec->finish(rc ? "mismatch" : "ok", md);
  if (out().json) {
    print_json(j);
    return rc;
  }

  std::cout << bold("target ") << s->target.display << dim("  contract " + path.string()) << "\n\n";
  for (auto& r : rep->results) {
    if (r.ok && r.note.empty()) continue;
    std::cout << (r.ok ? yellow("note    ") : red("MISMATCH")) << " " << bold(r.table) << " "
              << rls::to_string(r.command) << " as " << bold(r.persona) << "\n"
              << "  expected " << r.expected.text() << "\n"
              << "  actual   " << r.actual << "\n";
    if (!r.detail.empty()) std::cout << "  " << r.detail << "\n";
    if (!r.note.empty()) std::cout << dim("  note: " + r.note) << "\n";
  }
  // The matrix: table x persona rows (in the contract's order), one column per command.
  std::vector<std::pair<std::string, std::string>> rows;
  size_t tw = 5, pw = 7;
  for (auto& t : contract->tables)
    for (auto& p : contract->personas) {
      bool any = false;
      for (auto& r : rep->results) any = any || (r.table == t.table && r.persona == p.name);
      if (!any) continue;
      rows.emplace_back(t.table, p.name);
      tw = std::max(tw, t.table.size());
      pw = std::max(pw, p.name.size());
    }
  std::cout << "\n" << bold(fmt::format("{:<{}}  {:<{}}  {:<9}{:<9}{:<9}{}", "table", tw, "persona", pw, "select", "insert",
                                        "update", "delete"))
            << "\n";
  for (auto& [t, p] : rows) {
    std::cout << fmt::format("{:<{}}  {:<{}}  ", t, tw, p, pw);
    for (auto cmd : {rls::Command::select, rls::Command::insert, rls::Command::update, rls::Command::delete_}) {
      auto c = cell(rep->results, t, p, cmd);
      auto padded = cmd == rls::Command::delete_ ? c : fmt::format("{:<9}", c);
      std::cout << (c == "MISMATCH" ? red(padded) : c == "ok" ? green(padded) : dim(padded));
    }
    std::cout << "\n";
  }
  std::cout << "\n"
            << (rep->mismatches ? red(fmt::format("{} of {} expectations failed", rep->mismatches, rep->results.size()))
                                : green(fmt::format("all {} expectations hold", rep->results.size())))
            << dim(fmt::format("  ({} probes, {} statements, {:.0f} ms)", rep->probes, rep->statements, rep->ms)) << "\n";
  return rc;
}

}  // namespace

void add_rls_commands(CLI::App& app, Global& g, int& rc) {
  auto* rls = app.add_subcommand("rls", "row level security and privileges: catalog checks and contract tests");
  rls->require_subcommand(1);

  static CheckFlags cf;
  auto* check = rls->add_subcommand("check", "find leaks in a live database: RLS off, always-true policies, views and "
                                             "SECURITY DEFINER functions that bypass RLS, exposed secrets, ...");
  check->add_option("--format", cf.format, "text (default), json, sarif or github (workflow annotations); --json = json");
  check->add_option("--fail-on", cf.fail_on, "exit 1 when a finding is at or above this severity: info, warning, error (default)");
  check->add_option("--explain", cf.explain, "print what a check looks for, why it matters and the fix");
  check->add_flag("--rules", cf.rules, "list every check");
  check->callback([&] { rc = cmd_check(g, cf); });

  static TestFlags tf;
  auto* test = rls->add_subcommand("test", "test the RLS contract: act as each persona the way PostgREST does and compare "
                                           "what it may do with what the contract says");
  test->add_option("--contract", tf.contract, "contract file (default: [rls] contract in belay.toml, rls/contract.toml)");
  test->add_flag("--generate", tf.generate, "draft a contract from the current policies (to stdout, or into --contract FILE)");
  test->add_option("--script", tf.script, "also write every statement sent, as a psql script");
  test->callback([&] { rc = cmd_test(g, tf); });
}

}  // namespace belay::cli
