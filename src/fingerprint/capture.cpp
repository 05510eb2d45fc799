// Reading the fingerprint model from the catalog.
//
// One SQL statement produces every object of the model as a canonical line, the JSON text
// ["kind", "id", "label", {props}] exactly as PostgreSQL prints jsonb (keys ordered by
// length, then bytes). capture() fetches the lines, digest() hashes them inside the server;
// both order them by (kind, id, line) in byte order (collate "C") and hash the lines joined
// by "\n", so digest() == capture().hash by construction. model.cpp re-serialises parsed
// objects the same way (capture() checks that it does, line by line).
//
// Why the SQL looks the way it does (digest() runs in rehearsal loops, three times per
// migration, so its cost matters):
//  * Props are assembled as text, not with jsonb_build_object: building and printing jsonb
//    per object was most of the cost. Keys are sorted here in C++ (props_sql) in jsonb's
//    order, so the text is identical to what jsonb would print.
//  * pg_get_viewdef & co. qualify names by the session's search_path, and print constants
//    by DateStyle, TimeZone, ...; a migration may change those. The statement pins them with
//    set_config(.., true) in a first lateral step and restores them in its last projection,
//    so the model does not depend on the session and the session is left as it was (also
//    inside an explicit transaction).
//  * User objects have OIDs >= 16384 (FirstNormalObjectId): filtering on that spares reading
//    initdb's thousands of catalog rows. Only initdb's public schema and plpgsql extension
//    are in scope below it; they come from pg_namespace and pg_extension, read whole.
//  * Both entry points run as prepared statements (no parameters: the generic plan is
//    cached from the first EXECUTE); planning the statement costs more than running it.
//    That plan must be good whatever the statistics: see the note above kScopes.
#include <algorithm>
#include <map>
#include <mutex>
#include <set>
#include <string_view>
#include <tuple>

#include <fmt/format.h>

#include "fingerprint/fingerprint.h"
#include "util/sha256.h"

namespace belay::fingerprint {

namespace detail {  // defined in model.cpp
std::string canonical_line(const Object& o);
Result<Object> parse_line(std::string_view line);
}  // namespace detail

namespace {

// A property: its key and a SQL expression yielding text, or NULL when absent. `plain`
// values (booleans, numbers, keywords) never need JSON escapes, which spares a to_json()
// call per value (the type lookup behind it is most of its cost).
struct Prop {
  std::string_view key;
  std::string_view expr;
  bool plain = false;
};

// SQL text expression for the JSON object of `props`, as jsonb would print it.
std::string props_sql(std::vector<Prop> props) {
  std::sort(props.begin(), props.end(), [](const Prop& a, const Prop& b) {
    return a.key.size() != b.key.size() ? a.key.size() < b.key.size() : a.key < b.key;
  });
  std::string parts;
  for (auto& p : props)
    parts += p.plain ? fmt::format("{}', \"{}\": \"' || ({})::text || '\"'", parts.empty() ? "" : ", ", p.key, p.expr)
                     : fmt::format("{}', \"{}\": ' || to_json(({})::text)::text", parts.empty() ? "" : ", ", p.key, p.expr);
  if (parts.empty()) return "'{}'";
  return fmt::format("'{{' || substr(concat({}), 3) || '}}'", parts);
}

std::string replace_all(std::string s, std::string_view from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
  return s;
}

// Replaces the first "@props" in `branch` with the props expression.
std::string with_props(std::string branch, std::vector<Prop> props) {
  auto at = branch.find("@props");
  branch.replace(at, 6, props_sql(std::move(props)));
  return branch;
}

// How an enabled state of triggers, rules and event triggers reads.
constexpr std::string_view kEnabled =
    "case {} when 'O' then 'enabled' when 'D' then 'disabled' when 'R' then 'replica' when 'A' then 'always' end";

// The planner works from catalog statistics that are stale most of the time here (a fresh
// copy of the template, then migrations, and autovacuum not yet by), and the prepared plan
// may have been made when the schema was small. So the statement is written to have no bad
// plan: every join is catalog to catalog on an indexed OID key (a nested loop is then at
// worst one index probe per row), scope tests are NOT IN (subquery) (never turned into a
// join; a hashed SubPlan built once), and the one CTE holding the objects (base) is only
// read through, never joined. Each branch computes its names once in an OFFSET 0 subquery.
//
// Scopes: namespaces left out (system, temporary, Options::exclude_schemas), and objects
// that belong to an extension.
constexpr std::string_view kScopes = R"SQL(
xns as (
  select n.oid from pg_namespace n
  where n.nspname in ('pg_catalog', 'information_schema', 'pg_toast')
     or n.nspname like 'pg\_temp\_%' or n.nspname like 'pg\_toast\_temp\_%' or n.nspname = any (@exclude)
),
em as (
  select d.classid, d.objid from pg_depend d
  where d.refclassid = 'pg_extension'::regclass and d.deptype = 'e'
))SQL";

// The scope test for a catalog row: `ns` its namespace column, `oid` its OID, `catalog` its
// catalog (for extension membership).
std::string in_scope(std::string_view ns, std::string_view oid, std::string_view catalog) {
  return fmt::format("{} not in (select oid from xns) and {} not in (select objid from em where classid = '{}'::regclass)",
                     ns, oid, catalog);
}

// Relations of the given kinds in scope, as a subquery `alias` with pg_class columns plus
// q (the quoted qualified name). User objects have OIDs >= 16384 (FirstNormalObjectId).
std::string relations(std::string_view kinds, std::string_view alias, std::string_view extra_columns = "",
                      std::string_view extra_joins = "") {
  return fmt::format(
      "(select c.*, quote_ident(n.nspname) || '.' || quote_ident(c.relname) as q{}\n"
      "        from pg_class c join pg_namespace n on n.oid = c.relnamespace{}\n"
      "        where c.oid >= 16384 and c.relkind in ({}) and {} and @in(c.oid)\n"
      "        offset 0) {}",
      extra_columns, extra_joins, kinds, in_scope("c.relnamespace", "c.oid", "pg_class"), alias);
}

// Every object that is a main object of the model or carries comments, an owner or grants:
//   (kind, id, label, props, main, classid, objid, subid, owner, acl, acltype, gon, gcol)
// main: emitted as an object (view columns are not: their comments and grants are);
// classid/objid/subid: the pg_description key; owner: owning role (the table's for columns);
// acl/acltype: ACL and its acldefault() type; gon/gcol: what a GRANT names.
std::vector<std::string> base_branches(int version) {
  std::vector<std::string> b;
  b.push_back(fmt::format(R"SQL(
  select 'schema', x.q, 'schema ' || x.q, '{{}}', true,
         'pg_namespace'::regclass, x.oid, 0, x.nspowner, x.nspacl, 'n'::"char", 'schema ' || x.q, null::text, x.oid
  from (select n.oid, n.nspowner, n.nspacl, quote_ident(n.nspname) as q from pg_namespace n
        where {} and @in(n.oid) offset 0) x)SQL",
                          in_scope("n.oid", "n.oid", "pg_namespace")));

