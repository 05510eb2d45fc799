// Rendering results for people (colour only on a terminal) and for machines (--json).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "util/error.h"

namespace belay::cli {

struct Output {
  bool json = false;
  bool color = false;      // stdout is a terminal and colour was not disabled
  bool err_color = false;  // same for stderr
};

Output& out();  // process-wide output settings, set once by main()

std::string paint(const std::string& s, const char* code, bool on);
std::string green(const std::string& s);
std::string red(const std::string& s);
std::string yellow(const std::string& s);
std::string dim(const std::string& s);
std::string bold(const std::string& s);

nlohmann::json error_json(const Error& e);
// Prints an error (stderr for humans; a JSON object on stdout with --json) and returns
// its exit code.
int report_error(const Error& e);
void print_json(const nlohmann::json& j);

}  // namespace belay::cli
