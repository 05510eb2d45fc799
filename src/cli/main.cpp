// belay: executable, rehearsable, provable Postgres release runbooks.
// A thin CLI: argument parsing and rendering only; behaviour lives in belay_core.
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/render.h"

int main(int argc, char** argv) {
  using namespace belay::cli;
  CLI::App app{"belay — executable, rehearsable, provable Postgres/Supabase releases"};
  app.require_subcommand(1);
  app.fallthrough();  // global flags (--json, --target, -C) also after the subcommand
  app.set_version_flag("--version", "belay 0.1.0");
  Global g;
  app.add_option("-C,--project", g.project_dir, "project directory (holds belay.toml)");
  app.add_option("-t,--target", g.target,
                 "target: a name from belay.toml, a postgres:// URL, or 'embedded' (default: $DATABASE_URL, else the embedded cluster)");
  app.add_flag("--json", g.json, "machine-readable output");
  app.add_flag("--no-color", g.no_color, "no colour even on a terminal");
  app.add_flag("--no-evidence", g.no_evidence, "do not write a run directory under artifacts/");
  for (int i = 0; i < argc; ++i) g.argv.push_back(argv[i]);
  int rc = 0;
  add_serve_commands(app, g, rc);
  add_db_commands(app, g, rc);
  add_migrate_commands(app, g, rc);
  add_rehearse_commands(app, g, rc);
  add_evidence_commands(app, g, rc);
  add_lint_commands(app, g, rc);
  add_rls_commands(app, g, rc);
  add_backfill_commands(app, g, rc);
  add_flags_commands(app, g, rc);
  app.parse_complete_callback([&] {
    out().json = g.json;
    bool nocolor = g.no_color || std::getenv("NO_COLOR") != nullptr;
    out().color = !nocolor && ::isatty(1);
    out().err_color = !nocolor && ::isatty(2);
  });
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int r = app.exit(e);
    return r == 0 ? 0 : static_cast<int>(belay::ExitCode::usage);
  }
  return rc;
}