  b.push_back(with_props(fmt::format(R"SQL(
  select 'table', r.q, case r.relkind when 'f' then 'foreign table ' else 'table ' end || r.q, @props, true,
         'pg_class'::regclass, r.oid, 0, r.relowner, r.relacl, 'r'::"char", r.q, null, r.oid
  from {})SQL",
                                     relations("'r', 'p', 'f'", "r",
                                               ", (select string_agg(quote_ident(pn.nspname) || '.' || quote_ident(p.relname), "
                                               "', ' order by i.inhseqno) from pg_inherits i join pg_class p on p.oid = i.inhparent "
                                               "join pg_namespace pn on pn.oid = p.relnamespace where i.inhrelid = c.oid) as parents")),
      {{"partitioned by", "case when r.relkind = 'p' then pg_get_partkeydef(r.oid) end"},
       {"partition of", "case when r.relispartition then r.parents || ' ' || pg_get_expr(r.relpartbound, r.oid) end"},
       {"inherits", "case when not r.relispartition then r.parents end"},
       {"unlogged", "case when r.relpersistence = 'u' then 'true' end", true},
       {"options", "case when r.reloptions is not null then "
                   "(select array_agg(o order by o collate \"C\") from unnest(r.reloptions) o)::text end"},
       {"replica identity", "case r.relreplident when 'n' then 'nothing' when 'f' then 'full' when 'i' then 'index' end", true},
       {"access method", "case when r.relam not in (0, 2) then (select amname from pg_am where oid = r.relam) end"},
       {"server", "case when r.relkind = 'f' then (select s.srvname || coalesce(' ' || ft.ftoptions::text, '') "
                  "from pg_foreign_table ft join pg_foreign_server s on s.oid = ft.ftserver where ft.ftrelid = r.oid) end"}}));

  // Columns of tables are objects; those of views only carry comments and grants. A default
  // cannot refer to columns, so it is printed without the relation (which pg_get_expr would
  // open and lock); a generation expression does refer to them.
  b.push_back(with_props(fmt::format(R"SQL(
  select 'column', a.tq || '.' || a.q, 'column ' || a.tq || '.' || a.q,
         case when a.relkind in ('r', 'p', 'f') then @props end, a.relkind in ('r', 'p', 'f'),
         'pg_class'::regclass, a.attrelid, a.attnum, a.relowner, a.attacl, 'c'::"char", a.tq, a.q, a.attrelid
  from (select a.attrelid, a.attnum, a.atttypid, a.atttypmod, a.attnotnull, a.attidentity, a.attgenerated,
               a.attcollation, a.attacl, c.relkind, c.relowner, quote_ident(a.attname) as q,
               quote_ident(n.nspname) || '.' || quote_ident(c.relname) as tq, d.adbin
        from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
             left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
        where a.attrelid >= 16384 and a.attnum > 0 and not a.attisdropped
          and c.relkind in ('r', 'p', 'f', 'v', 'm') and {} and @in(a.attrelid)
        offset 0) a)SQL",
                                     in_scope("c.relnamespace", "c.oid", "pg_class")),
      {{"type", "format_type(a.atttypid, a.atttypmod)"},
       {"not null", "a.attnotnull", true},
       {"default", "case when a.attgenerated = '' then pg_get_expr(a.adbin, 0) end"},
       {"generated", "case when a.attgenerated = 's' then pg_get_expr(a.adbin, a.attrelid) end"},
       {"identity", "case a.attidentity when 'a' then 'always' when 'd' then 'by default' end", true},
       {"collation", "case when a.attcollation not in (0, 100) then a.attcollation::regcollation::text end"},
       {"position", "row_number() over (partition by a.attrelid order by a.attnum)", true}}));

  // Constraints of tables and domains. The definition leaves out the DEFERRABLE / INITIALLY
  // DEFERRED / NOT VALID suffixes pg_get_constraintdef appends: they are properties of their own.
  b.push_back(with_props(fmt::format(R"SQL(
  select 'constraint', x.oq || '.' || x.q, 'constraint ' || x.q || ' on ' || x.on_, @props, true,
         'pg_constraint'::regclass, x.oid, 0, null::oid, null::aclitem[], null::"char", null, null, x.anchor
  from (select c.oid, coalesce(nullif(c.conrelid, 0), c.contypid) as anchor, c.contype, c.condeferrable, c.condeferred, c.convalidated, pg_get_constraintdef(c.oid) as def,
               quote_ident(c.conname) as q,
               coalesce(quote_ident(rn.nspname) || '.' || quote_ident(r.relname),
                        quote_ident(tn.nspname) || '.' || quote_ident(t.typname)) as oq,
               coalesce(quote_ident(rn.nspname) || '.' || quote_ident(r.relname),
                        'domain ' || quote_ident(tn.nspname) || '.' || quote_ident(t.typname)) as on_
        from pg_constraint c
             left join pg_class r on r.oid = c.conrelid left join pg_namespace rn on rn.oid = r.relnamespace
             left join pg_type t on t.oid = c.contypid left join pg_namespace tn on tn.oid = t.typnamespace
        where c.oid >= 16384 and @in(coalesce(nullif(c.conrelid, 0), c.contypid))
          and ((r.oid is not null and {}) or (t.oid is not null and {}))
        offset 0) x)SQL",
                                     in_scope("r.relnamespace", "r.oid", "pg_class"),
                                     in_scope("t.typnamespace", "t.oid", "pg_type")),
      {{"type", "case x.contype when 'c' then 'check' when 'f' then 'foreign key' when 'p' then 'primary key' "
                "when 'u' then 'unique' when 't' then 'trigger' when 'x' then 'exclusion' else x.contype::text end", true},
       {"definition", "substr(x.def, 1, length(x.def) - case when x.condeferrable then 11 else 0 end "
                      "- case when x.condeferred then 19 else 0 end - case when x.convalidated then 0 else 10 end)"},
       {"validated", "x.convalidated", true},
       {"deferrable", "case when not x.condeferrable then 'no' when x.condeferred then 'initially deferred' "
                      "else 'initially immediate' end", true}}));

  b.push_back(with_props(fmt::format(R"SQL(
  select 'index', x.q, 'index ' || x.q, @props, true,
         'pg_class'::regclass, x.indexrelid, 0, null, null, null, null, null, x.indrelid
  from (select x.indexrelid, x.indrelid, x.indisunique, x.indisprimary, x.indisvalid, x.indisreplident, x.indisclustered,
               quote_ident(n.nspname) || '.' || quote_ident(i.relname) as q
        from pg_index x join pg_class i on i.oid = x.indexrelid join pg_class t on t.oid = x.indrelid
             join pg_namespace n on n.oid = t.relnamespace
        where x.indexrelid >= 16384 and {} and @in(x.indrelid)
        offset 0) x)SQL",
                                     in_scope("t.relnamespace", "t.oid", "pg_class")),
      {{"definition", "pg_get_indexdef(x.indexrelid)"},
       {"valid", "x.indisvalid", true},
       {"unique", "x.indisunique", true},
       {"primary", "x.indisprimary", true},
       {"replica identity", "case when x.indisreplident then 'true' end", true},
       {"clustered", "case when x.indisclustered then 'true' end", true}}));

  b.push_back(with_props(fmt::format(R"SQL(
  select case r.relkind when 'v' then 'view' else 'matview' end, r.q,
         case r.relkind when 'v' then 'view ' else 'materialized view ' end || r.q, @props, true,
         'pg_class'::regclass, r.oid, 0, r.relowner, r.relacl, 'r'::"char", r.q, null, r.oid
  from {})SQL",
                                     relations("'v', 'm'", "r")),
      {{"definition", "pg_get_viewdef(r.oid)"},
       {"options", "case when r.reloptions is not null then "
                   "(select array_agg(o order by o collate \"C\") from unnest(r.reloptions) o)::text end"},
       {"populated", "case when r.relkind = 'm' then r.relispopulated end", true}}));

  // Sequences, with their state ("value"): last_value once nextval/setval(.., true) ran,
  // absent after a reset. "owned by": OWNED BY (deptype a) or identity (i).
  b.push_back(with_props(fmt::format(R"SQL(
  select 'sequence', r.q, 'sequence ' || r.q, @props, true,
         'pg_class'::regclass, r.oid, 0, r.relowner, r.relacl, 's'::"char", 'sequence ' || r.q, null, r.oid
  from {}
       left join lateral (
         select quote_ident(on_.nspname) || '.' || quote_ident(oc.relname) || '.' || quote_ident(oa.attname) as col
         from pg_depend d join pg_class oc on oc.oid = d.refobjid join pg_namespace on_ on on_.oid = oc.relnamespace
              join pg_attribute oa on oa.attrelid = d.refobjid and oa.attnum = d.refobjsubid
         where d.classid = 'pg_class'::regclass and d.objid = r.oid and d.objsubid = 0
           and d.refclassid = 'pg_class'::regclass and d.deptype in ('a', 'i') and d.refobjsubid > 0
         limit 1) o on true)SQL",
                                     relations("'S'", "r", ", s.*", " join pg_sequence s on s.seqrelid = c.oid")),
      {{"type", "format_type(r.seqtypid, null)", true},
       {"start", "r.seqstart", true},
       {"increment", "r.seqincrement", true},
       {"min", "r.seqmin", true},
       {"max", "r.seqmax", true},
       {"cycle", "r.seqcycle", true},
       {"cache", "r.seqcache", true},
       {"unlogged", "case when r.relpersistence = 'u' then 'true' end", true},
       {"owned by", "o.col"},
       {"value", "case when has_sequence_privilege(r.oid, 'SELECT,USAGE') then pg_sequence_last_value(r.oid)::text "
                 "else '(not readable)' end", true}}));

  // Functions, procedures, aggregates. SET options (search_path, ...) are one property each,
  // so their keys are only known per row: the object is assembled by an ordered aggregate.
  b.push_back(fmt::format(R"SQL(
  select 'function', f.id, f.what || ' ' || f.id,
         (select '{{' || string_agg(to_json(kv.k)::text || ': ' || to_json(kv.v)::text, ', '
                                   order by octet_length(kv.k), kv.k collate "C") || '}}'
          from (values ('kind', f.what),
                       ('arguments', pg_get_function_arguments(f.oid)),
                       ('result', pg_get_function_result(f.oid)),
                       ('language', f.lanname::text),
                       ('body', @body),
                       ('library', f.probin),
                       ('volatility', case f.provolatile when 'i' then 'immutable' when 's' then 'stable' else 'volatile' end),
                       ('strict', f.proisstrict::text),
                       ('security definer', f.prosecdef::text),
                       ('leakproof', f.proleakproof::text),
                       ('parallel', case f.proparallel when 's' then 'safe' when 'r' then 'restricted' else 'unsafe' end),
                       ('cost', f.procost::text),
                       ('rows', case when f.proretset then f.prorows::text end)
                union all
                select split_part(c, '=', 1), substr(c, strpos(c, '=') + 1) from unnest(f.proconfig) c) kv (k, v)
          where kv.v is not null),
         true, 'pg_proc'::regclass, f.oid, 0, f.proowner, f.proacl, 'f'::"char", f.what || ' ' || f.id, null, f.oid
  from (select p.oid, @prosqlbody p.prosrc, p.probin, p.provolatile, p.proisstrict, p.prosecdef, p.proleakproof,
               p.proparallel, p.procost, p.proretset, p.prorows, p.proconfig, p.proowner, p.proacl, l.lanname,
               quote_ident(n.nspname) || '.' || quote_ident(p.proname) || '(' || oidvectortypes(p.proargtypes) || ')' as id,
               case p.prokind when 'p' then 'procedure' when 'a' then 'aggregate' when 'w' then 'window function'
                              else 'function' end as what
        from pg_proc p join pg_namespace n on n.oid = p.pronamespace join pg_language l on l.oid = p.prolang
        where p.oid >= 16384 and {} and @in(p.oid)
          -- constructors of range types and the like come with their type
          and p.oid not in (select d.objid from pg_depend d where d.classid = 'pg_proc'::regclass and d.deptype = 'i')
        offset 0) f)SQL",
                          in_scope("p.pronamespace", "p.oid", "pg_proc")));
  // SQL-standard bodies (BEGIN ATOMIC / RETURN) came with PostgreSQL 14.
  b.back() = replace_all(b.back(), "@prosqlbody", version >= 140000 ? "p.prosqlbody," : "");
  b.back() = replace_all(b.back(), "@body", version >= 140000 ? "case when f.prosqlbody is not null then "
                                                                "pg_get_function_sqlbody(f.oid) else f.prosrc end"
                                                              : "f.prosrc");

  // Triggers (not the internal ones behind foreign keys), rules other than the ones views
  // are made of, and policies, each on a relation in scope.
  auto on_relation = [](std::string_view catalog, std::string_view alias, std::string_view relid,
                        std::string_view columns, std::string_view where) {
    return fmt::format(
        "(select {0}.oid, {0}.{3} as anchor, {1}, quote_ident(n.nspname) || '.' || quote_ident(c.relname) as rq\n"
        "        from {2} {0} join pg_class c on c.oid = {0}.{3} join pg_namespace n on n.oid = c.relnamespace\n"
        "        where {0}.oid >= 16384 and {4} and {5} and @in({0}.{3})\n"
        "        offset 0) {0}",
        alias, columns, catalog, relid, where, in_scope("c.relnamespace", "c.oid", "pg_class"));
  };
  b.push_back(with_props(fmt::format(R"SQL(
  select 'trigger', t.rq || '.' || t.q, 'trigger ' || t.q || ' on ' || t.rq, @props, true,
         'pg_trigger'::regclass, t.oid, 0, null, null, null, null, null, t.anchor
  from {})SQL",
                                     on_relation("pg_trigger", "t", "tgrelid", "t.tgenabled, quote_ident(t.tgname) as q",
                                                 "not t.tgisinternal")),
      {{"definition", "pg_get_triggerdef(t.oid)"}, {"enabled", fmt::format(kEnabled, "t.tgenabled"), true}}));

  b.push_back(with_props(fmt::format(R"SQL(
  select 'rule', w.rq || '.' || w.q, 'rule ' || w.q || ' on ' || w.rq, @props, true,
         'pg_rewrite'::regclass, w.oid, 0, null, null, null, null, null, w.anchor
  from {})SQL",
                                     on_relation("pg_rewrite", "w", "ev_class", "w.ev_enabled, quote_ident(w.rulename) as q",
                                                 "w.rulename <> '_RETURN'")),
      {{"definition", "pg_get_ruledef(w.oid)"}, {"enabled", fmt::format(kEnabled, "w.ev_enabled"), true}}));

  b.push_back(with_props(fmt::format(R"SQL(
  select 'policy', p.rq || '.' || p.q, 'policy ' || p.q || ' on ' || p.rq, @props, true,
         'pg_policy'::regclass, p.oid, 0, null, null, null, null, null, p.anchor
  from {})SQL",
                                     on_relation("pg_policy", "p", "polrelid",
                                                 "p.polcmd, p.polpermissive, p.polroles, p.polqual, p.polwithcheck, p.polrelid, "
                                                 "quote_ident(p.polname) as q",
                                                 "true")),
      {{"command", "case p.polcmd when 'r' then 'SELECT' when 'a' then 'INSERT' when 'w' then 'UPDATE' "
                   "when 'd' then 'DELETE' else 'ALL' end", true},
       {"permissive", "p.polpermissive", true},
       {"roles", "(select string_agg(x.r, ', ' order by x.r collate \"C\") from (select case when o = 0 then 'PUBLIC' "
                 "else quote_ident(pg_get_userbyid(o)) end as r from unnest(p.polroles) o) x)"},
       {"USING", "pg_get_expr(p.polqual, p.polrelid)"},
       {"WITH CHECK", "pg_get_expr(p.polwithcheck, p.polrelid)"}}));

  // Row level security, when enabled or forced.
  b.push_back(with_props(fmt::format(R"SQL(
  select 'rls', r.q, 'RLS on ' || r.q, @props, true, null, null, null, null, null, null, null, null, r.oid
  from {}
  where r.relrowsecurity or r.relforcerowsecurity)SQL",
                                     relations("'r', 'p'", "r")),
      {{"enabled", "r.relrowsecurity", true}, {"forced", "r.relforcerowsecurity", true}}));

  // Enums, domains, standalone composite types and ranges (not rowtypes, not arrays).
  auto type_props = [](char typtype) -> std::string {
    switch (typtype) {
      case 'e':
        return props_sql({{"labels", "(select array_agg(e.enumlabel order by e.enumsortorder) from pg_enum e "
                                     "where e.enumtypid = t.oid)"}});
      case 'd':
        return props_sql({{"type", "format_type(t.typbasetype, t.typtypmod)"},
                          {"default", "t.typdefault"},
                          {"not null", "t.typnotnull", true},
                          {"collation", "case when t.typcollation not in (0, 100) then t.typcollation::regcollation::text end"}});
      case 'c':
        return props_sql(
            {{"attributes",
              "(select string_agg(quote_ident(a.attname) || ' ' || format_type(a.atttypid, a.atttypmod) || "
              "case when a.attcollation not in (0, 100) then ' COLLATE ' || a.attcollation::regcollation::text else '' end, "
              "', ' order by a.attnum) from pg_attribute a where a.attrelid = t.typrelid and a.attnum > 0 "
              "and not a.attisdropped)"}});
      default:
        return props_sql({{"subtype", "format_type(rg.rngsubtype, null)"},
                          {"subtype opclass", "(select oc.opcname from pg_opclass oc where oc.oid = rg.rngsubopc)"},
                          {"canonical", "nullif(rg.rngcanonical::regproc::text, '-')"},
                          {"subtype diff", "nullif(rg.rngsubdiff::regproc::text, '-')"},
                          {"collation", "case when rg.rngcollation not in (0, 100) then rg.rngcollation::regcollation::text end"}});
    }
  };
  b.push_back(fmt::format(R"SQL(
  select case t.typtype when 'e' then 'enum' when 'd' then 'domain' when 'c' then 'composite' else 'range' end, t.q,
         case t.typtype when 'e' then 'enum ' when 'd' then 'domain ' when 'c' then 'composite type ' else 'range type ' end || t.q,
         case t.typtype when 'e' then {} when 'd' then {} when 'c' then {} else {} end, true,
         'pg_type'::regclass, t.oid, 0, t.typowner, t.typacl, 'T'::"char", 'type ' || t.q, null, t.oid
  from (select t.oid, t.typtype, t.typowner, t.typacl, t.typrelid, t.typbasetype, t.typtypmod, t.typdefault, t.typnotnull,
               t.typcollation, quote_ident(n.nspname) || '.' || quote_ident(t.typname) as q
        from pg_type t join pg_namespace n on n.oid = t.typnamespace left join pg_class c on c.oid = t.typrelid
        where t.oid >= 16384 and (t.typtype in ('e', 'd', 'r') or c.relkind = 'c') and {} and @in(t.oid)
        offset 0) t
       left join pg_range rg on rg.rngtypid = t.oid)SQL",
                          type_props('e'), type_props('d'), type_props('c'), type_props('r'),
                          in_scope("t.typnamespace", "t.oid", "pg_type")));

  // Extensions: their member objects are left out of the model; name and version cover them.
  b.push_back(with_props(R"SQL(
  select 'extension', quote_ident(e.extname), 'extension ' || quote_ident(e.extname), @props, true,
         'pg_extension'::regclass, e.oid, 0, e.extowner, null, null, null, null, 0::oid
  from pg_extension e join pg_namespace n on n.oid = e.extnamespace
  where n.nspname <> all (@exclude))SQL",
      {{"version", "e.extversion"}, {"schema", "quote_ident(n.nspname)"}}));

  // Default privileges: one object per (role, schema or all, object type), one property per
  // grantee. The keys are role names, so the object is assembled like a function's.
  b.push_back(R"SQL(
  select 'default_acl', x.role || ' ' || coalesce(x.nsp, '*') || ' ' || x.objtype,
         'default privileges for role ' || x.role || coalesce(' in schema ' || x.nsp, '') || ' on ' || x.objtype,
         coalesce((select '{' || string_agg(to_json(g.grantee)::text || ': ' || to_json(g.privs)::text, ', '
                                            order by octet_length(g.grantee), g.grantee collate "C") || '}'
                   from (select case when a.grantee = 0 then 'PUBLIC' else pg_get_userbyid(a.grantee)::text end as grantee,
                                string_agg(a.privilege_type || case when a.is_grantable then ' WITH GRANT OPTION' else '' end,
                                           ', ' order by a.privilege_type collate "C") as privs
                         from aclexplode(x.defaclacl) a group by 1) g), '{}'),
         true, null, null, null, null, null, null, null, null, 0::oid
  from (select quote_ident(pg_get_userbyid(da.defaclrole)) as role, quote_ident(n.nspname) as nsp, da.defaclacl,
               case da.defaclobjtype when 'r' then 'tables' when 'S' then 'sequences' when 'f' then 'functions'
                                     when 'T' then 'types' when 'n' then 'schemas' else da.defaclobjtype::text end as objtype
        from pg_default_acl da left join pg_namespace n on n.oid = da.defaclnamespace
        where da.defaclnamespace = 0 or da.defaclnamespace not in (select oid from xns)) x)SQL");

  b.push_back(with_props(R"SQL(
  select 'publication', quote_ident(p.pubname), 'publication ' || quote_ident(p.pubname), @props, true,
         'pg_publication'::regclass, p.oid, 0, p.pubowner, null, null, null, null, 0::oid
  from pg_publication p)SQL",
      {{"all tables", "p.puballtables", true},
       {"publish", "concat_ws(', ', case when p.pubinsert then 'insert' end, case when p.pubupdate then 'update' end, "
                   "case when p.pubdelete then 'delete' end, case when p.pubtruncate then 'truncate' end)", true},
       {"via root", "p.pubviaroot", true},
       // Column lists, row filters and schemas came with PostgreSQL 15.
       {"tables", fmt::format("(select string_agg(t, ', ' order by t collate \"C\") from ("
                              "select quote_ident(tn.nspname) || '.' || quote_ident(tc.relname) {} as t "
                              "from pg_publication_rel pr join pg_class tc on tc.oid = pr.prrelid "
                              "join pg_namespace tn on tn.oid = tc.relnamespace where pr.prpubid = p.oid) pt)",
                              version < 150000 ? ""
                                               : "|| coalesce(' (' || (select string_agg(quote_ident(a.attname), ', ' "
                                                 "order by a.attnum) from pg_attribute a where a.attrelid = pr.prrelid "
                                                 "and a.attnum = any (pr.prattrs)) || ')', '') "
                                                 "|| coalesce(' WHERE (' || pg_get_expr(pr.prqual, pr.prrelid) || ')', '')")},
       {"schemas", version < 150000
                       ? "null"
                       : "(select string_agg(quote_ident(pn.nspname), ', ' order by quote_ident(pn.nspname) collate \"C\") "
                         "from pg_publication_namespace pp join pg_namespace pn on pn.oid = pp.pnnspid where pp.pnpubid = p.oid)"}}));

  b.push_back(with_props(R"SQL(
  select 'event_trigger', quote_ident(e.evtname), 'event trigger ' || quote_ident(e.evtname), @props, true,
         'pg_event_trigger'::regclass, e.oid, 0, e.evtowner, null, null, null, null, 0::oid
  from pg_event_trigger e
  where e.oid not in (select objid from em where classid = 'pg_event_trigger'::regclass))SQL",
      {{"event", "e.evtevent"},
       {"function", "e.evtfoid::regproc::text"},
       {"tags", "e.evttags::text"},
       {"enabled", fmt::format(kEnabled, "e.evtenabled"), true}}));
  return b;
}

