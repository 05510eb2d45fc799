#include "util/error.h"

#include <fmt/format.h>

namespace belay {

std::string Error::location() const {
  if (file.empty()) return {};
  if (line <= 0) return file;
  if (column <= 0) return fmt::format("{}:{}", file, line);
  return fmt::format("{}:{}:{}", file, line, column);
}

std::string Error::render() const {
  std::string out;
  auto loc = location();
  if (!loc.empty()) out += loc + ": ";
  out += message;
  if (!sqlstate.empty()) out += fmt::format(" (SQLSTATE {})", sqlstate);
  if (!object.empty()) out += fmt::format("\n  object: {}", object);
  if (!detail.empty()) out += fmt::format("\n  detail: {}", detail);
  if (!hint.empty()) out += fmt::format("\n  hint: {}", hint);
  if (!next.empty()) out += fmt::format("\n  next: {}", next);
  return out;
}

}  // namespace belay
