// belay rls test --generate: a draft contract that states what the grants and policies allow
// today, for a human to review (and correct where today's policies are wrong).
#include <map>

#include <fmt/format.h>

#include "rls/probe.h"

namespace belay::rls {

namespace {

// A TOML basic string.
std::string toml_string(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(ch) < 0x20) out += fmt::format("\\u{:04x}", ch);
        else out += ch;
    }
  }
  return out + "\"";
}

struct GenPersona {
  std::string name, role;
  std::string claims;   // TOML inline table, "" for none
};

// For every table of the exposed schemas, role and command: may the role do it at all, does
// it bypass RLS, and the policy expressions that apply (permissive OR'd, restrictive AND'd).
constexpr const char* kSurface = R"SQL(
select quote_ident(n.nspname) || '.' || quote_ident(c.relname), c.relrowsecurity, r.rolname,
       r.rolsuper or r.rolbypassrls, cmd.name,
       case cmd.name when 'select' then has_any_column_privilege(r.oid, c.oid, 'SELECT')
                     when 'insert' then has_any_column_privilege(r.oid, c.oid, 'INSERT')
                     when 'update' then has_any_column_privilege(r.oid, c.oid, 'UPDATE')
                     else has_table_privilege(r.oid, c.oid, 'DELETE') end,
       array(select pg_get_expr(case when cmd.name = 'insert' then coalesce(p.polwithcheck, p.polqual) else p.polqual end,
                                p.polrelid)
             from pg_policy p
             where p.polrelid = c.oid and p.polpermissive and p.polcmd in (cmd.code, '*')
               and (0 = any (p.polroles) or r.oid = any (p.polroles))
               and (case when cmd.name = 'insert' then coalesce(p.polwithcheck, p.polqual) else p.polqual end) is not null
             order by p.polname),
       array(select pg_get_expr(case when cmd.name = 'insert' then coalesce(p.polwithcheck, p.polqual) else p.polqual end,
                                p.polrelid)
             from pg_policy p
             where p.polrelid = c.oid and not p.polpermissive and p.polcmd in (cmd.code, '*')
               and (0 = any (p.polroles) or r.oid = any (p.polroles))
             order by p.polname),
       (select string_agg(pg_get_expr(p.polwithcheck, p.polrelid), ' or ' order by p.polname) from pg_policy p
        where p.polrelid = c.oid and p.polpermissive and p.polcmd in ('w', '*') and cmd.name = 'update'
          and p.polwithcheck is not null and (0 = any (p.polroles) or r.oid = any (p.polroles))),
       (select string_agg(quote_ident(a.attname) || ' = <' || format_type(a.atttypid, a.atttypmod) || '>', ', ' order by a.attnum)
        from pg_attribute a where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped and a.attgenerated = ''
          and a.attidentity <> 'a')
from pg_class c join pg_namespace n on n.oid = c.relnamespace
     cross join (values ('select', 'r'::"char"), ('insert', 'a'), ('update', 'w'), ('delete', 'd')) cmd (name, code)
     join pg_roles r on r.rolname = any ($1::text[])
where c.relkind in ('r', 'p') and n.nspname = any ($2::text[])
  and not exists (select 1 from pg_depend d where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'e')
order by 1, array_position($1::text[], r.rolname::text), array_position(array['select', 'insert', 'update', 'delete'], cmd.name))SQL";

// `e` in parentheses unless it is one parenthesised expression already.
std::string paren(const std::string& e) {
  if (e.size() >= 2 && e.front() == '(' && e.back() == ')') {
    int depth = 0;
    bool whole = true;
    for (size_t i = 0; i < e.size() && whole; ++i) {
      depth += e[i] == '(' ? 1 : e[i] == ')' ? -1 : 0;
      if (depth == 0 && i + 1 < e.size()) whole = false;
    }
    if (whole) return e;
  }
  return "(" + e + ")";
}

std::vector<std::string> parse_array(const std::string& a) {
  // Text of a text[]: {"x = 1",true}. Elements are quoted when they need it.
  std::vector<std::string> out;
  if (a.size() < 2) return out;
  size_t i = 1;
  while (i < a.size() - 1) {
    std::string e;
    if (a[i] == '"') {
      ++i;
      while (i < a.size() && a[i] != '"') {
        if (a[i] == '\\' && i + 1 < a.size()) ++i;
        e += a[i++];
      }
      ++i;
    } else {
      while (i < a.size() - 1 && a[i] != ',') e += a[i++];
    }
    out.push_back(e);
    if (i < a.size() - 1 && a[i] == ',') ++i;
  }
  return out;
}

}  // namespace

