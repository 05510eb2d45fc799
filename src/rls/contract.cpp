// Contract files for `belay rls test`: personas, fixtures, and per table and command what each
// persona may do. Every mistake is reported with the file, line and column.
#include <algorithm>
#include <sstream>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "rls/rls.h"
#include "util/fs.h"

namespace belay::rls {

namespace {

using nlohmann::json;

Error at(const toml::node& n, const std::string& file, std::string msg) {
  auto src = n.source();
  return Error::usage(std::move(msg)).with_file(file, static_cast<int>(src.begin.line), static_cast<int>(src.begin.column));
}

// TOML values as JSON (claims, fixture rows). Dates and times become their TOML text.
json to_json(const toml::node& n) {
  if (auto t = n.as_table()) {
    json o = json::object();
    for (auto& [k, v] : *t) o[std::string(k.str())] = to_json(v);
    return o;
  }
  if (auto a = n.as_array()) {
    json arr = json::array();
    for (auto& v : *a) arr.push_back(to_json(v));
    return arr;
  }
  if (auto s = n.value<std::string>(); s && n.is_string()) return *s;
  if (n.is_integer()) return *n.value<int64_t>();
  if (n.is_floating_point()) return *n.value<double>();
  if (n.is_boolean()) return *n.value<bool>();
  std::ostringstream os;
  n.visit([&](auto&& v) { os << v; });
  return os.str();
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::optional<Command> parse_command(const std::string& s) {
  if (s == "select") return Command::select;
  if (s == "insert") return Command::insert;
  if (s == "update") return Command::update;
  if (s == "delete") return Command::delete_;
  return std::nullopt;
}

Result<Expectation> parse_expectation(const toml::node& n, const std::string& file) {
  auto s = n.value<std::string>();
  const char* want = "an expectation is \"allowed\", \"denied\" or \"where <predicate>\" (e.g. \"where owner = auth.uid()\")";
  if (!n.is_string() || !s) return at(n, file, want);
  Expectation e;
  e.line = static_cast<int>(n.source().begin.line);
  e.column = static_cast<int>(n.source().begin.column);
  std::string t = *s;
  auto first = t.find_first_not_of(" \t\n");
  t = first == std::string::npos ? "" : t.substr(first);
  while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) t.pop_back();
  if (lower(t) == "allowed") e.kind = Expectation::allowed;
  else if (lower(t) == "denied") e.kind = Expectation::denied;
  else if (lower(t) == "where") return at(n, file, "\"where\" needs a predicate, e.g. \"where owner = auth.uid()\"");
  else if (lower(t.substr(0, 6)) == "where " || lower(t.substr(0, 6)) == "where\t") {
    e.kind = Expectation::only;
    e.predicate = t.substr(6);
    if (e.predicate.find_first_not_of(" \t\n") == std::string::npos) return at(n, file, "\"where\" needs a predicate");
  } else {
    return at(n, file, fmt::format("\"{}\": {}", t, want));
  }
  return e;
}

std::optional<Error> unknown_keys(const toml::table& t, std::initializer_list<std::string_view> known, const std::string& file,
                                  const std::string& where) {
  for (auto& [k, v] : t) {
    bool ok = false;
    for (auto& name : known) ok = ok || k.str() == name;
    if (!ok) {
      std::string list;
      for (auto& name : known) list += (list.empty() ? "" : ", ") + std::string(name);
      return at(v, file, fmt::format("unknown key '{}' in {} (known: {})", k.str(), where, list));
    }
  }
  return std::nullopt;
}

}  // namespace

const char* to_string(Command c) {
  switch (c) {
    case Command::select: return "select";
    case Command::insert: return "insert";
    case Command::update: return "update";
    case Command::delete_: return "delete";
  }
  return "?";
}

std::string Expectation::text() const {
  switch (kind) {
    case allowed: return "allowed";
    case denied: return "denied";
    case only: return "where " + predicate;
  }
  return "?";
}

Result<Contract> parse_contract(const std::string& text, const std::string& file) {
  toml::table doc;
  try {
    doc = toml::parse(text, file);
  } catch (const toml::parse_error& e) {
    return Error::usage(std::string(e.description()))
        .with_file(file, static_cast<int>(e.source().begin.line), static_cast<int>(e.source().begin.column));
  }
  Contract c;
  c.file = file;
  if (auto e = unknown_keys(doc, {"personas", "fixtures", "tables"}, file, "the contract")) return *e;

  if (auto p = doc.get("personas")) {
    if (!p->is_table()) return at(*p, file, "personas must be a table: [personas.NAME]");
    for (auto& [k, v] : *p->as_table()) {
      Persona per;
      per.name = std::string(k.str());
      per.line = static_cast<int>(v.source().begin.line);
      auto t = v.as_table();
      if (!t) return at(v, file, fmt::format("personas.{} must be a table with role = \"...\"", per.name));
      if (auto e = unknown_keys(*t, {"role", "claims"}, file, "[personas." + per.name + "]")) return *e;
      per.role = per.name;
      if (auto r = t->get("role")) {
        if (!r->is_string() || r->value<std::string>()->empty())
          return at(*r, file, fmt::format("personas.{}.role must be a role name", per.name));
        per.role = *r->value<std::string>();
      }
      per.claims = json::object();
      if (auto cl = t->get("claims")) {
        if (!cl->is_table()) return at(*cl, file, fmt::format("personas.{}.claims must be a table, e.g. {{ sub = \"...\" }}", per.name));
        per.claims = to_json(*cl);
      }
      if (!per.claims.contains("role")) per.claims["role"] = per.role;
      c.personas.push_back(std::move(per));
    }
  }
  // TOML tables come back sorted by key; the file's order is the one people read.
  std::stable_sort(c.personas.begin(), c.personas.end(), [](const Persona& a, const Persona& b) { return a.line < b.line; });
  if (c.personas.empty()) return Error::usage("the contract declares no persona ([personas.NAME] role = \"...\")").with_file(file);

  if (auto f = doc.get("fixtures")) {
    auto arr = f->as_array();
    if (!arr) return at(*f, file, "fixtures must be an array of tables: [[fixtures]] table = \"public.t\" rows = [...]");
    for (auto& item : *arr) {
      auto t = item.as_table();
      if (!t) return at(item, file, "each [[fixtures]] entry is a table with table = \"...\" and rows = [...]");
      if (auto e = unknown_keys(*t, {"table", "rows"}, file, "[[fixtures]]")) return *e;
      Fixture fx;
      auto name = t->get("table");
      if (!name || !name->is_string()) return at(item, file, "[[fixtures]] needs table = \"schema.table\"");
      fx.table = *name->value<std::string>();
      auto rows = t->get("rows");
      if (!rows || !rows->is_array()) return at(item, file, "[[fixtures]] needs rows = [ { column = value, ... }, ... ]");
      for (auto& r : *rows->as_array()) {
        if (!r.is_table() || r.as_table()->empty())
          return at(r, file, "each fixture row is a table of column = value (at least one column)");
        fx.rows.push_back(to_json(r));
        fx.lines.push_back(static_cast<int>(r.source().begin.line));
      }
      c.fixtures.push_back(std::move(fx));
    }
  }

  if (auto ts = doc.get("tables")) {
    if (!ts->is_table()) return at(*ts, file, "tables must be a table: [tables.\"schema.table\"]");
    for (auto& [k, v] : *ts->as_table()) {
      TableContract tc;
      tc.table = std::string(k.str());
      tc.line = static_cast<int>(v.source().begin.line);
      auto t = v.as_table();
      if (!t) return at(v, file, fmt::format("tables.\"{}\" must be a table of commands", tc.table));
      if (auto e = unknown_keys(*t, {"select", "insert", "update", "delete"}, file, "[tables.\"" + tc.table + "\"]")) return *e;
      for (auto& [ck, cv] : *t) {
        auto cmd = *parse_command(std::string(ck.str()));
        auto per = cv.as_table();
        if (!per) return at(cv, file, fmt::format("{} must be a table of persona = expectation", ck.str()));
        for (auto& [pk, pv] : *per) {
          std::string persona(pk.str());
          bool known = false;
          for (auto& p : c.personas) known = known || p.name == persona;
          if (!known) return at(pv, file, fmt::format("unknown persona '{}' (declare it under [personas.{}])", persona, persona));
          BELAY_ASSIGN(auto ex, parse_expectation(pv, file));
          tc.expect[cmd][persona] = std::move(ex);
        }
      }
      c.tables.push_back(std::move(tc));
    }
  }
  std::stable_sort(c.tables.begin(), c.tables.end(), [](const TableContract& a, const TableContract& b) { return a.line < b.line; });
  if (c.tables.empty()) return Error::usage("the contract has no expectations ([tables.\"schema.table\"] select = {...})").with_file(file);
  return c;
}

Result<Contract> load_contract(const std::filesystem::path& file) {
  auto text = fs::read_file(file);
  if (!text.ok()) {
    Error e = std::move(text).error();
    e.code = ExitCode::usage;
    e.next = "write one (belay rls test --generate drafts it) or pass --contract FILE";
    return e;
  }
  return parse_contract(*text, file.string());
}

}  // namespace belay::rls
