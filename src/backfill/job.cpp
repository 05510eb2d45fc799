// The job file: TOML, strict (unknown keys and wrong types are errors with line:column),
// entities ordered so that every referenced entity comes before the ones referencing it.
#include <algorithm>
#include <map>
#include <regex>
#include <set>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "backfill/backfill.h"
#include "backfill/convert.h"
#include "backfill/json_doc.h"
#include "pg/pg.h"
#include "util/fs.h"
#include "util/sha256.h"
#include "util/text.h"

namespace belay::backfill {

const char* policy_name(Policy p) {
  switch (p) {
    case Policy::null: return "null";
    case Policy::skip_row: return "skip_row";
    case Policy::quarantine: return "quarantine";
  }
  return "?";
}

const char* type_name(Type t) {
  switch (t) {
    case Type::text: return "text";
    case Type::int_: return "int";
    case Type::numeric: return "numeric";
    case Type::boolean: return "bool";
    case Type::timestamptz: return "timestamptz";
    case Type::jsonb: return "jsonb";
    case Type::uuid: return "uuid";
  }
  return "?";
}

namespace {

std::string qualify(const std::string& schema, const std::string& table) {
  return schema.empty() ? pg::quote_ident(table) : pg::quote_ident(schema) + "." + pg::quote_ident(table);
}

std::vector<std::string> split_dots(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    auto dot = s.find('.', start);
    out.push_back(s.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return out;
}

class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}

  Error at(const toml::node& n, std::string msg) const {
    auto src = n.source();
    return Error::usage(std::move(msg)).with_file(file_, static_cast<int>(src.begin.line), static_cast<int>(src.begin.column));
  }
  Where where(const toml::node& n) const {
    auto src = n.source();
    return Where{static_cast<int>(src.begin.line), static_cast<int>(src.begin.column)};
  }

  // Unknown keys are errors: a typo must not silently fall back to a default.
  std::optional<Error> only(const toml::table& t, const std::string& label, const std::set<std::string>& keys) const {
    for (auto& [k, v] : t) {
      (void)v;
      if (keys.count(std::string(k.str()))) continue;
      std::string list;
      for (auto& name : keys) list += (list.empty() ? "" : ", ") + name;
      auto src = k.source();  // the key itself, not its value
      return Error::usage(fmt::format("unknown key '{}' in {} (known: {})", k.str(), label, list))
          .with_file(file_, static_cast<int>(src.begin.line), static_cast<int>(src.begin.column));
    }
    return std::nullopt;
  }

  Result<std::string> str(const toml::table& t, const char* key, const std::string& def, bool required = false) const {
    auto n = t.get(key);
    if (!n) {
      if (required) return at(t, fmt::format("missing required key '{}'", key));
      return def;
    }
    auto v = n->value<std::string>();
    if (!v) return at(*n, fmt::format("{} must be a string", key));
    if (v->empty()) return at(*n, fmt::format("{} must not be empty", key));
    return *v;
  }

  Result<int> integer(const toml::table& t, const char* key, int def, int min, int max) const {
    auto n = t.get(key);
    if (!n) return def;
    auto v = n->value<int64_t>();
    if (!v || *v < min || *v > max) return at(*n, fmt::format("{} must be an integer from {} to {}", key, min, max));
    return static_cast<int>(*v);
  }

  Result<bool> boolean(const toml::table& t, const char* key, bool def) const {
    auto n = t.get(key);
    if (!n) return def;
    auto v = n->value<bool>();
    if (!v) return at(*n, fmt::format("{} must be true or false", key));
    return *v;
  }

  Result<milliseconds> duration(const toml::table& t, const char* key, milliseconds def) const {
    auto n = t.get(key);
    if (!n) return def;
    if (auto s = n->value<std::string>())
      if (auto d = text::parse_duration(*s)) return *d;
    return at(*n, fmt::format("{} must be a duration like \"2s\" or \"500ms\"", key));
  }

  Result<Policy> policy(const toml::table& t, const char* key, Policy def) const {
    auto n = t.get(key);
    if (!n) return def;
    auto v = n->value<std::string>();
    if (v == "null") return Policy::null;
    if (v == "skip_row") return Policy::skip_row;
    if (v == "quarantine") return Policy::quarantine;
    return at(*n, fmt::format("{} must be \"null\", \"skip_row\" or \"quarantine\"", key));
  }

  const toml::table* section(const toml::table& root, const char* key, std::optional<Error>& err) const {
    auto n = root.get(key);
    if (!n) return nullptr;
    if (!n->is_table()) err = at(*n, fmt::format("[{}] must be a table", key));
    return n->as_table();
  }