// Objects derived from the base rows: owners, comments, grants.
constexpr std::string_view kDerived = R"SQL(
lines (kind, id, label, props, anchor, objid) as (
  select kind, id, label, props, anchor, objid from base where main
  union all
  -- ownership of every object that has an owner
  select 'owner', b.kind || ' ' || b.id, 'owner of ' || b.label,
         '{"owner": ' || to_json(pg_get_userbyid(b.owner)::text)::text || '}', b.anchor, b.objid
  from base b where b.main and b.owner is not null and b.kind <> 'column'
  union all
  -- comments: a hashed membership test first (NOT NOT IN: never turned into a join) over the
  -- comments on user objects, then one index probe per commented object; initdb's objects
  -- (public schema, plpgsql) are probed directly
  select 'comment', b.kind || ' ' || b.id, 'comment on ' || b.label, '{"text": ' || to_json(d.description)::text || '}', b.anchor, b.objid
  from base b
       cross join lateral (select d.description from pg_description d
                           where d.objoid = b.objid and d.classoid = b.classid and d.objsubid = b.subid offset 0) d
  where b.classid is not null
    and (b.objid < 16384 or not ((b.objid, b.classid, b.subid) not in
                                 (select d.objoid, d.classoid, d.objsubid from pg_description d where d.objoid >= 16384)))
  union all
  -- grants: one object per (object, grantee, privilege). No ACL means the built-in defaults,
  -- which only grant to others than the owner on functions and types (EXECUTE / USAGE to
  -- PUBLIC), so a REVOKE shows as a removed grant. The owner's own privileges are left out:
  -- ownership is its own object.
  select 'grant', g.kind || ' ' || g.id || ' / ' || g.grantee || ' / ' || g.priv,
         'grant ' || g.priv || coalesce(' (' || g.gcol || ')', '') || ' on ' || g.gon || ' to ' || g.grantee,
         '{"grantable": "' || g.grantable::text || '"}', g.anchor, g.objid
  from (select b.kind, b.id, b.gon, b.gcol, b.anchor, b.objid, a.privilege_type as priv,
               case when a.grantee = 0 then 'PUBLIC' else pg_get_userbyid(a.grantee)::text end as grantee,
               bool_or(a.is_grantable) as grantable
        from base b cross join lateral aclexplode(coalesce(b.acl, acldefault(b.acltype, b.owner))) a
        where b.gon is not null and (b.acl is not null or b.acltype in ('f', 'T')) and a.grantee <> b.owner
        group by 1, 2, 3, 4, 5, 6, 7, 8) g
))SQL";

