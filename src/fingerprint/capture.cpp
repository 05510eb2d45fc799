// Reading the fingerprint model from the catalog.
//
// One SQL statement produces every object of the model as a canonical line, the JSON text
// ["kind", "id", "label", {props}] exactly as PostgreSQL prints jsonb (keys ordered by
// length, then bytes). capture() fetches the lines, digest() hashes them inside the server;
// both order them by (kind, id, line) in byte order (collate "C") and hash the lines joined
// by "\n", so digest() == capture().hash by construction. model.cpp re-serialises parsed
// objects the same way (capture() checks that it does, line by line).
//
// Why the SQL looks the way it does:
//  * Props are assembled as text, not with jsonb_build_object: building and printing jsonb
//    per object was most of the cost. Keys are sorted here in C++ (props_sql) in jsonb's
//    order, so the text is identical to what jsonb would print.
//  * pg_get_viewdef & co. qualify names by the session's search_path, and print constants
//    by DateStyle, TimeZone, ...; a migration may change those. The statement pins them with
//    set_config(.., true) in a first lateral step and restores them in its last projection,
//    so the model does not depend on the session and the session is left as it was (also
//    inside an explicit transaction).
//  * User objects have OIDs >= 16384 (FirstNormalObjectId); filtering on that lets the big
//    catalogs (pg_proc, pg_description, pg_attribute, ...) be range-scanned instead of read
//    whole. Only initdb's own objects are below it: pg_catalog & co. (excluded) and the
//    public schema and plpgsql extension, which come from small catalogs read whole.
//  * digest() runs as a prepared statement (no parameters: the generic plan is cached from
//    the first EXECUTE); planning the statement costs more than running it.
#include <algorithm>
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

// Replaces the first "@props" in `branch` with the props expression.
std::string with_props(std::string branch, std::vector<Prop> props) {
  auto at = branch.find("@props");
  branch.replace(at, 6, props_sql(std::move(props)));
  return branch;
}

// How an enabled state of triggers, rules and event triggers reads.
constexpr std::string_view kEnabled =
    "case {} when 'O' then 'enabled' when 'D' then 'disabled' when 'R' then 'replica' when 'A' then 'always' end";

// Scopes shared by the branches: included schemas, extension members, relations, types.
constexpr std::string_view kScopes = R"SQL(
ns as (
  select n.oid, n.nspowner, n.nspacl, quote_ident(n.nspname) as q
  from pg_namespace n
  where n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')
    and n.nspname not like 'pg\_temp\_%' and n.nspname not like 'pg\_toast\_temp\_%'
    and n.nspname <> all (@exclude)
),
em as (  -- objects that belong to an extension
  select d.classid, d.objid from pg_depend d
  where d.refclassid = 'pg_extension'::regclass and d.deptype = 'e'
),
rel as (
  select c.oid, c.relkind, c.relowner, c.relacl, c.reloptions, c.relpersistence, c.relrowsecurity,
         c.relforcerowsecurity, c.relispartition, c.relpartbound, c.relreplident, c.relispopulated, c.relam,
         ns.q || '.' || quote_ident(c.relname) as q
  from pg_class c join ns on ns.oid = c.relnamespace
  where c.oid >= 16384 and c.relkind in ('r', 'p', 'f', 'v', 'm', 'S', 'i', 'I')
    and not exists (select from em where em.classid = 'pg_class'::regclass and em.objid = c.oid)
),
inh as (
  select i.inhrelid, string_agg(quote_ident(pn.nspname) || '.' || quote_ident(p.relname), ', ' order by i.inhseqno) as parents
  from pg_inherits i join pg_class p on p.oid = i.inhparent join pg_namespace pn on pn.oid = p.relnamespace
  where i.inhrelid >= 16384
  group by i.inhrelid
),
typ as (  -- enums, domains, ranges and standalone composite types (not rowtypes, not arrays)
  select t.oid, t.typtype, t.typowner, t.typacl, t.typrelid, t.typbasetype, t.typtypmod, t.typdefault,
         t.typnotnull, t.typcollation, ns.q || '.' || quote_ident(t.typname) as q
  from pg_type t join ns on ns.oid = t.typnamespace left join pg_class c on c.oid = t.typrelid
  where t.oid >= 16384 and (t.typtype in ('e', 'd', 'r') or c.relkind = 'c')
    and not exists (select from em where em.classid = 'pg_type'::regclass and em.objid = t.oid)
))SQL";

