#include "cli/render.h"

#include <cstdio>
#include <iostream>

#include <fmt/format.h>

namespace belay::cli {

Output& out() {
  static Output o;
  return o;
}

std::string paint(const std::string& s, const char* code, bool on) {
  return on ? fmt::format("\033[{}m{}\033[0m", code, s) : s;
}
std::string green(const std::string& s) { return paint(s, "32", out().color); }
std::string red(const std::string& s) { return paint(s, "31", out().color); }
std::string yellow(const std::string& s) { return paint(s, "33", out().color); }
std::string dim(const std::string& s) { return paint(s, "2", out().color); }
std::string bold(const std::string& s) { return paint(s, "1", out().color); }

nlohmann::json error_json(const Error& e) {
  nlohmann::json j = {{"message", e.message}, {"exit_code", static_cast<int>(e.code)}};
  if (!e.file.empty()) j["file"] = e.file;
  if (e.line) j["line"] = e.line;
  if (e.column) j["column"] = e.column;
  if (!e.object.empty()) j["object"] = e.object;
  if (!e.sqlstate.empty()) j["sqlstate"] = e.sqlstate;
  if (!e.detail.empty()) j["detail"] = e.detail;
  if (!e.hint.empty()) j["hint"] = e.hint;
  if (!e.next.empty()) j["next"] = e.next;
  return j;
}

int report_error(const Error& e) {
  if (out().json) {
    print_json({{"ok", false}, {"error", error_json(e)}});
  } else {
    std::cerr << paint("error: ", "31;1", out().err_color) << e.render() << "\n";
  }
  return static_cast<int>(e.code);
}

void print_json(const nlohmann::json& j) {
  std::cout << j.dump(2) << std::endl;
}

}  // namespace belay::cli
