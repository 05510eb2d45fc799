// Small file helpers; errors name the file.
#pragma once

#include <filesystem>
#include <string>

#include "util/error.h"

namespace belay::fs {

Result<std::string> read_file(const std::filesystem::path& p);
// Writes to a temporary sibling and renames, so readers never see half a file.
Status write_file_atomic(const std::filesystem::path& p, const std::string& data, int mode = 0644);

}  // namespace belay::fs
