// Running child processes (initdb, pg_ctl, psql, belay itself in tests), optionally
// as another user: PostgreSQL refuses to run as root.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "util/error.h"

namespace belay::proc {

struct Options {
  std::optional<uid_t> uid;          // switch to this user (requires root)
  std::optional<gid_t> gid;
  std::string cwd;                   // empty: inherit
  std::vector<std::string> env;      // "KEY=VALUE" added/overridden
  std::vector<std::string> unset;    // variable names removed from the environment
  std::string stdin_data;            // written to the child's stdin, then closed
  // SIGTERM the child when the thread that started it dies, however it dies (tests use
  // this so a killed test run leaves no `belay serve` behind). Linux only.
  bool die_with_parent = false;
};

struct Outcome {
  int exit_code = -1;   // -1 when killed by a signal
  int signal = 0;
  std::string out;
  std::string err;
  bool ok() const { return exit_code == 0; }
};

// Runs argv[0] (searched in PATH) to completion, capturing stdout and stderr.
Result<Outcome> run(const std::vector<std::string>& argv, const Options& opt = {});

// Starts argv in the background with stdout/stderr captured to files; returns its pid.
Result<pid_t> spawn(const std::vector<std::string>& argv, const Options& opt,
                    const std::string& out_file, const std::string& err_file);

// Looks up a user; nullopt if absent.
struct User { uid_t uid; gid_t gid; std::string name; std::string home; };
std::optional<User> lookup_user(const std::string& name);

}  // namespace belay::proc
