// CLI commands: parse nothing, print results. Each returns the process exit code.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace belay::cli {

struct Global {
  std::string project_dir = ".";
  std::string target;
  bool json = false;
  bool no_color = false;
  bool no_evidence = false;          // skip the run directory under artifacts/
  std::vector<std::string> argv;     // as given, for the evidence log (redacted there)
};

void add_serve_commands(CLI::App& app, Global& g, int& rc);
void add_db_commands(CLI::App& app, Global& g, int& rc);
void add_migrate_commands(CLI::App& app, Global& g, int& rc);
void add_rehearse_commands(CLI::App& app, Global& g, int& rc);
void add_evidence_commands(CLI::App& app, Global& g, int& rc);
void add_lint_commands(CLI::App& app, Global& g, int& rc);
void add_rls_commands(CLI::App& app, Global& g, int& rc);
void add_backfill_commands(CLI::App& app, Global& g, int& rc);
void add_flags_commands(CLI::App& app, Global& g, int& rc);

}  // namespace belay::cli