// Every object that is a main object of the model or carries comments, an owner or grants:
//   (kind, id, label, props, main, classid, objid, subid, owner, acl, acltype, gon, gcol)
// main: emitted as an object (view columns are not: their comments and grants are);
// classid/objid/subid: the pg_description key; owner: owning role (the table's for columns);
// acl/acltype: ACL and its acldefault() type; gon/gcol: what a GRANT names.
std::vector<std::string> base_branches() {
  std::vector<std::string> b;
  b.push_back(R"SQL(
  select 'schema', ns.q, 'schema ' || ns.q, '{}', true,
         'pg_namespace'::regclass, ns.oid, 0, ns.nspowner, ns.nspacl, 'n'::"char", 'schema ' || ns.q, null::text
  from ns
  where not exists (select from em where em.classid = 'pg_namespace'::regclass and em.objid = ns.oid))SQL");

  b.push_back(with_props(R"SQL(
  select 'table', r.q, case r.relkind when 'f' then 'foreign table ' else 'table ' end || r.q, @props, true,
         'pg_class'::regclass, r.oid, 0, r.relowner, r.relacl, 'r'::"char", r.q, null
  from rel r left join inh i on i.inhrelid = r.oid
  where r.relkind in ('r', 'p', 'f'))SQL",
      {{"partitioned by", "case when r.relkind = 'p' then pg_get_partkeydef(r.oid) end"},
       {"partition of", "case when r.relispartition then i.parents || ' ' || pg_get_expr(r.relpartbound, r.oid) end"},
       {"inherits", "case when not r.relispartition then i.parents end"},
       {"unlogged", "case when r.relpersistence = 'u' then 'true' end"},
       {"options", "case when r.reloptions is not null then "
                   "(select array_agg(o order by o collate \"C\") from unnest(r.reloptions) o)::text end"},
       {"replica identity", "case r.relreplident when 'n' then 'nothing' when 'f' then 'full' when 'i' then 'index' end"},
       {"access method", "case when r.relam not in (0, 2) then (select amname from pg_am where oid = r.relam) end"},
       {"server", "case when r.relkind = 'f' then (select s.srvname || coalesce(' ' || ft.ftoptions::text, '') "
                  "from pg_foreign_table ft join pg_foreign_server s on s.oid = ft.ftserver where ft.ftrelid = r.oid) end"}}));

  // Columns of tables are objects; those of views only carry comments and grants.
  b.push_back(with_props(R"SQL(
  select 'column', r.q || '.' || quote_ident(a.attname), 'column ' || r.q || '.' || quote_ident(a.attname),
         case when r.relkind in ('r', 'p', 'f') then @props end, r.relkind in ('r', 'p', 'f'),
         'pg_class'::regclass, r.oid, a.attnum, r.relowner, a.attacl, 'c'::"char", r.q, quote_ident(a.attname)
  from rel r join pg_attribute a on a.attrelid = r.oid
       left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
  where r.relkind in ('r', 'p', 'f', 'v', 'm') and a.attrelid >= 16384 and a.attnum > 0 and not a.attisdropped)SQL",
      // A default cannot refer to columns, so it is printed without the relation (which
      // pg_get_expr would open and lock); a generation expression does refer to them.
      {{"type", "format_type(a.atttypid, a.atttypmod)"},
       {"not null", "a.attnotnull", true},
       {"default", "case when a.attgenerated = '' then pg_get_expr(d.adbin, 0) end"},
       {"generated", "case when a.attgenerated = 's' then pg_get_expr(d.adbin, d.adrelid) end"},
       {"identity", "case a.attidentity when 'a' then 'always' when 'd' then 'by default' end", true},
       {"collation", "case when a.attcollation not in (0, 100) then a.attcollation::regcollation::text end"},
       {"position", "row_number() over (partition by a.attrelid order by a.attnum)", true}}));

  // The definition leaves out the DEFERRABLE / INITIALLY DEFERRED / NOT VALID suffixes that
  // pg_get_constraintdef appends: they are properties of their own.
  b.push_back(with_props(R"SQL(
  select 'constraint', coalesce(r.q, t.q) || '.' || quote_ident(c.conname),
         'constraint ' || quote_ident(c.conname) || ' on ' || coalesce(r.q, 'domain ' || t.q), @props, true,
         'pg_constraint'::regclass, c.oid, 0, null::oid, null::aclitem[], null::"char", null, null
  from pg_constraint c left join rel r on r.oid = c.conrelid left join typ t on t.oid = c.contypid
       cross join lateral (select pg_get_constraintdef(c.oid) as def) x
  where c.oid >= 16384 and (r.oid is not null or t.oid is not null))SQL",
      {{"type", "case c.contype when 'c' then 'check' when 'f' then 'foreign key' when 'p' then 'primary key' "
                "when 'u' then 'unique' when 't' then 'trigger' when 'x' then 'exclusion' else c.contype::text end", true},
       {"definition", "substr(x.def, 1, length(x.def) - case when c.condeferrable then 11 else 0 end "
                      "- case when c.condeferred then 19 else 0 end - case when c.convalidated then 0 else 10 end)"},
       {"validated", "c.convalidated", true},
       {"deferrable", "case when not c.condeferrable then 'no' when c.condeferred then 'initially deferred' "
                      "else 'initially immediate' end", true}}));

  b.push_back(with_props(R"SQL(
  select 'index', i.q, 'index ' || i.q, @props, true,
         'pg_class'::regclass, i.oid, 0, null, null, null, null, null
  from pg_index x join rel i on i.oid = x.indexrelid join rel t on t.oid = x.indrelid
  where x.indexrelid >= 16384)SQL",
      {{"definition", "pg_get_indexdef(x.indexrelid)"},
       {"valid", "x.indisvalid", true},
       {"unique", "x.indisunique", true},
       {"primary", "x.indisprimary", true},
       {"replica identity", "case when x.indisreplident then 'true' end", true},
       {"clustered", "case when x.indisclustered then 'true' end", true}}));

  b.push_back(with_props(R"SQL(
  select case r.relkind when 'v' then 'view' else 'matview' end, r.q,
         case r.relkind when 'v' then 'view ' else 'materialized view ' end || r.q, @props, true,
         'pg_class'::regclass, r.oid, 0, r.relowner, r.relacl, 'r'::"char", r.q, null
  from rel r where r.relkind in ('v', 'm'))SQL",
      {{"definition", "pg_get_viewdef(r.oid)"},
       {"options", "case when r.reloptions is not null then "
                   "(select array_agg(o order by o collate \"C\") from unnest(r.reloptions) o)::text end"},
       {"populated", "case when r.relkind = 'm' then r.relispopulated end", true}}));

  // The state ("value") is last_value once nextval/setval(.., true) ran, absent after a reset.
  b.push_back(with_props(R"SQL(
  select 'sequence', r.q, 'sequence ' || r.q, @props, true,
         'pg_class'::regclass, r.oid, 0, r.relowner, r.relacl, 's'::"char", 'sequence ' || r.q, null
  from rel r join pg_sequence s on s.seqrelid = r.oid
       -- OWNED BY (deptype a) or identity (i): the owning column
       left join pg_depend d on d.classid = 'pg_class'::regclass and d.objid = r.oid and d.objsubid = 0
                            and d.refclassid = 'pg_class'::regclass and d.deptype in ('a', 'i') and d.refobjsubid > 0
       left join pg_class oc on oc.oid = d.refobjid
       left join pg_namespace on_ on on_.oid = oc.relnamespace
       left join pg_attribute oa on oa.attrelid = d.refobjid and oa.attnum = d.refobjsubid)SQL",
      {{"type", "format_type(s.seqtypid, null)", true},
       {"start", "s.seqstart", true},
       {"increment", "s.seqincrement", true},
       {"min", "s.seqmin", true},
       {"max", "s.seqmax", true},
       {"cycle", "s.seqcycle", true},
       {"cache", "s.seqcache", true},
       {"unlogged", "case when r.relpersistence = 'u' then 'true' end", true},
       {"owned by", "quote_ident(on_.nspname) || '.' || quote_ident(oc.relname) || '.' || quote_ident(oa.attname)"},
       {"value", "case when has_sequence_privilege(r.oid, 'SELECT,USAGE') then pg_sequence_last_value(r.oid)::text "
                 "else '(not readable)' end", true}}));

  // Functions: SET options (search_path, ...) are one property each, so their keys are only
  // known per row; the object is assembled by an ordered aggregate instead of props_sql.
  b.push_back(R"SQL(
  select 'function', f.id, f.what || ' ' || f.id,
         (select '{' || string_agg(to_json(kv.k)::text || ': ' || to_json(kv.v)::text, ', '
                                   order by octet_length(kv.k), kv.k collate "C") || '}'
          from (values ('kind', f.what),
                       ('arguments', pg_get_function_arguments(p.oid)),
                       ('result', pg_get_function_result(p.oid)),
                       ('language', l.lanname::text),
                       ('body', case when p.prosqlbody is not null then pg_get_function_sqlbody(p.oid) else p.prosrc end),
                       ('library', p.probin),
                       ('volatility', case p.provolatile when 'i' then 'immutable' when 's' then 'stable' else 'volatile' end),
                       ('strict', p.proisstrict::text),
                       ('security definer', p.prosecdef::text),
                       ('leakproof', p.proleakproof::text),
                       ('parallel', case p.proparallel when 's' then 'safe' when 'r' then 'restricted' else 'unsafe' end),
                       ('cost', p.procost::text),
                       ('rows', case when p.proretset then p.prorows::text end)
                union all
                select split_part(c, '=', 1), substr(c, strpos(c, '=') + 1) from unnest(p.proconfig) c) kv (k, v)
          where kv.v is not null),
         true, 'pg_proc'::regclass, p.oid, 0, p.proowner, p.proacl, 'f'::"char", f.what || ' ' || f.id, null
  from pg_proc p join ns on ns.oid = p.pronamespace join pg_language l on l.oid = p.prolang
       cross join lateral (select ns.q || '.' || quote_ident(p.proname) || '(' || oidvectortypes(p.proargtypes) || ')' as id,
                                  case p.prokind when 'p' then 'procedure' when 'a' then 'aggregate'
                                                 when 'w' then 'window function' else 'function' end as what) f
  where p.oid >= 16384
    and not exists (select from em where em.classid = 'pg_proc'::regclass and em.objid = p.oid)
    -- constructors of range types and the like come with their type
    and not exists (select from pg_depend d where d.classid = 'pg_proc'::regclass and d.objid = p.oid and d.deptype = 'i'))SQL");

  // Triggers (not the internal ones behind foreign keys).
  b.push_back(with_props(R"SQL(
  select 'trigger', r.q || '.' || quote_ident(t.tgname), 'trigger ' || quote_ident(t.tgname) || ' on ' || r.q, @props, true,
         'pg_trigger'::regclass, t.oid, 0, null, null, null, null, null
  from pg_trigger t join rel r on r.oid = t.tgrelid
  where t.oid >= 16384 and not t.tgisinternal)SQL",
      {{"definition", "pg_get_triggerdef(t.oid)"}, {"enabled", fmt::format(kEnabled, "t.tgenabled"), true}}));

  // Rules other than the ones views are made of.
  b.push_back(with_props(R"SQL(
  select 'rule', r.q || '.' || quote_ident(w.rulename), 'rule ' || quote_ident(w.rulename) || ' on ' || r.q, @props, true,
         'pg_rewrite'::regclass, w.oid, 0, null, null, null, null, null
  from pg_rewrite w join rel r on r.oid = w.ev_class
  where w.oid >= 16384 and w.rulename <> '_RETURN')SQL",
      {{"definition", "pg_get_ruledef(w.oid)"}, {"enabled", fmt::format(kEnabled, "w.ev_enabled"), true}}));

  // Row level security, when enabled or forced.
  b.push_back(with_props(R"SQL(
  select 'rls', r.q, 'RLS on ' || r.q, @props, true, null, null, null, null, null, null, null, null
  from rel r where r.relkind in ('r', 'p') and (r.relrowsecurity or r.relforcerowsecurity))SQL",
      {{"enabled", "r.relrowsecurity", true}, {"forced", "r.relforcerowsecurity", true}}));

  b.push_back(with_props(R"SQL(
  select 'policy', r.q || '.' || quote_ident(p.polname), 'policy ' || quote_ident(p.polname) || ' on ' || r.q, @props, true,
         'pg_policy'::regclass, p.oid, 0, null, null, null, null, null
  from pg_policy p join rel r on r.oid = p.polrelid
  where p.oid >= 16384)SQL",
      {{"command", "case p.polcmd when 'r' then 'SELECT' when 'a' then 'INSERT' when 'w' then 'UPDATE' "
                   "when 'd' then 'DELETE' else 'ALL' end", true},
       {"permissive", "p.polpermissive", true},
       {"roles", "(select string_agg(x.r, ', ' order by x.r collate \"C\") from (select case when o = 0 then 'PUBLIC' "
                 "else quote_ident(pg_get_userbyid(o)) end as r from unnest(p.polroles) o) x)"},
       {"USING", "pg_get_expr(p.polqual, p.polrelid)"},
       {"WITH CHECK", "pg_get_expr(p.polwithcheck, p.polrelid)"}}));

  b.push_back(with_props(R"SQL(
  select 'enum', t.q, 'enum ' || t.q, @props, true,
         'pg_type'::regclass, t.oid, 0, t.typowner, t.typacl, 'T'::"char", 'type ' || t.q, null
  from typ t where t.typtype = 'e')SQL",
      {{"labels", "(select array_agg(e.enumlabel order by e.enumsortorder) from pg_enum e where e.enumtypid = t.oid)"}}));

  b.push_back(with_props(R"SQL(
  select 'domain', t.q, 'domain ' || t.q, @props, true,
         'pg_type'::regclass, t.oid, 0, t.typowner, t.typacl, 'T'::"char", 'type ' || t.q, null
  from typ t where t.typtype = 'd')SQL",
      {{"type", "format_type(t.typbasetype, t.typtypmod)"},
       {"default", "t.typdefault"},
       {"not null", "t.typnotnull", true},
       {"collation", "case when t.typcollation not in (0, 100) then t.typcollation::regcollation::text end"}}));

  b.push_back(with_props(R"SQL(
  select 'composite', t.q, 'composite type ' || t.q, @props, true,
         'pg_type'::regclass, t.oid, 0, t.typowner, t.typacl, 'T'::"char", 'type ' || t.q, null
  from typ t where t.typtype = 'c')SQL",
      {{"attributes",
        "(select string_agg(quote_ident(a.attname) || ' ' || format_type(a.atttypid, a.atttypmod) || "
        "case when a.attcollation not in (0, 100) then ' COLLATE ' || a.attcollation::regcollation::text else '' end, "
        "', ' order by a.attnum) from pg_attribute a where a.attrelid = t.typrelid and a.attnum > 0 and not a.attisdropped)"}}));

  b.push_back(with_props(R"SQL(
  select 'range', t.q, 'range type ' || t.q, @props, true,
         'pg_type'::regclass, t.oid, 0, t.typowner, t.typacl, 'T'::"char", 'type ' || t.q, null
  from typ t join pg_range rg on rg.rngtypid = t.oid where t.typtype = 'r')SQL",
      {{"subtype", "format_type(rg.rngsubtype, null)"},
       {"subtype opclass", "(select oc.opcname from pg_opclass oc where oc.oid = rg.rngsubopc)"},
       {"canonical", "nullif(rg.rngcanonical::regproc::text, '-')"},
       {"subtype diff", "nullif(rg.rngsubdiff::regproc::text, '-')"},
       {"collation", "case when rg.rngcollation not in (0, 100) then rg.rngcollation::regcollation::text end"}}));

  // Extensions: their member objects are left out of the model; name and version cover them.
  b.push_back(with_props(R"SQL(
  select 'extension', quote_ident(e.extname), 'extension ' || quote_ident(e.extname), @props, true,
         'pg_extension'::regclass, e.oid, 0, e.extowner, null, null, null, null
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
         true, null, null, null, null, null, null, null, null
  from (select quote_ident(pg_get_userbyid(da.defaclrole)) as role, ns.q as nsp, da.defaclacl,
               case da.defaclobjtype when 'r' then 'tables' when 'S' then 'sequences' when 'f' then 'functions'
                                     when 'T' then 'types' when 'n' then 'schemas' else da.defaclobjtype::text end as objtype
        from pg_default_acl da left join ns on ns.oid = da.defaclnamespace
        where da.defaclnamespace = 0 or ns.oid is not null) x)SQL");

  b.push_back(with_props(R"SQL(
  select 'publication', quote_ident(p.pubname), 'publication ' || quote_ident(p.pubname), @props, true,
         'pg_publication'::regclass, p.oid, 0, p.pubowner, null, null, null, null
  from pg_publication p)SQL",
      {{"all tables", "p.puballtables", true},
       {"publish", "concat_ws(', ', case when p.pubinsert then 'insert' end, case when p.pubupdate then 'update' end, "
                   "case when p.pubdelete then 'delete' end, case when p.pubtruncate then 'truncate' end)", true},
       {"via root", "p.pubviaroot", true},
       {"tables", "(select string_agg(t, ', ' order by t collate \"C\") from ("
                  "select quote_ident(tn.nspname) || '.' || quote_ident(tc.relname) "
                  "|| coalesce(' (' || (select string_agg(quote_ident(a.attname), ', ' order by a.attnum) from pg_attribute a "
                  "where a.attrelid = pr.prrelid and a.attnum = any (pr.prattrs)) || ')', '') "
                  "|| coalesce(' WHERE (' || pg_get_expr(pr.prqual, pr.prrelid) || ')', '') as t "
                  "from pg_publication_rel pr join pg_class tc on tc.oid = pr.prrelid "
                  "join pg_namespace tn on tn.oid = tc.relnamespace where pr.prpubid = p.oid) pt)"},
       {"schemas", "(select string_agg(quote_ident(pn.nspname), ', ' order by quote_ident(pn.nspname) collate \"C\") "
                   "from pg_publication_namespace pp join pg_namespace pn on pn.oid = pp.pnnspid where pp.pnpubid = p.oid)"}}));

  b.push_back(with_props(R"SQL(
  select 'event_trigger', quote_ident(e.evtname), 'event trigger ' || quote_ident(e.evtname), @props, true,
         'pg_event_trigger'::regclass, e.oid, 0, e.evtowner, null, null, null, null
  from pg_event_trigger e
  where not exists (select from em where em.classid = 'pg_event_trigger'::regclass and em.objid = e.oid))SQL",
      {{"event", "e.evtevent"},
       {"function", "e.evtfoid::regproc::text"},
       {"tags", "e.evttags::text"},
       {"enabled", fmt::format(kEnabled, "e.evtenabled"), true}}));
  return b;
}