 private:
  std::string file_;
};

Result<Type> parse_type(const Reader& rd, const toml::node& n) {
  auto v = n.value<std::string>();
  static const std::map<std::string, Type> types = {
      {"text", Type::text},       {"int", Type::int_},      {"integer", Type::int_}, {"bigint", Type::int_},
      {"numeric", Type::numeric}, {"bool", Type::boolean},  {"boolean", Type::boolean},
      {"timestamptz", Type::timestamptz}, {"jsonb", Type::jsonb}, {"uuid", Type::uuid}};
  if (v) {
    auto it = types.find(*v);
    if (it != types.end()) return it->second;
  }
  return rd.at(n, "type must be one of text, int, numeric, bool, timestamptz, jsonb, uuid");
}

// The default as COPY text, checked with the same rules as a JSON value.
Result<std::string> default_text(const Reader& rd, const toml::node& n, Type type, bool coerce) {
  if (type == Type::timestamptz && n.value<std::string>() == "now") return std::string("now");
  std::string json;
  if (auto s = n.value<std::string>()) json = nlohmann::json(*s).dump();
  else if (auto b = n.value<bool>()) json = *b ? "true" : "false";
  else if (auto i = n.value<int64_t>()) json = std::to_string(*i);
  else if (auto f = n.value<double>()) json = nlohmann::json(*f).dump();
  else return rd.at(n, "default must be a string, number or boolean");
  JsonDoc d;
  std::string err, out;
  if (!d.parse(json, &err)) return rd.at(n, "default: " + err);
  auto c = convert(d, d.root(), type, coerce, IntBounds{}, out);
  if (c.kind != Converted::Kind::value) return rd.at(n, fmt::format("default does not fit type {}: {}", type_name(type), c.why));
  return out;
}

// ref("orgs", "orgId") → {"orgs", "orgId"}
std::optional<std::pair<std::string, std::string>> parse_ref(const std::string& s) {
  static const std::regex re(R"re(^\s*ref\s*\(\s*["']([^"']+)["']\s*,\s*["']([^"']+)["']\s*\)\s*$)re");
  std::smatch m;
  if (!std::regex_match(s, m, re)) return std::nullopt;
  return std::make_pair(m[1].str(), m[2].str());
}

bool identifier(const std::string& s) {
  static const std::regex re("^[A-Za-z_][A-Za-z0-9_]*$");
  return std::regex_match(s, re);
}

Result<Column> parse_column(const Reader& rd, const std::string& name, const toml::node& n, bool coerce) {
  Column c;
  c.name = name;
  c.at = rd.where(n);
  if (auto s = n.value<std::string>()) {
    auto r = parse_ref(*s);
    if (!r) return rd.at(n, fmt::format("column {}: a string value must be ref(\"entity\", \"field\"); use "
                                        "{{ from = \"field\", type = \"text\" }} for a plain field", name));
    c.ref = r->first;
    c.from = split_dots(r->second);
    c.type = Type::uuid;
    return c;
  }
  auto t = n.as_table();
  if (!t) return rd.at(n, fmt::format("column {} must be an inline table {{ from = \"field\", type = \"...\" }}", name));
  if (auto e = rd.only(*t, "column " + name, {"from", "type", "default", "ref"})) return *e;
  BELAY_ASSIGN(auto from, rd.str(*t, "from", "", true));
  c.from = split_dots(from);
  if (auto r = t->get("ref")) {
    auto v = r->value<std::string>();
    if (!v || v->empty()) return rd.at(*r, "ref must name an entity");
    if (t->get("type") || t->get("default")) return rd.at(*r, "a reference takes only ref and from (its type is the new uuid)");
    c.ref = *v;
    c.type = Type::uuid;
    return c;
  }
  if (auto ty = t->get("type")) {
    BELAY_ASSIGN(c.type, parse_type(rd, *ty));
  }
  if (auto d = t->get("default")) {
    BELAY_ASSIGN(auto txt, default_text(rd, *d, c.type, coerce));
    c.default_text = txt;
  }
  return c;
}

