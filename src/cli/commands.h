// CLI commands: parse nothing, print results. Each returns the process exit code.
#pragma once

#include <optional>
#include <string>

#include <CLI/CLI.hpp>

namespace belay::cli {

struct Global {
  std::string project_dir = ".";
  std::string target;
  bool json = false;
  bool no_color = false;
};

void add_db_commands(CLI::App& app, Global& g, int& rc);
void add_migrate_commands(CLI::App& app, Global& g, int& rc);

}  // namespace belay::cli