// Pins the settings the pg_get_* functions print by (s1), restores them at the end (outer
// projection). s1 references s0 and the model references s1, each lateral and behind
// OFFSET 0, so they run in that order.
constexpr std::string_view kHead = R"SQL(
select r.*,
       set_config('search_path', s0.search_path, true), set_config('DateStyle', s0.datestyle, true),
       set_config('IntervalStyle', s0.intervalstyle, true), set_config('TimeZone', s0.timezone, true),
       set_config('extra_float_digits', s0.efd, true), set_config('bytea_output', s0.bytea, true)
from (select current_setting('search_path') as search_path, current_setting('DateStyle') as datestyle,
             current_setting('IntervalStyle') as intervalstyle, current_setting('TimeZone') as timezone,
             current_setting('extra_float_digits') as efd, current_setting('bytea_output') as bytea
      offset 0) s0
cross join lateral (
  select set_config('search_path', '', true) as pinned, set_config('DateStyle', 'ISO, MDY', true),
         set_config('IntervalStyle', 'postgres', true), set_config('TimeZone', 'UTC', true),
         set_config('extra_float_digits', '1', true), set_config('bytea_output', 'hex', true)
  where s0.search_path is not null offset 0) s1
cross join lateral (
  with)SQL";

// What the two entry points select from the lines. Capture gets the UTF-8 bytes digest
// hashes, hex encoded: the same bytes whatever the client encoding (a bytea would be printed
// after the statement has given the session its bytea_output back).
constexpr std::string_view kDigestTail = R"SQL(
  select encode(sha256(convert_to(coalesce(string_agg(l.line, E'\n'
           order by l.kind collate "C", l.id collate "C", l.line collate "C"), ''), 'UTF8')), 'hex') as hash,
         count(*) as objects
  from (select kind, id, '["' || kind || '", ' || to_json(id)::text || ', ' || to_json(label)::text || ', ' || props || ']'
          as line from lines offset 0) l
  where s1.pinned is not null
  offset 0) r)SQL";