Result<std::vector<Entity>> order_entities(std::vector<Entity> es, const std::string& file) {
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < es.size(); ++i) index[es[i].name] = i;
  std::vector<std::set<size_t>> deps(es.size());
  for (size_t i = 0; i < es.size(); ++i)
    for (auto& c : es[i].columns) {
      if (c.ref.empty()) continue;
      auto it = index.find(c.ref);
      if (it == index.end())
        return Error::usage(fmt::format("entity {}: column {} references unknown entity '{}'", es[i].name, c.name, c.ref))
            .with_file(file, c.at.line, c.at.column);
      if (it->second != i) deps[i].insert(it->second);
    }
  std::vector<Entity> out;
  std::vector<bool> placed(es.size(), false);
  while (out.size() < es.size()) {
    bool progress = false;
    for (size_t i = 0; i < es.size(); ++i) {  // file order among the ready ones
      if (placed[i]) continue;
      bool ready = std::all_of(deps[i].begin(), deps[i].end(), [&](size_t d) { return placed[d]; });
      if (!ready) continue;
      placed[i] = true;
      out.push_back(es[i]);
      progress = true;
      break;
    }
    if (!progress) {
      std::string cycle;
      for (size_t i = 0; i < es.size(); ++i)
        if (!placed[i]) cycle += (cycle.empty() ? "" : ", ") + es[i].name;
      size_t first = 0;
      while (placed[first]) ++first;
      return Error::usage(fmt::format("references between entities form a cycle: {}", cycle))
          .with_file(file, es[first].at.line, es[first].at.column)
          .with_next("an entity may reference itself, but not another entity that references it back");
    }
  }
  return out;
}

}  // namespace

std::string Entity::qualified() const { return qualify(schema, table); }
std::string Job::source_qualified() const { return qualify(source.schema, source.table); }

const Entity* Job::find(const std::string& entity) const {
  for (auto& e : entities)
    if (e.name == entity) return &e;
  return nullptr;
}

