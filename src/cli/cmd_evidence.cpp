// belay evidence verify DIR | show DIR
#include <iostream>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/render.h"
#include "evidence/evidence.h"
#include "project/project.h"

namespace belay::cli {
namespace {

// DIR, or the newest run of the project when DIR is omitted.
Result<std::filesystem::path> run_dir(const Global& g, const std::string& dir) {
  if (!dir.empty()) return std::filesystem::path(dir);
  BELAY_ASSIGN(auto cfg, project::load(g.project_dir));
  auto latest = evidence::latest_run(cfg.root);
  if (!latest) return Error::usage("no run directory under " + (cfg.root / "artifacts").string());
  return *latest;
}

int cmd_verify(const Global& g, const std::string& dir) {
  auto d = run_dir(g, dir);
  if (!d.ok()) return report_error(d.error());
  auto v = evidence::verify(*d);
  if (!v.ok()) return report_error(v.error());
  if (out().json) {
    print_json({{"ok", v->ok}, {"dir", d->string()}, {"problem", v->problem}, {"events", v->events}, {"files", v->files}});
  } else if (v->ok) {
    std::cout << green("OK") << "  " << d->string() << dim(fmt::format("  ({} events, {} files)", v->events, v->files))
              << "\n";
  } else {
    std::cout << red("TAMPERED") << "  " << d->string() << "\n  " << v->problem << "\n";
  }
  return v->ok ? 0 : static_cast<int>(ExitCode::failure);
}

int cmd_show(const Global& g, const std::string& dir) {
  auto d = run_dir(g, dir);
  if (!d.ok()) return report_error(d.error());
  auto ev = evidence::read_events(*d);
  if (!ev.ok()) return report_error(ev.error());
  if (out().json) {
    nlohmann::json arr = nlohmann::json::array();
    for (auto& e : *ev) arr.push_back({{"seq", e.seq}, {"ts", e.ts}, {"kind", e.kind}, {"data", e.data}, {"hash", e.hash}});
    print_json({{"dir", d->string()}, {"events", arr}});
    return 0;
  }
  std::cout << bold(d->string()) << "\n";
  for (auto& e : *ev) {
    std::string data = e.data.dump();
    if (data.size() > 160) data = data.substr(0, 157) + "...";
    std::cout << fmt::format("{:>4}  {}  {:<14} ", e.seq, e.ts, e.kind) << dim(data) << "\n";
  }
  return 0;
}

}  // namespace

void add_evidence_commands(CLI::App& app, Global& g, int& rc) {
  auto* ev = app.add_subcommand("evidence", "check and read run directories (artifacts/<date>/<run>/)");
  ev->require_subcommand(1);
  static std::string vdir, sdir;
  auto* v = ev->add_subcommand("verify", "OK, or the first altered, missing or reordered file or event");
  v->add_option("dir", vdir, "run directory (default: the newest)");
  v->callback([&] { rc = cmd_verify(g, vdir); });
  auto* s = ev->add_subcommand("show", "the run's timeline");
  s->add_option("dir", sdir, "run directory (default: the newest)");
  s->callback([&] { rc = cmd_show(g, sdir); });
}

}  // namespace belay::cli
