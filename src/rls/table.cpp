// What `belay rls test` reads about the tables it probes, and the literals it writes.
#include <algorithm>

#include <fmt/format.h>

#include "rls/probe.h"

namespace belay::rls::detail {

std::string text_array(const std::vector<std::string>& v) {
  std::string a = "{";
  for (size_t i = 0; i < v.size(); ++i) {
    a += i ? ",\"" : "\"";
    for (char ch : v[i]) {
      if (ch == '"' || ch == '\\') a += '\\';
      a += ch;
    }
    a += '"';
  }
  return pg::quote_literal(a + "}");
}

std::string literal(const std::optional<std::string>& v, const std::string& type) {
  return (v ? pg::quote_literal(*v) : std::string("null")) + "::" + type;
}

namespace {

// A JSON array as a PostgreSQL array literal ({"a","b"}, {1,2}, {{1,2},{3,4}}).
std::string array_text(const nlohmann::json& a) {
  std::string s = "{";
  bool first = true;
  for (auto& e : a) {
    if (!first) s += ",";
    first = false;
    if (e.is_array()) s += array_text(e);
    else if (e.is_null()) s += "NULL";
    else {
      std::string t = e.is_string() ? e.get<std::string>() : e.dump();
      s += "\"";
      for (char ch : t) {
        if (ch == '"' || ch == '\\') s += '\\';
        s += ch;
      }
      s += "\"";
    }
  }
  return s + "}";
}

}  // namespace

std::string fixture_literal(const nlohmann::json& v, const Column& col) {
  if (v.is_string()) return literal(v.get<std::string>(), col.type);
  if (v.is_array() && col.is_array) return literal(array_text(v), col.type);
  return literal(v.dump(), col.type);  // numbers, booleans; objects and arrays for json/jsonb
}

std::string Table::key_text(const std::string& a) const {
  if (is_view()) return fmt::format("row({}.*)::text", a);
  if (key.empty()) return a + ".ctid::text";
  if (key.size() == 1) return fmt::format("{}.{}::text", a, cols[key[0]].q);
  std::string parts;
  for (auto k : key) parts += (parts.empty() ? "" : ", ") + a + "." + cols[k].q;
  return fmt::format("row({})::text", parts);
}

std::string Table::show(const std::string& k) const {
  if (is_view()) return "row " + k;
  if (key.empty()) return "ctid " + k;
  if (key.size() == 1) return cols[key[0]].name + "=" + k;
  std::string names;
  for (auto i : key) names += (names.empty() ? "" : ", ") + cols[i].name;
  return "(" + names + ")=" + k;
}

std::string Table::key_in(const std::string& a, const std::vector<std::string>& keys) const {
  return fmt::format("{} = any ({}::text[])", key_text(a), text_array(keys));
}

const Column* Table::column(const std::string& name) const {
  for (auto& c : cols)
    if (c.name == name) return &c;
  return nullptr;
}

Result<std::vector<Table>> describe(pg::Conn& conn, const Contract& c) {
  std::vector<std::string> roles;
  for (auto& p : c.personas) roles.push_back(p.role);
  BELAY_ASSIGN(auto have, conn.query("select rolname from pg_roles where rolname = any (" + text_array(roles) + "::text[])"));
  for (auto& p : c.personas) {
    bool found = false;
    for (int i = 0; i < have.size(); ++i) found = found || have.get(i, 0) == p.role;
    if (!found)
      return Error::usage(fmt::format("persona '{}': role '{}' does not exist in this database", p.name, p.role))
          .with_file(c.file, p.line)
          .with_next(p.role == "anon" || p.role == "authenticated" || p.role == "service_role"
                         ? "Supabase's roles: set flavor = \"supabase\" in belay.toml for the embedded database"
                         : "create the role, or name an existing one with role = \"...\"");
  }
  // Tables named by expectations or fixtures, in the order they first appear.
  std::vector<std::pair<std::string, int>> names;
  auto add = [&](const std::string& n, int line) {
    for (auto& x : names)
      if (x.first == n) return;
    names.emplace_back(n, line);
  };
  for (auto& t : c.tables) add(t.table, t.line);
  for (auto& f : c.fixtures) add(f.table, f.lines.empty() ? 0 : f.lines[0]);
  std::vector<Table> out;
  for (auto& [name, line] : names) {
    auto rows = conn.query(R"SQL(
select quote_ident(n.nspname) || '.' || quote_ident(c.relname), c.relkind, a.attname, quote_ident(a.attname),
       format_type(a.atttypid, a.atttypmod), a.attgenerated <> '', a.attidentity = 'a', t.typcategory = 'A',
       coalesce(a.attnum = any (pk.conkey), false), array_position(pk.conkey, a.attnum)
from pg_class c join pg_namespace n on n.oid = c.relnamespace
     join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
     join pg_type t on t.oid = a.atttypid
     left join pg_constraint pk on pk.conrelid = c.oid and pk.contype = 'p'
where c.oid = to_regclass($1)
order by a.attnum)SQL",
                           {name});
    if (!rows.ok() || rows->size() == 0)
      return Error::usage(fmt::format("table {} does not exist{}", name,
                                      rows.ok() ? "" : " (" + rows.error().message + ")"))
          .with_file(c.file, line)
          .with_next("write it schema-qualified as it is in the database, e.g. \"public.notes\"");
    Table t;
    t.name = name;
    t.q = rows->get(0, 0);
    t.relkind = rows->get(0, 1)[0];
    std::vector<std::pair<int, size_t>> key;
    for (int i = 0; i < rows->size(); ++i) {
      Column col{rows->get(i, 2), rows->get(i, 3), rows->get(i, 4), rows->get(i, 5) == "t", rows->get(i, 6) == "t",
                 rows->get(i, 7) == "t", rows->get(i, 8) == "t"};
      if (col.key) key.emplace_back(std::stoi(rows->get(i, 9)), t.cols.size());
      t.cols.push_back(std::move(col));
    }
    std::sort(key.begin(), key.end());
    for (auto& [_, idx] : key) t.key.push_back(idx);
    for (size_t g = 0; g < c.fixtures.size(); ++g) {
      if (c.fixtures[g].table != name) continue;
      if (t.first_group < 0) t.first_group = static_cast<int>(g);
      for (size_t r = 0; r < c.fixtures[g].rows.size(); ++r) {
        const auto& row = c.fixtures[g].rows[r];
        for (auto& [k, _] : row.items())
          if (!t.column(k))
            return Error::usage(fmt::format("fixture row for {}: no column '{}'", name, k)).with_file(c.file, c.fixtures[g].lines[r]);
        t.fixture_rows.push_back(&row);
        t.fixture_lines.push_back(c.fixtures[g].lines[r]);
      }
    }
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace belay::rls::detail
