// Rendering findings: text for people, JSON, SARIF 2.1.0 and GitHub workflow commands.
// Each renderer returns the whole stdout document; nothing here prints.
#include "findings/findings.h"

#include <algorithm>
#include <array>

#include <fmt/format.h>

namespace belay::findings {
namespace {

using nlohmann::json;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string paint(const std::string& s, const char* code, bool on) {
  return on ? fmt::format("\033[{}m{}\033[0m", code, s) : s;
}

const char* severity_colour(Severity s) {
  switch (s) {
    case Severity::error: return "31;1";
    case Severity::warning: return "33;1";
    case Severity::info: return "36;1";
  }
  return "0";
}

bool is_continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// The 1-based byte column `col` of `line` counted in Unicode code points instead.
int code_point_column(const std::string& line, int col) {
  if (col <= 1 || line.empty()) return col;
  size_t end = std::min(static_cast<size_t>(col - 1), line.size());
  int cps = 0;
  for (size_t i = 0; i < end; ++i)
    if (!is_continuation(line[i])) ++cps;
  return cps + 1 + static_cast<int>(static_cast<size_t>(col - 1) - end);
}

// Padding that puts a caret under byte column `col` of `line`: tabs are kept as tabs so
// the terminal aligns them the same way, every other character is one space.
std::string caret_padding(const std::string& line, int col) {
  std::string pad;
  size_t end = std::min(static_cast<size_t>(std::max(col - 1, 0)), line.size());
  for (size_t i = 0; i < end; ++i) {
    if (line[i] == '\t') pad += '\t';
    else if (!is_continuation(line[i])) pad += ' ';
  }
  return pad;
}

// Control characters other than tab would move the terminal's cursor: shown as '?'.
std::string printable(const std::string& s) {
  std::string out = s;
  for (char& c : out)
    if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) c = '?';
  return out;
}

std::string location(const Finding& f) {
  if (f.file.empty()) return {};
  if (f.line <= 0) return f.file;
  if (f.column <= 0) return fmt::format("{}:{}", f.file, f.line);
  return fmt::format("{}:{}:{}", f.file, f.line, f.column);
}

std::string render_text(const std::vector<Finding>& fs, const RenderOptions& opt) {
  std::string out;
  std::array<int, 3> count{};
  for (const Finding& f : fs) {
    ++count[static_cast<int>(f.severity)];
    std::string loc = location(f);
    std::string head = fmt::format("{}[{}]", to_string(f.severity), f.rule);
    out += (loc.empty() ? "" : paint(loc, "1", opt.color) + ": ") +
           paint(head, severity_colour(f.severity), opt.color) + " " + printable(f.message) + "\n";
    if (!f.source_line.empty() && f.line > 0) {
      std::string num = std::to_string(f.line);
      std::string gutter(num.size(), ' ');
      out += fmt::format(" {} {} {}\n", paint(num, "2", opt.color), paint("|", "2", opt.color),
                         printable(f.source_line));
      if (f.column > 0)
        out += fmt::format(" {} {} {}{}\n", gutter, paint("|", "2", opt.color),
                           caret_padding(f.source_line, f.column),
                           paint("^", severity_colour(f.severity), opt.color));
    }
    if (!f.object.empty() && f.file.empty()) out += "  object: " + printable(f.object) + "\n";
    if (!f.fix.empty()) out += "  " + paint("fix:", "32", opt.color) + " " + printable(f.fix) + "\n";
    out += "\n";
  }
  auto plural = [](int n, const char* word) {
    return fmt::format("{} {}{}", n, word, n == 1 ? "" : "s");
  };
  if (fs.empty()) {
    out += "no findings\n";
  } else {
    out += fmt::format("{}: {}, {}, {}\n", plural(static_cast<int>(fs.size()), "finding"),
                       plural(count[static_cast<int>(Severity::error)], "error"),
                       plural(count[static_cast<int>(Severity::warning)], "warning"),
                       plural(count[static_cast<int>(Severity::info)], "info"));
  }
  return out;
}

json finding_json(const Finding& f) {
  return {{"file", f.file},       {"line", f.line},         {"column", f.column},
          {"rule", f.rule},       {"severity", to_string(f.severity)},
          {"message", f.message}, {"object", f.object},     {"fix", f.fix}};
}

std::string render_json(const std::vector<Finding>& fs) {
  json arr = json::array();
  for (const Finding& f : fs) arr.push_back(finding_json(f));
  // Invalid UTF-8 in a message (it quotes source) becomes U+FFFD instead of throwing.
  return json{{"findings", arr}}.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

const char* sarif_level(Severity s) {
  switch (s) {
    case Severity::error: return "error";
    case Severity::warning: return "warning";
    case Severity::info: return "note";
  }
  return "none";
}

// A file path as a SARIF artifactLocation.uri (an RFC 3986 URI reference): relative paths
// stay relative (GitHub resolves them against the repository), absolute ones become file:
// URIs; anything outside the unreserved set and '/' is percent-encoded.
std::string path_uri(const std::string& path) {
  std::string out;
  if (!path.empty() && path[0] == '/') out = "file://";
  for (unsigned char c : path) {
    bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '-' || c == '.' || c == '_' || c == '~' || c == '/';
    out += keep ? std::string(1, static_cast<char>(c)) : fmt::format("%{:02X}", c);
  }
  return out;
}

std::string render_sarif(const std::vector<Finding>& fs, const RenderOptions& opt) {
  json driver = {{"name", opt.tool.empty() ? "belay" : opt.tool}};
  if (!opt.tool_version.empty()) driver["version"] = opt.tool_version;
  json rules = json::array();
  for (const RuleInfo& r : opt.rules) {
    json rule = {{"id", r.id},
                 {"shortDescription", {{"text", r.summary.empty() ? r.id : r.summary}}},
                 {"defaultConfiguration", {{"level", sarif_level(r.severity)}}}};
    if (!r.explanation.empty()) {
      rule["fullDescription"] = {{"text", r.explanation}};
      rule["help"] = {{"text", r.explanation}};
    }
    if (!r.family.empty()) rule["properties"] = {{"tags", json::array({r.family})}};
    rules.push_back(std::move(rule));
  }
  driver["rules"] = rules;

  json results = json::array();
  for (const Finding& f : fs) {
    json res = {{"ruleId", f.rule},
                {"level", sarif_level(f.severity)},
                {"message", {{"text", f.message.empty() ? f.rule : f.message}}}};
    for (size_t i = 0; i < opt.rules.size(); ++i)
      if (opt.rules[i].id == f.rule) res["ruleIndex"] = static_cast<int>(i);
    if (!f.file.empty()) {
      json phys = {{"artifactLocation", {{"uri", path_uri(f.file)}}}};
      if (f.line > 0) {
        json region = {{"startLine", f.line}};
        if (f.column > 0) region["startColumn"] = code_point_column(f.source_line, f.column);
        if (!f.source_line.empty()) region["snippet"] = {{"text", f.source_line}};
        phys["region"] = region;
      }
      json loc = {{"physicalLocation", phys}};
      if (!f.object.empty())
        loc["logicalLocations"] = json::array({{{"fullyQualifiedName", f.object}}});
      res["locations"] = json::array({loc});
    } else if (!f.object.empty()) {
      res["locations"] = json::array({{{"logicalLocations",
                                        json::array({{{"fullyQualifiedName", f.object}}})}}});
    }
    json props = json::object();
    if (!f.fix.empty()) props["fix"] = f.fix;
    if (!f.object.empty()) props["object"] = f.object;
    if (!props.empty()) res["properties"] = props;
    results.push_back(std::move(res));
  }

  json run = {{"tool", {{"driver", driver}}},
              // Columns count code points (converted from byte columns above).
              {"columnKind", "unicodeCodePoints"},
              {"results", results}};
  json doc = {{"$schema", "https://json.schemastore.org/sarif-2.1.0.json"},
              {"version", "2.1.0"},
              {"runs", json::array({run})}};
  return doc.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

// GitHub workflow command escaping: the message ("data") and property values.
std::string gh_data(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '%') out += "%25";
    else if (c == '\r') out += "%0D";
    else if (c == '\n') out += "%0A";
    else out += c;
  }
  return out;
}

std::string gh_property(const std::string& s) {
  std::string out;
  for (char c : gh_data(s)) {
    if (c == ':') out += "%3A";
    else if (c == ',') out += "%2C";
    else out += c;
  }
  return out;
}

std::string render_github(const std::vector<Finding>& fs) {
  std::string out;
  for (const Finding& f : fs) {
    const char* cmd = f.severity == Severity::error     ? "error"
                      : f.severity == Severity::warning ? "warning"
                                                        : "notice";
    std::vector<std::string> props;
    if (!f.file.empty()) {
      props.push_back("file=" + gh_property(f.file));
      if (f.line > 0) props.push_back(fmt::format("line={}", f.line));
      if (f.line > 0 && f.column > 0) props.push_back(fmt::format("col={}", f.column));
    }
    props.push_back("title=" + gh_property(f.rule));
    std::string msg = f.message;
    if (!f.fix.empty()) msg += "\nfix: " + f.fix;
    out += fmt::format("::{} {}::{}\n", cmd, fmt::join(props, ","), gh_data(msg));
  }
  return out;
}

}  // namespace