// Objects derived from the base rows: owners, comments, grants.
constexpr std::string_view kDerived = R"SQL(
lines (kind, id, label, props) as (
  select kind, id, label, props from base where main
  union all
  -- ownership of every object that has an owner
  select 'owner', b.kind || ' ' || b.id, 'owner of ' || b.label,
         '{"owner": ' || to_json(pg_get_userbyid(b.owner)::text)::text || '}'
  from base b where b.main and b.owner is not null and b.kind <> 'column'
  union all
  -- comments: the range scan finds the comments on user objects, the second part the ones
  -- on initdb's objects (public schema, plpgsql)
  select 'comment', b.kind || ' ' || b.id, 'comment on ' || b.label, '{"text": ' || to_json(d.description)::text || '}'
  from pg_description d join base b on b.objid = d.objoid and b.classid = d.classoid and b.subid = d.objsubid
  where d.objoid >= 16384
  union all
  select 'comment', b.kind || ' ' || b.id, 'comment on ' || b.label, '{"text": ' || to_json(d.description)::text || '}'
  from base b join pg_description d on d.objoid = b.objid and d.classoid = b.classid and d.objsubid = b.subid
  where b.objid < 16384
  union all
  -- grants: one object per (object, grantee, privilege). No ACL means the built-in defaults
  -- (EXECUTE to PUBLIC on functions, ...), so a REVOKE shows as a removed grant. The owner's
  -- own privileges are left out: ownership is its own object.
  select 'grant', g.kind || ' ' || g.id || ' / ' || g.grantee || ' / ' || g.priv,
         'grant ' || g.priv || coalesce(' (' || g.gcol || ')', '') || ' on ' || g.gon || ' to ' || g.grantee,
         '{"grantable": "' || g.grantable::text || '"}'
  from (select b.kind, b.id, b.gon, b.gcol, a.privilege_type as priv,
               case when a.grantee = 0 then 'PUBLIC' else pg_get_userbyid(a.grantee)::text end as grantee,
               bool_or(a.is_grantable) as grantable
        from base b cross join lateral aclexplode(coalesce(b.acl, acldefault(b.acltype, b.owner))) a
        where b.gon is not null and a.grantee <> b.owner
        group by 1, 2, 3, 4, 5, 6) g
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

// What the two entry points select from the lines.
constexpr std::string_view kDigestTail = R"SQL(
  select encode(sha256(convert_to(coalesce(string_agg(l.line, E'\n'
           order by l.kind collate "C", l.id collate "C", l.line collate "C"), ''), 'UTF8')), 'hex') as hash,
         count(*) as objects
  from (select kind, id, '["' || kind || '", ' || to_json(id)::text || ', ' || to_json(label)::text || ', ' || props || ']'
          as line from lines) l
  where s1.pinned is not null
  offset 0) r)SQL";