constexpr std::string_view kCaptureTail = R"SQL(
  select encode(convert_to(coalesce(string_agg(l.line, E'\n'
           order by l.kind collate "C", l.id collate "C", l.line collate "C"), ''), 'UTF8'), 'hex') as lines,
         count(*) as objects
  from (select kind, id, '["' || kind || '", ' || to_json(id)::text || ', ' || to_json(label)::text || ', ' || props || ']'
          as line from lines offset 0) l
  where s1.pinned is not null
  offset 0) r)SQL";

// "@in(expr)" marks where a branch can be narrowed to the anchors a tracker re-reads
// (track.cpp): expr = any(those anchors) when `scoped`, else true (every object).
std::string expand_in(std::string s, bool scoped) {
  for (size_t at = s.find("@in("); at != std::string::npos; at = s.find("@in(", at)) {
    size_t close = at + 4;
    for (int depth = 1; depth > 0; ++close) depth += s[close] == '(' ? 1 : s[close] == ')' ? -1 : 0;
    --close;  // the matching ')'

    std::string expr = s.substr(at + 4, close - at - 4);
    std::string with = scoped ? "(" + expr + " = any ((select d from dset)::oid[]))" : "true";
    s.replace(at, close + 1 - at, with);
    at += with.size();
  }
  return s;
}