const char* to_string(Severity s) {
  switch (s) {
    case Severity::info: return "info";
    case Severity::warning: return "warning";
    case Severity::error: return "error";
  }
  return "error";
}

std::optional<Severity> parse_severity(std::string_view s) {
  std::string l = lower(s);
  if (l == "info" || l == "note") return Severity::info;
  if (l == "warning" || l == "warn") return Severity::warning;
  if (l == "error") return Severity::error;
  return std::nullopt;
}

std::optional<Format> parse_format(std::string_view s) {
  std::string l = lower(s);
  if (l == "text") return Format::text;
  if (l == "json") return Format::json;
  if (l == "sarif") return Format::sarif;
  if (l == "github") return Format::github;
  return std::nullopt;
}

std::string render(const std::vector<Finding>& f, Format fmt, const RenderOptions& opt) {
  switch (fmt) {
    case Format::text: return render_text(f, opt);
    case Format::json: return render_json(f);
    case Format::sarif: return render_sarif(f, opt);
    case Format::github: return render_github(f);
  }
  return render_text(f, opt);
}

nlohmann::json to_json(const Finding& f) { return finding_json(f); }

ExitCode exit_code(const std::vector<Finding>& f, Severity fail_on) {
  bool fail = std::any_of(f.begin(), f.end(), [&](const Finding& x) {
    return static_cast<int>(x.severity) >= static_cast<int>(fail_on);
  });
  return fail ? ExitCode::failure : ExitCode::ok;
}

}  // namespace belay::findings