constexpr std::string_view kCaptureTail = R"SQL(
  select coalesce(string_agg(l.line, E'\n' order by l.kind collate "C", l.id collate "C", l.line collate "C"), '') as lines,
         count(*) as objects
  from (select kind, id, '["' || kind || '", ' || to_json(id)::text || ', ' || to_json(label)::text || ', ' || props || ']'
          as line from lines) l
  where s1.pinned is not null
  offset 0) r)SQL";

std::string replace_all(std::string s, std::string_view from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
  return s;
}

// The statement for `tail`, with the excluded schemas inlined as literals (no parameters,
// so a prepared statement gets its generic plan at once).
std::string statement(std::string_view tail, const Options& opt) {
  static const std::string body = [] {
    std::string s(kHead);
    s += kScopes;
    s += ",\nbase (kind, id, label, props, main, classid, objid, subid, owner, acl, acltype, gon, gcol) as (";
    auto branches = base_branches();
    for (size_t i = 0; i < branches.size(); ++i) s += (i ? "\n  union all" : "") + branches[i];
    s += "\n),";
    s += kDerived;
    return s;
  }();
  std::string exclude;
  for (auto& name : opt.exclude_schemas) exclude += (exclude.empty() ? "" : ", ") + pg::quote_literal(name);
  exclude = exclude.empty() ? "'{}'::text[]" : "array[" + exclude + "]::text[]";
  return replace_all(body, "@exclude", exclude) + std::string(tail);
}