Result<std::string> generate_contract(pg::Conn& conn, const CheckConfig& cfg) {
  // Personas for the roles that exist: the anonymous one, two users of every other API role
  // (so "their own rows" can be told from someone else's), and service_role.
  std::vector<std::string> candidates = cfg.api_roles;
  candidates.push_back("service_role");
  BELAY_ASSIGN(auto have, conn.query("select rolname from pg_roles where rolname = any (" + detail::text_array(candidates) +
                                     "::text[]) order by array_position(" + detail::text_array(candidates) +
                                     "::text[], rolname::text)"));
  std::vector<GenPersona> personas;
  for (int i = 0; i < have.size(); ++i) {
    std::string role = have.get(i, 0);
    if (role == cfg.anon_role || role == "service_role") {
      personas.push_back({role, role, ""});
      continue;
    }
    for (char who : {'a', 'b'}) {
      std::string name = role == "authenticated" ? fmt::format("user_{}", who) : fmt::format("{}_{}", role, who);
      personas.push_back({name, role,
                          fmt::format("{{ sub = \"00000000-0000-4000-8000-00000000000{}\", email = \"{}@example.com\" }}", who,
                                      name)});
    }
  }
  if (personas.empty())
    return Error::usage(fmt::format("none of the API roles ({}) exists in this database", fmt::join(cfg.api_roles, ", ")))
        .with_next("set [rls] api_roles in belay.toml, or flavor = \"supabase\" for Supabase's roles");
  std::vector<std::string> roles;
  for (int i = 0; i < have.size(); ++i) roles.push_back(have.get(i, 0));
  std::string q = kSurface;
  auto put = [&](const std::string& from, const std::string& to) {
    for (size_t at = q.find(from); at != std::string::npos; at = q.find(from, at + to.size())) q.replace(at, from.size(), to);
  };
  put("$1", detail::text_array(roles));
  put("$2", detail::text_array(cfg.exposed_schemas));
  BELAY_ASSIGN(auto rows, conn.query(q));

  std::string out =
      "# RLS contract drafted by `belay rls test --generate` from the grants and policies of the\n"
      "# exposed schemas as they are now. It states what the database allows today, not what it\n"
      "# should: review every expectation, fix the ones that are wrong, then fix the policies.\n"
      "#\n"
      "#   \"allowed\"          the persona reaches every row (select, update, delete) or may insert any row\n"
      "#   \"denied\"           it reaches none: no rows back, or SQLSTATE 42501\n"
      "#   \"where <predicate>\" exactly the rows the predicate holds for (evaluated with the persona's claims)\n"
      "#\n"
      "# Probes need rows to tell these apart: fill in the [[fixtures]] sketched below each table.\n\n";
  for (auto& p : personas) {
    out += fmt::format("[personas.{}]\nrole = {}\n", p.name, toml_string(p.role));
    if (!p.claims.empty()) out += "claims = " + p.claims + "\n";
    out += "\n";
  }
  // Rows come table by table, role by role, command by command.
  std::map<std::string, std::vector<GenPersona*>> by_role;
  for (auto& p : personas) by_role[p.role].push_back(&p);
  std::string table;
  std::map<std::string, std::string> lines;  // command -> "persona = ..., "
  std::vector<std::string> comments;
  std::map<std::string, std::string> select_expect;  // role -> this table's select expectation
  std::string columns;
  auto finish = [&] {
    if (table.empty()) return;
    out += fmt::format("# [[fixtures]]\n# table = {}\n# rows = [\n#   {{ {} }},\n# ]\n\n", toml_string(table), columns);
    out += fmt::format("[tables.{}]\n", toml_string(table));
    for (auto& c : comments) out += "# " + c + "\n";
    for (const char* cmd : {"select", "insert", "update", "delete"})
      if (lines.count(cmd)) out += fmt::format("{} = {{ {} }}\n", cmd, lines[cmd]);
    out += "\n";
    lines.clear();
    comments.clear();
    select_expect.clear();
  };
  for (int i = 0; i < rows.size(); ++i) {
    if (rows.get(i, 0) != table) {
      finish();
      table = rows.get(i, 0);
      columns = rows.get(i, 10);
    }
    bool rls = rows.get(i, 1) == "t", bypass = rows.get(i, 3) == "t", priv = rows.get(i, 5) == "t";
    std::string role = rows.get(i, 2), cmd = rows.get(i, 4);
    auto permissive = parse_array(rows.get(i, 6)), restrictive = parse_array(rows.get(i, 7));
    std::string expect;
    if (!priv) expect = "denied";
    else if (bypass || !rls) expect = "allowed";
    else if (permissive.empty()) expect = "denied";
    else {
      bool any_true = false;
      std::string ors;
      for (auto& e : permissive) {
        any_true = any_true || e == "true";
        ors += (ors.empty() ? "" : " or ") + (permissive.size() > 1 ? paren(e) : e);
      }
      std::string ands;
      for (auto& e : restrictive) ands += (ands.empty() ? "" : " and ") + paren(e);
      if (any_true) expect = ands.empty() ? "allowed" : "where " + ands;
      else expect = "where " + (ands.empty() ? ors : (permissive.size() > 1 ? "(" + ors + ")" : paren(ors)) + " and " + ands);
    }
    // PostgREST's PATCH and DELETE name rows with a filter, so the rows must be visible too:
    // the SELECT policies apply as well.
    if (cmd == "select") select_expect[role] = expect;
    else if (cmd == "update" || cmd == "delete") {
      const std::string& sel = select_expect[role];
      if (sel == "denied" || expect == "denied") expect = "denied";
      else if (expect == "allowed") expect = sel;
      else if (sel != "allowed" && sel != expect) expect = expect + " and " + paren(sel.substr(6));
    }
    if (cmd == "update" && !rows.null(i, 8) && expect.rfind("where ", 0) == 0)
      comments.push_back(fmt::format("update as {}: rows must also satisfy WITH CHECK {} afterwards", role, paren(rows.get(i, 8))));
    for (auto* p : by_role[role]) lines[cmd] += (lines[cmd].empty() ? "" : ", ") + p->name + " = " + toml_string(expect);
  }
  finish();
  if (table.empty())
    out += fmt::format("# No tables in the exposed schemas ({}).\n", fmt::join(cfg.exposed_schemas, ", "));
  return out;
}

}  // namespace belay::rls