// --- Tracking (track.cpp): the same objects with their anchors, narrowed to what changed ---
//
// An anchor is the OID of the object whose catalog rows an object's line is read from: a
// relation for its columns, constraints, indexes, triggers, rules, policies, RLS, grants and
// comments; a function, type or schema for itself; 0 for the few global objects (extensions,
// default privileges, publications, event triggers), which are always re-read.
//
// `fresh` lists the catalog rows written since the mark (a transaction ID, set by the
// caller in belay.fp_mark: every row whose xmin is at or after it). Their anchors, the
// anchors of objects that depend on them (pg_depend: a view or foreign key prints the names
// of what it references), sequences whose value is not the one the caller last saw
// (belay.fp_seq: values change through data, not DDL) and the
// caller's extra anchors (belay.fp_extra: objects of deleted rows, which leave no trace) make
// `dset`, the anchors re-read. Deleted rows are found by the caller from the counts.
constexpr std::string_view kTrackScopes = R"SQL(,
-- age(): how many transactions ago, no text conversion per row; a frozen xid is the oldest
mark as (select age(nullif(current_setting('belay.fp_mark', true), '')::xid) as x offset 0),
fresh (cat, key, classid, oid) as (
  select 'pg_class', c.oid::text, 'pg_class'::regclass, c.oid from pg_class c where c.oid >= 16384 and @new(c.xmin)
  union all select 'pg_attribute', null, 'pg_class'::regclass, a.attrelid from pg_attribute a
            where a.attrelid >= 16384 and @new(a.xmin)
  union all select 'pg_attrdef', null, 'pg_class'::regclass, d.adrelid from pg_attrdef d where d.oid >= 16384 and @new(d.xmin)
  union all select 'pg_constraint', c.oid::text, 'pg_constraint'::regclass, c.oid from pg_constraint c
            where c.oid >= 16384 and @new(c.xmin)
  union all select 'pg_index', null, 'pg_class'::regclass, i.indexrelid from pg_index i
            where i.indexrelid >= 16384 and @new(i.xmin)
  union all select 'pg_trigger', t.oid::text, 'pg_trigger'::regclass, t.oid from pg_trigger t where t.oid >= 16384 and @new(t.xmin)
  union all select 'pg_rewrite', w.oid::text, 'pg_rewrite'::regclass, w.oid from pg_rewrite w where w.oid >= 16384 and @new(w.xmin)
  union all select 'pg_policy', p.oid::text, 'pg_policy'::regclass, p.oid from pg_policy p where p.oid >= 16384 and @new(p.xmin)
  union all select 'pg_proc', p.oid::text, 'pg_proc'::regclass, p.oid from pg_proc p where p.oid >= 16384 and @new(p.xmin)
  union all select 'pg_type', t.oid::text, 'pg_type'::regclass, t.oid from pg_type t where t.oid >= 16384 and @new(t.xmin)
  union all select 'pg_enum', null, 'pg_type'::regclass, e.enumtypid from pg_enum e where e.oid >= 16384 and @new(e.xmin)
  union all select 'pg_range', null, 'pg_type'::regclass, r.rngtypid from pg_range r where r.rngtypid >= 16384 and @new(r.xmin)
  union all select 'pg_sequence', null, 'pg_class'::regclass, q.seqrelid from pg_sequence q
            where q.seqrelid >= 16384 and @new(q.xmin)
  union all select 'pg_inherits', null, 'pg_class'::regclass, i.inhrelid from pg_inherits i
            where i.inhrelid >= 16384 and @new(i.xmin)
  union all select 'pg_partitioned_table', null, 'pg_class'::regclass, p.partrelid from pg_partitioned_table p
            where p.partrelid >= 16384 and @new(p.xmin)
  union all select 'pg_foreign_table', null, 'pg_class'::regclass, f.ftrelid from pg_foreign_table f
            where f.ftrelid >= 16384 and @new(f.xmin)
  union all select 'pg_namespace', n.oid::text, 'pg_namespace'::regclass, n.oid from pg_namespace n where @new(n.xmin)
  union all select 'pg_description', d.objoid || '/' || d.classoid || '/' || d.objsubid, d.classoid, d.objoid
            from pg_description d where (d.objoid >= 16384 or d.classoid = 'pg_namespace'::regclass) and @new(d.xmin)
  -- roles, shared by every database of the cluster: the caller re-reads everything only when
  -- a known role's name changed (names are what lines print), not for roles made or dropped
  union all select 'pg_authid', a.oid::text || '=' || md5(a.rolname), 0, 0 from pg_authid a where @new(a.xmin)
  -- names printed inside other objects' lines, changed rarely: any change re-reads everything
  union all select 'other', null, 0, 0
            from (select xmin from pg_collation where oid >= 16384
                  union all select xmin from pg_opclass where oid >= 16384 union all select xmin from pg_operator where oid >= 16384
                  union all select xmin from pg_language where oid >= 16384
                  union all select xmin from pg_foreign_server where oid >= 16384) o
            where @new(o.xmin)
),
-- sequence values, which change through data: those that differ from belay.fp_seq are re-read
seqs (oid, v) as (
  select s.oid, coalesce(case when has_sequence_privilege(s.oid, 'SELECT,USAGE') then pg_sequence_last_value(s.oid)::text end, '')
  from pg_class s where s.oid >= 16384 and s.relkind = 'S'
),
raw (classid, oid) as (
  select f.classid, f.oid from fresh f where f.cat not in ('other', 'pg_authid')
  union
  select d.classid, d.objid from pg_depend d
  where d.refclassid in ('pg_class'::regclass, 'pg_type'::regclass, 'pg_proc'::regclass)
    and d.refobjid = any (array(select f.oid from fresh f where f.classid in ('pg_class'::regclass, 'pg_type'::regclass,
                                                                              'pg_proc'::regclass)))
),
anchors (o) as (
  select coalesce(ix.indrelid, cc.reltype, nullif(con.conrelid, 0), con.contypid, tg.tgrelid, po.polrelid, rw.ev_class,
                  ad.adrelid, r.oid)
  from raw r
       left join pg_index ix on r.classid = 'pg_class'::regclass and ix.indexrelid = r.oid
       left join pg_class cc on r.classid = 'pg_class'::regclass and cc.oid = r.oid and cc.relkind = 'c'
       left join pg_constraint con on r.classid = 'pg_constraint'::regclass and con.oid = r.oid
       left join pg_trigger tg on r.classid = 'pg_trigger'::regclass and tg.oid = r.oid
       left join pg_policy po on r.classid = 'pg_policy'::regclass and po.oid = r.oid
       left join pg_rewrite rw on r.classid = 'pg_rewrite'::regclass and rw.oid = r.oid
       left join pg_attrdef ad on r.classid = 'pg_attrdef'::regclass and ad.oid = r.oid
  union select 0
  union select s.oid from seqs s
  -- a hashed subplan: the setting is split once, not once per sequence
  where s.oid::text || ':' || s.v not in (select x from unnest(string_to_array(current_setting('belay.fp_seq', true), ',')) x)
),
dset (d) as (
  select array(select o from anchors) || coalesce(nullif(current_setting('belay.fp_extra', true), '')::oid[], '{}')
))SQL";

