// Text helpers shared by several modules.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace belay::text {

// Byte offset of the first invalid UTF-8 sequence, or nullopt if valid.
std::optional<size_t> first_invalid_utf8(std::string_view s);

// Parses PostgreSQL-style durations: "250ms", "2s", "1min", "1h", "0" (milliseconds if unitless).
std::optional<std::chrono::milliseconds> parse_duration(std::string_view s);
// Formats as PostgreSQL accepts it in SET: "2000ms".
std::string pg_duration(std::chrono::milliseconds d);

std::string trim(std::string_view s);
bool starts_with_ci(std::string_view s, std::string_view prefix);

}  // namespace belay::text