// Prepared digest statements per live connection: (connection object, backend pid, name).
// A statement found missing anyway (DISCARD ALL in a migration, a pooler) is prepared again.
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

Error annotate(Error e, std::string_view what) {
  e.message = fmt::format("cannot {} the schema fingerprint: {}", what, e.message);
  return e;
}

}  // namespace

Result<Model> capture(pg::Conn& conn, const Options& opt) {
  auto rows = conn.query(statement(kCaptureTail, opt));
  if (!rows.ok()) return annotate(std::move(rows).error(), "capture");
  Model m;
  std::string text = rows->get(0, 0);
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

Result<Digest> digest(pg::Conn& conn, const Options& opt) {
  auto sql = statement(kDigestTail, opt);
  auto name = "belay_fingerprint_" + sha256_hex(sql).substr(0, 16);
  auto run = [&]() { return conn.query("execute " + name); };
  auto prepare = [&]() -> Status {
    // Another belay::pg::Conn object on the same session may have prepared it already.
    BELAY_ASSIGN(auto have, conn.query("select 1 from pg_prepared_statements where name = $1", {name}));
    if (have.size() == 0) BELAY_TRY(conn.exec("prepare " + name + " as " + sql));
    set_prepared(conn, name, true);
    return ok_status();
  };
  if (!is_prepared(conn, name)) {
    auto st = prepare();
    if (!st.ok()) return annotate(std::move(st).error(), "compute");
  }
  auto rows = run();
  if (!rows.ok() && rows.error().sqlstate == "26000") {  // invalid_sql_statement_name: deallocated meanwhile
    set_prepared(conn, name, false);
    auto st = prepare();
    if (!st.ok()) return annotate(std::move(st).error(), "compute");
    rows = run();
  }
  if (!rows.ok()) return annotate(std::move(rows).error(), "compute");
  return Digest{rows->get(0, 0), static_cast<size_t>(std::stoull(rows->get(0, 1)))};
}

}  // namespace belay::fingerprint