// What a tracker reads, in one row (the outer projection gives the session its settings
// back, so every line must be computed before the first row is returned): the lines with
// their anchors, the keys of fresh rows of the catalogs whose deletions it follows, those
// catalogs' row counts, the next mark, whether something outside the anchors changed, and
// the anchors re-read. Ids and lines are sent as hex UTF-8: the bytes digest() hashes,
// whatever the client encoding.
constexpr std::string_view kTrackTail = R"SQL(
  select (select string_agg(l.anchor::text || ',' || coalesce(l.objid::text, '') || ',' || l.kind || ','
                            || encode(convert_to(l.id, 'UTF8'), 'hex') || ','
                            || encode(convert_to('["' || l.kind || '", ' || to_json(l.id)::text || ', '
                                                 || to_json(l.label)::text || ', ' || l.props || ']', 'UTF8'), 'hex'), ';')
          from lines l) as lines,
         (select string_agg(n.cat || ':' || n.keys, ';')
          from (select f.cat, string_agg(f.key, ',') as keys from fresh f where f.key is not null group by f.cat) n) as fresh,
         (select string_agg(k.cat || ':' || k.n, ';')
          from (select 'pg_class' as cat, count(*) as n from pg_class where oid >= 16384
                union all select 'pg_constraint', count(*) from pg_constraint where oid >= 16384
                union all select 'pg_trigger', count(*) from pg_trigger where oid >= 16384
                union all select 'pg_rewrite', count(*) from pg_rewrite where oid >= 16384
                union all select 'pg_policy', count(*) from pg_policy where oid >= 16384
                union all select 'pg_proc', count(*) from pg_proc where oid >= 16384
                union all select 'pg_type', count(*) from pg_type where oid >= 16384
                union all select 'pg_namespace', count(*) from pg_namespace
                union all select 'pg_description', count(*) from pg_description
                          where objoid >= 16384 or classoid = 'pg_namespace'::regclass
                union all select 'extension members', count(*) from pg_depend
                          where refclassid = 'pg_extension'::regclass and deptype = 'e') k) as counts,
         (txid_snapshot_xmin(txid_current_snapshot()) & 4294967295)::text as next_mark,
         (select count(*) from fresh where cat = 'other')::text as other,
         @dset as anchors,
         (select string_agg(s.oid::text || ':' || s.v, ',') from seqs s) as sequences
  where s1.pinned is not null
  offset 0) r)SQL";

// A generated statement and the name it is prepared under (derived from its text).
struct Statement {
  std::string name, sql;
};

// The statement for `tail` on a server of `version`, with the excluded schemas inlined as
// literals: no parameters, so a prepared statement gets its generic plan at once. Built
// once per (tail, version, exclusions).
const Statement& statement(std::string_view tail, const Options& opt, int version) {
  static std::mutex mu;
  static std::map<std::tuple<std::string_view, int, std::vector<std::string>>, Statement> cache;
  std::lock_guard lock(mu);
  auto key = std::make_tuple(tail, version, opt.exclude_schemas);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  std::string s(kHead);
  s += kScopes;
  s += ",\nbase (kind, id, label, props, main, classid, objid, subid, owner, acl, acltype, gon, gcol, anchor) as (";
  auto branches = base_branches(version);
  for (size_t i = 0; i < branches.size(); ++i) s += (i ? "\n  union all" : "") + branches[i];
  s += "\n),";
  s += kDerived;
  s += tail;
  std::string exclude;
  for (auto& name : opt.exclude_schemas) exclude += (exclude.empty() ? "" : ", ") + pg::quote_literal(name);
  s = replace_all(std::move(s), "@exclude", exclude.empty() ? "'{}'::text[]" : "array[" + exclude + "]::text[]");
  s = expand_in(std::move(s), false);
  auto name = "belay_fingerprint_" + sha256_hex(s).substr(0, 16);
  return cache.emplace(key, Statement{std::move(name), std::move(s)}).first->second;
}