Result<Job> load_job(const std::filesystem::path& path) {
  const std::string file = path.string();
  BELAY_ASSIGN(auto content, fs::read_file(path));
  toml::table root;
  try {
    root = toml::parse(content, file);
  } catch (const toml::parse_error& e) {
    return Error::usage(std::string(e.description()))
        .with_file(file, static_cast<int>(e.source().begin.line), static_cast<int>(e.source().begin.column));
  }
  Reader rd(file);
  Job job;
  job.file = path;
  job.checksum = sha256_hex(content);
  if (auto e = rd.only(root, "the job file", {"job", "source", "defaults", "run", "entities"})) return *e;
  std::optional<Error> err;
  auto* jt = rd.section(root, "job", err);
  auto* st = rd.section(root, "source", err);
  auto* dt = rd.section(root, "defaults", err);
  auto* rt = rd.section(root, "run", err);
  auto* et = rd.section(root, "entities", err);
  if (err) return *err;
  // Mistakes inside the sections first: they point at a line.
  if (jt)
    if (auto e = rd.only(*jt, "[job]", {"name", "description"})) return *e;
  if (st)
    if (auto e = rd.only(*st, "[source]", {"table", "id", "user", "column", "latest_by"})) return *e;
  if (!jt) return Error::usage("missing [job] with name = \"...\" (the name is part of every new id)").with_file(file, 1, 1);
  if (!st) return Error::usage("missing [source] (table, user, column)").with_file(file, 1, 1);
  if (!et || et->empty()) return Error::usage("missing [entities.<name>]: nothing to backfill").with_file(file, 1, 1);
  BELAY_ASSIGN(job.name, rd.str(*jt, "name", "", true));

  BELAY_ASSIGN(auto src_table, rd.str(*st, "table", "", true));
  auto parts = split_dots(src_table);
  if (parts.size() > 2) return rd.at(*st->get("table"), "table must be \"table\" or \"schema.table\"");
  job.source.schema = parts.size() == 2 ? parts[0] : "";
  job.source.table = parts.back();
  job.source.at = rd.where(*st);
  BELAY_ASSIGN(job.source.id, rd.str(*st, "id", "id"));
  BELAY_ASSIGN(job.source.user, rd.str(*st, "user", "user_id"));
  BELAY_ASSIGN(job.source.column, rd.str(*st, "column", "state"));
  BELAY_ASSIGN(job.source.latest_by, rd.str(*st, "latest_by", ""));

  Entity defaults;
  toml::table empty;
  const toml::table& dd = dt ? *dt : empty;
  if (auto e = rd.only(dd, "[defaults]",
                       {"on_dangling", "on_missing_id", "on_bad_type", "coerce", "id_column", "old_id", "user_column"}))
    return *e;
  BELAY_ASSIGN(defaults.on_dangling, rd.policy(dd, "on_dangling", Policy::null));
  BELAY_ASSIGN(defaults.on_missing_id, rd.policy(dd, "on_missing_id", Policy::skip_row));
  BELAY_ASSIGN(defaults.on_bad_type, rd.policy(dd, "on_bad_type", Policy::quarantine));
  BELAY_ASSIGN(defaults.coerce, rd.boolean(dd, "coerce", true));
  BELAY_ASSIGN(defaults.id_column, rd.str(dd, "id_column", "id"));
  BELAY_ASSIGN(defaults.old_id, rd.str(dd, "old_id", "id"));
  BELAY_ASSIGN(defaults.user_column, rd.str(dd, "user_column", "user_id"));

  const toml::table& rr = rt ? *rt : empty;
  if (auto e = rd.only(rr, "[run]", {"batch_size", "workers", "lock_timeout", "lock_retries", "max_replication_lag",
                                     "max_lock_waiters"}))
    return *e;
  BELAY_ASSIGN(job.batch_size, rd.integer(rr, "batch_size", 500, 1, 100000));
  BELAY_ASSIGN(job.workers, rd.integer(rr, "workers", 2, 1, 16));
  BELAY_ASSIGN(job.lock_timeout, rd.duration(rr, "lock_timeout", milliseconds(2000)));
  BELAY_ASSIGN(job.lock_retries, rd.integer(rr, "lock_retries", 5, 0, 100));
  BELAY_ASSIGN(job.max_replication_lag, rd.duration(rr, "max_replication_lag", milliseconds(10000)));
  BELAY_ASSIGN(job.max_lock_waiters, rd.integer(rr, "max_lock_waiters", 0, 0, 1000000));

  std::vector<std::pair<int, Entity>> found;
  for (auto& [k, v] : *et) {
    Entity e = defaults;
    e.name = std::string(k.str());
    e.at = rd.where(v);
    if (!identifier(e.name))
      return rd.at(v, fmt::format("entity name '{}' must be letters, digits and _ (it is part of every id)", e.name));
    auto* t = v.as_table();
    if (!t) return rd.at(v, fmt::format("[entities.{}] must be a table", e.name));
    if (auto x = rd.only(*t, "[entities." + e.name + "]",
                         {"path", "table", "id_column", "old_id", "user_column", "on_dangling", "on_missing_id",
                          "on_bad_type", "coerce", "columns"}))
      return *x;
    BELAY_ASSIGN(auto p, rd.str(*t, "path", e.name));
    e.path = split_dots(p);
    BELAY_ASSIGN(auto table, rd.str(*t, "table", "", true));
    auto tp = split_dots(table);
    if (tp.size() > 2) return rd.at(*t->get("table"), "table must be \"table\" or \"schema.table\"");
    e.schema = tp.size() == 2 ? tp[0] : "";
    e.table = tp.back();
    BELAY_ASSIGN(e.id_column, rd.str(*t, "id_column", e.id_column));
    BELAY_ASSIGN(e.old_id, rd.str(*t, "old_id", e.old_id));
    if (auto uc = t->get("user_column"); uc && uc->value<std::string>() == "") e.user_column = "";
    else { BELAY_ASSIGN(e.user_column, rd.str(*t, "user_column", e.user_column)); }
    BELAY_ASSIGN(e.on_dangling, rd.policy(*t, "on_dangling", e.on_dangling));
    BELAY_ASSIGN(e.on_missing_id, rd.policy(*t, "on_missing_id", e.on_missing_id));
    BELAY_ASSIGN(e.on_bad_type, rd.policy(*t, "on_bad_type", e.on_bad_type));
    BELAY_ASSIGN(e.coerce, rd.boolean(*t, "coerce", e.coerce));
    auto cols = t->get("columns");
    if (!cols || !cols->is_table() || cols->as_table()->empty())
      return rd.at(cols ? *cols : v, fmt::format("[entities.{}.columns] must map at least one target column", e.name));
    std::set<std::string> seen{e.id_column};
    if (!e.user_column.empty()) seen.insert(e.user_column);
    for (auto& [ck, cv] : *cols->as_table()) {
      std::string cname(ck.str());
      if (seen.count(cname))
        return rd.at(cv, fmt::format("column {} is filled by belay ({}); map it once and not as the id or user column",
                                     cname, cname == e.id_column ? "the new id" : "the user key"));
      seen.insert(cname);
      BELAY_ASSIGN(auto c, parse_column(rd, cname, cv, e.coerce));
      e.columns.push_back(std::move(c));
    }
    // toml++ keeps keys sorted; the file order is what people wrote and expect to see.
    std::sort(e.columns.begin(), e.columns.end(), [](const Column& a, const Column& b) {
      return std::tie(a.at.line, a.at.column) < std::tie(b.at.line, b.at.column);
    });
    found.emplace_back(e.at.line, std::move(e));
  }
  std::sort(found.begin(), found.end(), [](auto& a, auto& b) { return a.first < b.first; });
  std::vector<Entity> es;
  for (auto& [_, e] : found) es.push_back(std::move(e));
  BELAY_ASSIGN(job.entities, order_entities(std::move(es), file));
  return job;
}

}  // namespace belay::backfill
