// Findings: what `belay lint` and `belay rls check` report, and the formats reviewers and
// CI systems read (text, JSON, SARIF 2.1.0, GitHub workflow annotations). One shape for
// both capabilities, so suppression, --fail-on and exit codes behave the same.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "util/error.h"

namespace belay::findings {

enum class Severity { info, warning, error };
const char* to_string(Severity s);                       // "info", "warning", "error"
std::optional<Severity> parse_severity(std::string_view s);

// A rule as `--rules` lists it and `--explain RULE` prints it.
struct RuleInfo {
  std::string id;            // e.g. "index-without-concurrently", "rls-disabled-in-exposed-schema"
  std::string family;        // e.g. "locks", "client-breakage", "robustness", "security", "types"
  Severity severity = Severity::warning;   // default, before belay.toml overrides
  std::string summary;       // one line
  std::string explanation;   // why it matters and the safe alternative (several lines)
};

struct Finding {
  std::string rule;
  Severity severity = Severity::warning;
  std::string message;       // names the object: "index public.t_owner_idx is built without CONCURRENTLY"
  std::string object;        // e.g. "public.t" (empty when none)
  std::string fix;           // the safe alternative, one or two lines
  // Where, for findings in files (lint). Empty file for catalog findings (rls check).
  std::string file;          // as given / relative to the project root
  int line = 0, column = 0;  // 1-based; 0 = unknown
  std::string source_line;   // the line of source the caret points into (text output)
};

enum class Format { text, json, sarif, github };
std::optional<Format> parse_format(std::string_view s);

struct RenderOptions {
  bool color = false;                 // text only; callers pass isatty()
  std::string tool = "belay";         // SARIF tool.driver.name
  std::string tool_version;
  std::vector<RuleInfo> rules;        // SARIF tool.driver.rules, and help text
};

// One finding as the JSON format prints it (file, line, column, rule, severity, message,
// object, fix): for reports that embed findings.
nlohmann::json to_json(const Finding& f);

// The whole stdout document for `fmt` (machine formats are nothing but the document).
std::string render(const std::vector<Finding>& f, Format fmt, const RenderOptions& opt);

// Exit code rule shared by lint and rls check: failure (1) when any finding is at or above
// `fail_on`, ok (0) otherwise.
ExitCode exit_code(const std::vector<Finding>& f, Severity fail_on);

}  // namespace belay::findings