// The tracking statement: every object (scoped = false) or only those of `dset`.
const Statement& tracked_statement(const Options& opt, int version, bool scoped) {
  static std::mutex mu;
  static std::map<std::tuple<bool, int, std::vector<std::string>>, Statement> cache;
  std::lock_guard lock(mu);
  auto key = std::make_tuple(scoped, version, opt.exclude_schemas);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  std::string s(kHead);
  s += kScopes;
  s += kTrackScopes;
  s += ",\nbase (kind, id, label, props, main, classid, objid, subid, owner, acl, acltype, gon, gcol, anchor) as (";
  auto branches = base_branches(version);
  for (size_t i = 0; i < branches.size(); ++i) s += (i ? "\n  union all" : "") + branches[i];
  s += "\n),";
  s += kDerived;
  s += kTrackTail;
  std::string exclude;
  for (auto& name : opt.exclude_schemas) exclude += (exclude.empty() ? "" : ", ") + pg::quote_literal(name);
  s = replace_all(std::move(s), "@exclude", exclude.empty() ? "'{}'::text[]" : "array[" + exclude + "]::text[]");
  // Unscoped: every catalog row counts as fresh, so the counted catalogs' keys all come back.
  s = replace_all(std::move(s), "@dset", scoped ? "(select d::text from dset)" : "null");
  for (size_t at = s.find("@new("); at != std::string::npos; at = s.find("@new(", at)) {
    auto close = s.find(')', at);
    std::string col = s.substr(at + 5, close - at - 5);
    std::string with = scoped ? "(age(" + col + ") <= (select x from mark))" : "true";
    s.replace(at, close + 1 - at, with);
    at += with.size();
  }
  s = expand_in(std::move(s), scoped);
  auto name = std::string(scoped ? "belay_fp_track_" : "belay_fp_all_") + sha256_hex(s).substr(0, 16);
  return cache.emplace(key, Statement{std::move(name), std::move(s)}).first->second;
}

// Statements prepared per live connection: (connection object, backend pid, name). One found
// missing anyway (DISCARD ALL in a migration, a pooler) is prepared again.
std::mutex prepared_mu;
std::set<std::tuple<const void*, int, std::string>> prepared;

bool is_prepared(pg::Conn& conn, const std::string& name) {
  std::lock_guard lock(prepared_mu);
  return prepared.count({&conn, conn.backend_pid(), name}) > 0;
}
void set_prepared(pg::Conn& conn, const std::string& name, bool yes) {
  std::lock_guard lock(prepared_mu);
  if (!yes) {
    prepared.erase({&conn, conn.backend_pid(), name});
    return;
  }
  if (prepared.size() > 4096) prepared.clear();  // stale entries of closed connections
  prepared.insert({&conn, conn.backend_pid(), name});
}

// Runs `st` as a prepared statement: one round trip once it is prepared on the connection.
Result<pg::Rows> run_prepared(pg::Conn& conn, const Statement& st) {
  auto prepare = [&]() -> Status {
    // Another pg::Conn object on the same session may have prepared it already.
    BELAY_ASSIGN(auto have, conn.query("select 1 from pg_prepared_statements where name = $1", {st.name}));
    if (have.size() == 0) BELAY_TRY(conn.exec("prepare " + st.name + " as " + st.sql));
    set_prepared(conn, st.name, true);
    return ok_status();
  };
  if (!is_prepared(conn, st.name)) BELAY_TRY(prepare());
  auto rows = conn.query("execute " + st.name);
  if (!rows.ok() && rows.error().sqlstate == "26000") {  // invalid_sql_statement_name: deallocated meanwhile
    set_prepared(conn, st.name, false);
    BELAY_TRY(prepare());
    rows = conn.query("execute " + st.name);
  }
  return rows;
}

Error annotate(Error e, std::string_view what) {
  e.message = fmt::format("cannot {} the schema fingerprint: {}", what, e.message);
  return e;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

Result<Model> capture(pg::Conn& conn, const Options& opt) {
  auto rows = run_prepared(conn, statement(kCaptureTail, opt, conn.server_version()));
  if (!rows.ok()) return annotate(std::move(rows).error(), "capture");
  std::string hex = rows->get(0, 0);
  std::string text(hex.size() / 2, '\0');
  for (size_t i = 0; i < text.size(); ++i) {
    int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return Error::failure("schema fingerprint: the server sent malformed hex");
    text[i] = static_cast<char>(hi << 4 | lo);
  }
  Model m;
  m.hash = sha256_hex(text);
  m.objects.reserve(std::stoul(rows->get(0, 1)));
  std::string_view rest = text;
  while (!rest.empty()) {
    auto nl = rest.find('\n');
    auto line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
    BELAY_ASSIGN(auto obj, detail::parse_line(line));
    // The hash of a model read back from JSON is recomputed from its objects: the objects
    // must serialise to exactly the lines the server hashed.
    if (detail::canonical_line(obj) != line)
      return Error::failure("schema fingerprint: an object does not serialise back to its catalog line")
          .with_object(std::string(line));
    m.objects.push_back(std::move(obj));
  }
  return m;
}

namespace detail {
// Runs the tracking statement with the mark and extra anchors set for it alone (local
// settings in one implicit transaction), prepared once per connection.
Result<pg::Rows> run_tracked(pg::Conn& conn, const Options& opt, bool scoped, const std::string& mark,
                             const std::string& extra, const std::string& sequences) {
  const Statement& st = tracked_statement(opt, conn.server_version(), scoped);
  auto prepare = [&]() -> Status {
    BELAY_ASSIGN(auto have, conn.query("select 1 from pg_prepared_statements where name = $1", {st.name}));
    if (have.size() == 0) BELAY_TRY(conn.exec("prepare " + st.name + " as " + st.sql));
    set_prepared(conn, st.name, true);
    return ok_status();
  };
  if (!is_prepared(conn, st.name)) BELAY_TRY(prepare());
  std::string q = fmt::format(
      "select set_config('belay.fp_mark', {}, true), set_config('belay.fp_extra', {}, true), "
      "set_config('belay.fp_seq', {}, true); execute {}",
      pg::quote_literal(mark), pg::quote_literal(extra), pg::quote_literal(sequences), st.name);
  auto rows = conn.exec_last(q);
  if (!rows.ok() && rows.error().sqlstate == "26000") {
    set_prepared(conn, st.name, false);
    BELAY_TRY(prepare());
    rows = conn.exec_last(q);
  }
  if (!rows.ok()) return annotate(std::move(rows).error(), "track");
  return rows;
}
}  // namespace detail

Result<Digest> digest(pg::Conn& conn, const Options& opt) {
  auto rows = run_prepared(conn, statement(kDigestTail, opt, conn.server_version()));
  if (!rows.ok()) return annotate(std::move(rows).error(), "compute");
  return Digest{rows->get(0, 0), static_cast<size_t>(std::stoull(rows->get(0, 1)))};
}

}  // namespace belay::fingerprint
