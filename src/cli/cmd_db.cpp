// belay init, belay db start|stop|status|url
#include <iostream>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/render.h"
#include "embedded/embedded.h"
#include "project/project.h"

namespace belay::cli {
namespace {

nlohmann::json info_json(const embedded::Info& i) {
  nlohmann::json j = {{"state", i.state},       {"data_dir", i.data.string()}, {"socket_dir", i.socket_dir.string()},
                      {"port", i.port},         {"pid", i.pid},                {"version", i.version},
                      {"bin_dir", i.bin_dir},   {"url", i.url},                {"log_file", i.log_file.string()}};
  if (!i.detail.empty()) j["detail"] = i.detail;
  if (i.start_ms > 0) j["start_ms"] = i.start_ms;
  return j;
}

void print_info(const embedded::Info& i) {
  auto state = i.state == "running" ? green(i.state) : (i.state == "crashed" ? red(i.state) : yellow(i.state));
  std::cout << "embedded PostgreSQL: " << state << "\n";
  if (i.state != "absent") {
    std::cout << "  version   " << i.version << "  (" << i.bin_dir << ")\n"
              << "  data      " << i.data.string() << "\n"
              << "  listening 127.0.0.1:" << i.port << " and " << i.socket_dir.string() << "\n";
    if (i.pid) std::cout << "  pid       " << i.pid << "\n";
    std::cout << "  url       " << i.url << "\n";
  }
  if (!i.detail.empty()) std::cout << "  note      " << i.detail << "\n";
  if (i.start_ms > 0) std::cout << dim(fmt::format("  ready in {:.0f} ms", i.start_ms)) << "\n";
}

template <typename F>
int with_cluster(const Global& g, F&& f) {
  auto cfg = project::load(g.project_dir);
  if (!cfg.ok()) return report_error(cfg.error());
  embedded::Cluster cluster(cfg->root, project::embedded_options(*cfg));
  auto r = f(cluster);
  if (!r.ok()) return report_error(r.error());
  if (out().json) print_json(info_json(*r));
  else print_info(*r);
  return 0;
}

}  // namespace

void add_db_commands(CLI::App& app, Global& g, int& rc) {
  auto* init = app.add_subcommand("init", "scaffold belay.toml and a migrations folder");
  static bool supabase = false;
  init->add_flag("--supabase", supabase, "Supabase CLI layout (supabase/migrations, flavor = \"supabase\")");
  init->callback([&] {
    auto r = project::init(g.project_dir, supabase);
    if (!r.ok()) { rc = report_error(r.error()); return; }
    if (out().json) print_json({{"ok", true}, {"created", *r}});
    else {
      for (auto& p : *r) std::cout << green("created ") << p << "\n";
      if (r->empty()) std::cout << "nothing to do: belay.toml and the migrations folder exist\n";
    }
  });

  auto* db = app.add_subcommand("db", "manage the project's embedded PostgreSQL (under .belay/)");
  db->require_subcommand(1);
  db->add_subcommand("start", "initialise (first time) and start it; recovers from a crash")->callback([&] {
    rc = with_cluster(g, [](embedded::Cluster& c) { return c.start(); });
  });
  db->add_subcommand("stop", "fast shutdown")->callback([&] {
    rc = with_cluster(g, [](embedded::Cluster& c) { return c.stop(); });
  });
  db->add_subcommand("status", "absent, stopped, running or crashed")->callback([&] {
    rc = with_cluster(g, [](embedded::Cluster& c) { return c.status(); });
  });
  auto* url = db->add_subcommand("url", "print a libpq URL for the embedded database (starts it if needed)");
  static std::string dbname = embedded::Cluster::kDefaultDatabase;
  url->add_option("--database", dbname, "database name");
  url->callback([&] {
    auto cfg = project::load(g.project_dir);
    if (!cfg.ok()) { rc = report_error(cfg.error()); return; }
    embedded::Cluster cluster(cfg->root, project::embedded_options(*cfg));
    auto info = cluster.start();
    if (!info.ok()) { rc = report_error(info.error()); return; }
    auto u = cluster.url(dbname);
    if (out().json) print_json({{"url", u}});
    else std::cout << u << "\n";
  });
}

}  // namespace belay::cli
