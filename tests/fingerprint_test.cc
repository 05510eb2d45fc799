// Schema fingerprints against a real PostgreSQL: equal schemas give equal models and
// hashes whatever the creation order and session settings; every kind of change a migration
// can make changes the model, and diff() names it in reviewer terms; digest() == capture().
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <set>

#include <fmt/format.h>

#include "fingerprint/fingerprint.h"
#include "support.h"

namespace belay {
namespace {

namespace fp = fingerprint;
using test::TempRole;
using test::TestDb;

void exec(const TestDb& db, const std::string& sql) {
  auto c = db.connect();
  auto st = c.exec(sql);
  ASSERT_TRUE(st.ok()) << sql << "\n" << st.error().render();
}

fp::Model capture(const TestDb& db, const fp::Options& opt = {}) {
  auto c = db.connect();
  auto m = fp::capture(c, opt);
  EXPECT_TRUE(m.ok()) << m.error().render() << "\n" << m.error().object;
  return m.ok() ? *m : fp::Model{};
}

fp::Digest digest(const TestDb& db, const fp::Options& opt = {}) {
  auto c = db.connect();
  auto d = fp::digest(c, opt);
  EXPECT_TRUE(d.ok()) << d.error().render();
  return d.ok() ? *d : fp::Digest{};
}

std::vector<std::string> describe(const std::vector<fp::Change>& changes) {
  std::vector<std::string> out;
  for (auto& c : changes) out.push_back(c.describe());
  return out;
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (auto& x : v) s += "\n  " + x;
  return s;
}

const fp::Object* find(const fp::Model& m, const std::string& kind, const std::string& id) {
  for (auto& o : m.objects)
    if (o.kind == kind && o.id == id) return &o;
  return nullptr;
}

// A schema with one of everything the model covers.
const char* kVaried = R"SQL(
create schema app;
create type app.mood as enum ('sad', 'ok', 'happy');
create domain app.email as text collate "C" check (value ~ '@') not null default 'x@y';
create type app.pair as (a int, b text collate "C");
create type app.span as range (subtype = float8, subtype_diff = float8mi);
create sequence app.counter as int start 10 increment 5 cache 2;
create table app.users (
  id bigint generated always as identity primary key,
  email app.email not null unique,
  name text collate "C" default 'anon',
  mood app.mood default 'ok',
  score numeric(10,2) check (score >= 0),
  created timestamptz not null default '2024-01-02 03:04:05+00',
  name_upper text generated always as (upper(name)) stored
);
create table app.posts (
  id serial primary key,
  author bigint references app.users(id) on delete cascade deferrable initially deferred,
  body text, tags text[] default '{}', ratio float8 default 0.1
);
alter table app.posts add constraint body_len check (length(body) < 1000) not valid;
create index posts_author_idx on app.posts (author desc nulls last, id) include (body) where author is not null;
create index posts_tags_idx on app.posts using gin (tags);
create index posts_lower_idx on app.posts (lower(body) text_pattern_ops);
create table app.events (id int, at date not null) partition by range (at);
create table app.events_2024 partition of app.events for values from ('2024-01-01') to ('2025-01-01');
create index on app.events (at);
create unlogged table app.scratch (x int) with (fillfactor = 70, autovacuum_enabled = false);
create table app.child (extra int) inherits (app.scratch);
create view app.user_names with (security_invoker = true) as select id, name from app.users where mood <> 'sad';
create materialized view app.post_counts as select author, count(*) from app.posts group by author with no data;
create function app.touch() returns trigger language plpgsql as $$ begin new.created := now(); return new; end $$;
create trigger users_touch before update on app.users for each row execute function app.touch();
create function app.add(a int, b int default 1) returns int language sql immutable strict parallel safe return a + b;
create function app.secret(x text) returns setof text language plpgsql security definer set search_path = app, pg_temp
  stable as $$ begin return next x || E'\t"\\é'; end $$;
create procedure app.noop() language sql as $$ select 1 $$;
create aggregate app.total(int) (sfunc = int4pl, stype = int, initcond = '0');
alter table app.users enable row level security;
alter table app.posts enable row level security;
alter table app.posts force row level security;
create policy posts_owner on app.posts for update to public using (author = 1) with check (author = 1);
create policy users_read on app.users as restrictive for select to pg_monitor, pg_read_all_data using (true);
grant usage on schema app to public;
grant select on app.users to pg_monitor;
grant select (body), update (body) on app.posts to pg_monitor;
revoke execute on function app.secret(text) from public;
grant usage on sequence app.counter to pg_monitor with grant option;
alter default privileges in schema app grant select on tables to pg_monitor;
alter default privileges revoke execute on functions from public;
comment on schema app is 'the app';
comment on table app.users is E'The users.\nSecond "line"\t\\ é \x01';
comment on column app.users.email is 'login';
comment on function app.add(int, int) is 'adds';
comment on constraint body_len on app.posts is 'short bodies';
comment on policy posts_owner on app.posts is 'owner only';
comment on column app.user_names.name is 'view column';
comment on type app.mood is 'feelings';
comment on index app.posts_author_idx is 'by author';
comment on trigger users_touch on app.users is 'touch';
comment on sequence app.counter is 'counts';
create rule scratch_ignore as on delete to app.scratch do instead nothing;
create publication pub_users for table app.users (id, email) where (id > 0), app.posts with (publish = 'insert, update');
create publication pub_schema for tables in schema app;
create table "Odd ""Name""" ("Col 1" int primary key, "x.y" text);
select nextval('app.counter');
)SQL";

// ---------------------------------------------------------------------------------------
// Equality, independence, digest

TEST(Fingerprint, SameSqlGivesEqualModels) {
  TestDb a, b;
  exec(a, kVaried);
  exec(b, "create table scratch_first (x int); drop table scratch_first;");  // shifts every OID
  exec(b, kVaried);
  auto ma = capture(a), mb = capture(b);
  ASSERT_GT(ma.size(), 100u);
  EXPECT_EQ(ma.hash, mb.hash);
  EXPECT_EQ(fp::to_json(ma), fp::to_json(mb));
  EXPECT_TRUE(fp::diff(ma, mb).empty()) << joined(describe(fp::diff(ma, mb)));
}

TEST(Fingerprint, ModelCoversEveryKind) {
  TestDb db;
  exec(db, kVaried);
  auto m = capture(db);
  std::set<std::string> kinds;
  for (auto& o : m.objects) kinds.insert(o.kind);
  for (auto k : {"schema", "table", "column", "constraint", "index", "view", "matview", "function", "trigger",
                 "sequence", "enum", "domain", "composite", "range", "extension", "rls", "policy", "grant",
                 "default_acl", "comment", "owner", "publication", "rule"})
    EXPECT_TRUE(kinds.count(k)) << k;
  // Sorted by (kind, id); no OIDs anywhere.
  EXPECT_TRUE(std::is_sorted(m.objects.begin(), m.objects.end(), [](auto& x, auto& y) {
    return std::tie(x.kind, x.id) < std::tie(y.kind, y.id);
  }));
  auto text = fp::to_json(m).dump();
  EXPECT_EQ(text.find("pg_toast"), std::string::npos);
  EXPECT_EQ(text.find("OID"), std::string::npos);

  // A few objects in full.
  auto* col = find(m, "column", "app.users.id");
  ASSERT_TRUE(col);
  EXPECT_EQ(col->label, "column app.users.id");
  EXPECT_EQ(col->props.at("type"), "bigint");
  EXPECT_EQ(col->props.at("identity"), "always");
  EXPECT_EQ(col->props.at("not null"), "true");
  auto* gen = find(m, "column", "app.users.name_upper");
  ASSERT_TRUE(gen);
  EXPECT_EQ(gen->props.at("generated"), "upper(name)");
  EXPECT_EQ(gen->props.count("default"), 0u);
  auto* fk = find(m, "constraint", "app.posts.posts_author_fkey");
  ASSERT_TRUE(fk);
  EXPECT_EQ(fk->label, "constraint posts_author_fkey on app.posts");
  EXPECT_EQ(fk->props.at("definition"), "FOREIGN KEY (author) REFERENCES app.users(id) ON DELETE CASCADE");
  EXPECT_EQ(fk->props.at("deferrable"), "initially deferred");
  auto* nv = find(m, "constraint", "app.posts.body_len");
  ASSERT_TRUE(nv);
  EXPECT_EQ(nv->props.at("validated"), "false");
  EXPECT_EQ(nv->props.at("definition"), "CHECK ((length(body) < 1000))");
  auto* f = find(m, "function", "app.secret(text)");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->props.at("search_path"), "app, pg_temp");
  EXPECT_EQ(f->props.at("security definer"), "true");
  EXPECT_EQ(f->props.at("volatility"), "stable");
  EXPECT_EQ(f->props.at("result"), "SETOF text");
  EXPECT_TRUE(find(m, "function", "app.total(integer)"));
  EXPECT_FALSE(find(m, "function", "app.span(double precision, double precision)"));  // comes with the type
  auto* seq = find(m, "sequence", "app.counter");
  ASSERT_TRUE(seq);
  EXPECT_EQ(seq->props.at("increment"), "5");
  EXPECT_TRUE(seq->props.count("value"));
  auto* idseq = find(m, "sequence", "app.users_id_seq");
  ASSERT_TRUE(idseq);
  EXPECT_EQ(idseq->props.at("owned by"), "app.users.id");
  EXPECT_EQ(idseq->props.count("value"), 0u);  // never used
  auto* pol = find(m, "policy", "app.users.users_read");
  ASSERT_TRUE(pol);
  EXPECT_EQ(pol->props.at("roles"), "pg_monitor, pg_read_all_data");
  EXPECT_EQ(pol->props.at("permissive"), "false");
  auto* rls = find(m, "rls", "app.posts");
  ASSERT_TRUE(rls);
  EXPECT_EQ(rls->label, "RLS on app.posts");
  EXPECT_EQ(rls->props.at("forced"), "true");
  EXPECT_TRUE(find(m, "grant", "function app.add(integer, integer) / PUBLIC / EXECUTE"));
  EXPECT_FALSE(find(m, "grant", "function app.secret(text) / PUBLIC / EXECUTE"));
  auto* g = find(m, "grant", "sequence app.counter / pg_monitor / USAGE");
  ASSERT_TRUE(g);
  EXPECT_EQ(g->label, "grant USAGE on sequence app.counter to pg_monitor");
  EXPECT_EQ(g->props.at("grantable"), "true");
  auto* cg = find(m, "grant", "column app.posts.body / pg_monitor / UPDATE");
  ASSERT_TRUE(cg);
  EXPECT_EQ(cg->label, "grant UPDATE (body) on app.posts to pg_monitor");
  auto* own = find(m, "owner", "table app.users");
  ASSERT_TRUE(own);
  EXPECT_EQ(own->label, "owner of table app.users");
  EXPECT_EQ(own->props.at("owner"), "postgres");
  auto* cm = find(m, "comment", "table app.users");
  ASSERT_TRUE(cm);
  EXPECT_EQ(cm->props.at("text"), "The users.\nSecond \"line\"\t\\ é \x01");
  EXPECT_TRUE(find(m, "comment", "column app.user_names.name"));
  EXPECT_TRUE(find(m, "default_acl", "postgres app tables"));
  auto* pub = find(m, "publication", "pub_users");
  ASSERT_TRUE(pub);
  EXPECT_EQ(pub->props.at("tables"), "app.posts, app.users (id, email) WHERE ((id > 0))");
  EXPECT_EQ(pub->props.at("publish"), "insert, update");
  EXPECT_TRUE(find(m, "column", "public.\"Odd \"\"Name\"\"\".\"Col 1\""));
  EXPECT_EQ(find(m, "enum", "app.mood")->props.at("labels"), "{sad,ok,happy}");
  EXPECT_EQ(find(m, "composite", "app.pair")->props.at("attributes"), "a integer, b text COLLATE \"C\"");
  EXPECT_EQ(find(m, "table", "app.events_2024")->props.at("partition of"),
            "app.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')");
  EXPECT_EQ(find(m, "table", "app.child")->props.at("inherits"), "app.scratch");
  EXPECT_EQ(find(m, "view", "app.user_names")->props.at("options"), "{security_invoker=true}");
}

TEST(Fingerprint, DigestEqualsCaptureHash) {
  TestDb db;
  auto empty = capture(db);
  auto d0 = digest(db);
  EXPECT_EQ(d0.hash, empty.hash);
  EXPECT_EQ(d0.objects, empty.size());
  exec(db, kVaried);
  auto m = capture(db);
  auto d = digest(db);
  EXPECT_EQ(d.hash, m.hash);
  EXPECT_EQ(d.objects, m.size());
  EXPECT_NE(d.hash, d0.hash);
  // The hash is the one of the objects: recomputing it from JSON gives the same.
  auto back = fp::from_json(fp::to_json(m));
  ASSERT_TRUE(back.ok()) << back.error().render();
  EXPECT_EQ(back->hash, m.hash);
}

TEST(Fingerprint, DigestOnOneConnectionAcrossChangesAndDeallocation) {
  TestDb db;
  auto c = db.connect();
  auto d1 = fp::digest(c);
  ASSERT_TRUE(d1.ok()) << d1.error().render();
  ASSERT_TRUE(c.exec("create table t (id int)").ok());
  auto d2 = fp::digest(c);
  ASSERT_TRUE(d2.ok());
  EXPECT_NE(d1->hash, d2->hash);
  EXPECT_EQ(d2->hash, capture(db).hash);
  // A migration may run DISCARD ALL / DEALLOCATE ALL: the statement is prepared again.
  ASSERT_TRUE(c.exec("deallocate all").ok());
  auto d3 = fp::digest(c);
  ASSERT_TRUE(d3.ok()) << d3.error().render();
  EXPECT_EQ(d3->hash, d2->hash);
  // Another Conn object on the same session? Not possible; a second connection prepares its own.
  auto c2 = db.connect();
  auto d4 = fp::digest(c2);
  ASSERT_TRUE(d4.ok());
  EXPECT_EQ(d4->hash, d2->hash);
}

TEST(Fingerprint, CreationOrderDoesNotMatter) {
  TestDb a, b;
  exec(a, "create table one (id int primary key, v text); create table two (id int references one, w int);"
          "create index two_w on two (w); create sequence s1; create sequence s2;");
  exec(b, "create sequence s2; create sequence s1; create table one (id int primary key, v text);"
          "create table two (id int, w int); create index two_w on two (w);"
          "alter table two add constraint two_id_fkey foreign key (id) references one;");
  EXPECT_EQ(capture(a).hash, capture(b).hash);
  EXPECT_EQ(digest(a).hash, digest(b).hash);
}

TEST(Fingerprint, SessionSettingsDoNotMatterAndAreLeftAlone) {
  TestDb db;
  exec(db, "create schema app; create table app.t (d date default '2024-03-04', ts timestamptz default '2024-03-04 05:06:07+00',"
           " f float8 default 1.1, i interval default '1 day 2 hours', b bytea default '\\x0102');"
           "create view app.v as select * from app.t; create table public.p (id int); create view public.pv as select * from public.p;");
  auto plain = capture(db);
  auto c = db.connect();
  ASSERT_TRUE(c.exec("set search_path = app, public; set datestyle = 'SQL, DMY'; set timezone = 'Asia/Tokyo';"
                     "set intervalstyle = 'sql_standard'; set extra_float_digits = 0; set bytea_output = 'escape'").ok());
  auto m = fp::capture(c);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->hash, plain.hash) << joined(describe(fp::diff(plain, *m)));
  auto d = fp::digest(c);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->hash, plain.hash);
  auto show = [&](const std::string& what) {
    auto r = c.query("select current_setting('" + what + "')");
    return r.ok() ? r->get(0, 0) : std::string("?");
  };
  EXPECT_EQ(show("search_path"), "app, public");
  EXPECT_EQ(show("DateStyle"), "SQL, DMY");
  EXPECT_EQ(show("TimeZone"), "Asia/Tokyo");
  // Inside a transaction too, with SET LOCAL.
  ASSERT_TRUE(c.exec("begin; set local search_path = public").ok());
  d = fp::digest(c);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->hash, plain.hash);
  EXPECT_EQ(show("search_path"), "public");
  ASSERT_TRUE(c.exec("commit").ok());
  EXPECT_EQ(show("search_path"), "app, public");
  // Names are qualified whatever the search_path.
  auto* v = find(*m, "view", "public.pv");
  ASSERT_TRUE(v);
  EXPECT_NE(v->props.at("definition").find("FROM public.p"), std::string::npos) << v->props.at("definition");
}

TEST(Fingerprint, ExcludedSchemasAreIgnored) {
  TestDb db;
  auto before = capture(db);
  exec(db, "create schema belay; create table belay.migrations (v text primary key); create index on belay.migrations (v);"
           "comment on table belay.migrations is 'x'; create schema supabase_migrations;"
           "create table supabase_migrations.schema_migrations (version text);"
           "alter default privileges in schema belay grant select on tables to pg_monitor;");
  auto after = capture(db);
  EXPECT_EQ(before.hash, after.hash) << joined(describe(fp::diff(before, after)));
  EXPECT_EQ(digest(db).hash, before.hash);
  // Options decide.
  fp::Options none;
  none.exclude_schemas = {};
  auto all = capture(db, none);
  EXPECT_TRUE(find(all, "table", "belay.migrations"));
  EXPECT_EQ(digest(db, none).hash, all.hash);
  fp::Options more;
  more.exclude_schemas = {"belay", "supabase_migrations", "public"};
  EXPECT_FALSE(find(capture(db, more), "schema", "public"));
}

TEST(Fingerprint, ExtensionMembersAreCoveredByTheExtension) {
  TestDb db;
  auto avail = db.scalar("select name from pg_available_extensions where name in ('pg_trgm', 'citext', 'pgcrypto') "
                         "and installed_version is null order by name limit 1");
  if (avail.empty()) GTEST_SKIP() << "no contrib extension available";
  auto before = capture(db);
  exec(db, "create extension " + avail);
  auto after = capture(db);
  auto d = describe(fp::diff(before, after));
  EXPECT_EQ(d, (std::vector<std::string>{"comment on extension " + avail + ": added", "extension " + avail + ": added",
                                         "owner of extension " + avail + ": added"}))
      << joined(d);
  auto* e = find(after, "extension", avail);
  ASSERT_TRUE(e);
  EXPECT_FALSE(e->props.at("version").empty());
  EXPECT_EQ(e->props.at("schema"), "public");
  EXPECT_EQ(digest(db).hash, after.hash);
}

TEST(Fingerprint, IndexDefinitionIsPgGetIndexdef) {
  // The common case is rendered in SQL; it must read exactly like pg_get_indexdef.
  TestDb db;
  exec(db, R"SQL(
    create schema s;
    create table s.t (a int, b text, c text collate "C", d int[], e varchar(10), "Mixed Case" int, j jsonb, r int4range);
    create index i1 on s.t (a);
    create unique index i2 on s.t (a, b desc, c nulls first, e desc nulls last) include ("Mixed Case", j);
    create index i3 on s.t (b collate "C");
    create index i4 on s.t (b text_pattern_ops);
    create index i5 on s.t using gin (d);
    create index i6 on s.t using gin (j jsonb_path_ops);
    create index i7 on s.t using hash (a);
    create index i8 on s.t using brin (a) with (pages_per_range = 32);
    create index i9 on s.t ((a + 1), lower(b));
    create index i10 on s.t (a) where a > 0 and b is not null;
    create index i11 on s.t using gist (r);
    create index i12 on s.t (e);
    create unique index i13 on s.t (a) nulls not distinct;
    create table s.p (a int, b int) partition by list (a);
    create index i14 on s.p (b);
    create table s.p1 partition of s.p for values in (1);
    alter table s.t add constraint t_pk primary key (a);
  )SQL");
  auto m = capture(db);
  auto c = db.connect();
  ASSERT_TRUE(c.exec("set search_path = ''").ok());
  auto rows = c.query("select quote_ident(n.nspname) || '.' || quote_ident(i.relname), pg_get_indexdef(i.oid) "
                      "from pg_index x join pg_class i on i.oid = x.indexrelid join pg_namespace n on n.oid = i.relnamespace "
                      "where n.nspname = 's'");
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 16);  // i14 comes with one on the partition
  for (int r = 0; r < rows->size(); ++r) {
    auto* o = find(m, "index", rows->get(r, 0));
    ASSERT_TRUE(o) << rows->get(r, 0);
    EXPECT_EQ(o->props.at("definition"), rows->get(r, 1));
  }
}

TEST(Fingerprint, UnusualTextSurvivesTheRoundTrip) {
  TestDb db;
  exec(db, "create table t (id int); comment on table t is E'tab\\t quote\" backslash\\\\ nl\\n cr\\r ctl\\x01\\x1f del\\x7f "
           "bs\\b ff\\f unicode é ✓ 𝄞 slash/';"
           "comment on column t.id is ' ';"
           "create table \"we\"\"ird\\\\ \t name\" (\"c\n\" int);");
  auto m = capture(db);  // capture checks every line serialises back exactly
  EXPECT_EQ(digest(db).hash, m.hash);
  auto* c = find(m, "comment", "table public.t");
  ASSERT_TRUE(c);
  EXPECT_NE(c->props.at("text").find("\x01\x1f del\x7f"), std::string::npos);
  auto* blank = find(m, "comment", "column public.t.id");
  ASSERT_TRUE(blank);
  EXPECT_EQ(blank->props.at("text"), " ");
  auto back = fp::from_json(nlohmann::json::parse(fp::to_json(m).dump()));
  ASSERT_TRUE(back.ok()) << back.error().render();
  EXPECT_EQ(back->hash, m.hash);
}

// ---------------------------------------------------------------------------------------
// One change per kind of item: setup, change, and what diff() says.

struct Case {
  std::string name;
  std::string setup;
  std::string change;
  std::vector<std::string> expect;  // every one of these describe() lines must be present
  bool exact = false;               // ... and nothing else
};

std::ostream& operator<<(std::ostream& os, const Case& c) { return os << c.name; }

const char* kBase = "create table t (id int primary key, c int default 1, name text, owner int);"
                    "create function f(x int) returns int language sql as 'select x + 1';";

std::vector<Case> cases() {
  return {
      {"AddIndex", kBase, "create index t_owner_idx on t (owner)", {"index public.t_owner_idx: added"}, true},
      {"DropIndex", std::string(kBase) + "create index t_owner_idx on t (owner);", "drop index t_owner_idx",
       {"index public.t_owner_idx: removed"}, true},
      {"IndexRedefined", std::string(kBase) + "create index t_owner_idx on t (owner);",
       "drop index t_owner_idx; create index t_owner_idx on t (owner, c)", {"index public.t_owner_idx: definition changed"},
       true},
      {"ColumnDefault", kBase, "alter table t alter c set default 2", {"column public.t.c: default changed"}, true},
      {"ColumnDefaultDropped", kBase, "alter table t alter c drop default", {"column public.t.c: default changed"}, true},
      {"ColumnType", kBase, "alter table t alter c type bigint", {"column public.t.c: type changed"}, true},
      {"ColumnTypmod", "create table t (v varchar(10))", "alter table t alter v type varchar(20)",
       {"column public.t.v: type changed"}, true},
      {"NotNull", kBase, "alter table t alter c set not null", {"column public.t.c: not null changed"}, true},
      {"Identity", kBase, "alter table t alter owner set not null; alter table t alter owner add generated by default as identity",
       {"column public.t.owner: identity, not null changed", "sequence public.t_owner_seq: added"}},
      {"IdentityKind", "create table t (id int generated by default as identity)",
       "alter table t alter id set generated always", {"column public.t.id: identity changed"}, true},
      {"Generated", "create table t (a int, g int generated always as (a * 2) stored)",
       "alter table t drop column g; alter table t add column g int generated always as (a * 3) stored",
       {"column public.t.g: generated changed"}, true},
      {"Collation", kBase, "alter table t alter name type text collate \"C\"", {"column public.t.name: collation changed"},
       true},
      {"ColumnAdded", kBase, "alter table t add column extra text", {"column public.t.extra: added"}, true},
      {"ColumnOrder", "create table t (a int, b int)",
       "alter table t drop column a; alter table t add column a int",
       {"column public.t.a: position changed", "column public.t.b: position changed"}, true},
      {"ConstraintAdded", kBase, "alter table t add constraint c_pos check (c > 0)",
       {"constraint c_pos on public.t: added"}, true},
      {"ConstraintValidated", std::string(kBase) + "alter table t add constraint c_pos check (c > 0) not valid;",
       "alter table t validate constraint c_pos", {"constraint c_pos on public.t: validated changed"}, true},
      {"ConstraintDeferrable",
       "create table a (id int primary key); create table b (a int constraint b_a_fk references a);",
       "alter table b alter constraint b_a_fk deferrable initially deferred",
       {"constraint b_a_fk on public.b: deferrable changed"}, true},
      {"ViewBody", std::string(kBase) + "create view v as select id from t;",
       "create or replace view v as select id, c from t", {"view public.v: definition changed"}},
      {"ViewSecurityInvoker", std::string(kBase) + "create view v as select id from t;",
       "alter view v set (security_invoker = true)", {"view public.v: options changed"}, true},
      {"MatviewBody", std::string(kBase) + "create materialized view mv as select id from t;",
       "drop materialized view mv; create materialized view mv as select id, c from t",
       {"materialized view public.mv: definition changed"}},
      {"MatviewPopulated", std::string(kBase) + "create materialized view mv as select id from t with no data;",
       "refresh materialized view mv", {"materialized view public.mv: populated changed"}, true},
      {"FunctionBody", kBase, "create or replace function f(x int) returns int language sql as 'select x + 2'",
       {"function public.f(integer): body changed"}, true},
      {"FunctionVolatility", kBase, "alter function f(int) stable", {"function public.f(integer): volatility changed"},
       true},
      {"SecurityDefiner", kBase, "alter function f(int) security definer",
       {"function public.f(integer): security definer changed"}, true},
      {"SearchPath", kBase, "alter function f(int) set search_path = public",
       {"function public.f(integer): search_path changed"}, true},
      {"FunctionStrictLeakproofParallel", kBase, "alter function f(int) strict leakproof parallel safe",
       {"function public.f(integer): leakproof, parallel, strict changed"}, true},
      {"ProcedureAdded", kBase, "create procedure p(a int) language sql as 'select 1'",
       {"procedure public.p(integer): added", "owner of procedure public.p(integer): added",
        "grant EXECUTE on procedure public.p(integer) to PUBLIC: added"},
       true},
      {"TriggerAdded",
       std::string(kBase) + "create function touch() returns trigger language plpgsql as 'begin return new; end';",
       "create trigger t_touch before update on t for each row execute function touch()",
       {"trigger t_touch on public.t: added"}, true},
      {"TriggerDisabled",
       std::string(kBase) + "create function touch() returns trigger language plpgsql as 'begin return new; end';"
                            "create trigger t_touch before update on t for each row execute function touch();",
       "alter table t disable trigger t_touch", {"trigger t_touch on public.t: enabled changed"}, true},
      {"SequenceSetval", "create sequence s", "select setval('s', 42)", {"sequence public.s: value changed"}, true},
      {"SequenceRestart", "create sequence s; select nextval('s');", "alter sequence s restart",
       {"sequence public.s: value changed"}, true},
      {"SequenceIncrement", "create sequence s", "alter sequence s increment 10", {"sequence public.s: increment changed"},
       true},
      {"SequenceOwnedBy", std::string(kBase) + "create sequence s;", "alter sequence s owned by t.c",
       {"sequence public.s: owned by changed"}, true},
      {"EnumValueAdded", "create type mood as enum ('a', 'b')", "alter type mood add value 'c' before 'b'",
       {"enum public.mood: labels changed"}, true},
      {"DomainConstraint", "create domain d as int", "alter domain d add constraint d_pos check (value > 0)",
       {"constraint d_pos on domain public.d: added"}, true},
      {"DomainNotNullDefault", "create domain d as int", "alter domain d set not null; alter domain d set default 3",
       {"domain public.d: default, not null changed"}, true},
      {"CompositeAttribute", "create type pair as (a int)", "alter type pair add attribute b text",
       {"composite type public.pair: attributes changed"}, true},
      {"RlsEnabled", kBase, "alter table t enable row level security", {"RLS on public.t: added"}, true},
      {"RlsForced", std::string(kBase) + "alter table t enable row level security;", "alter table t force row level security",
       {"RLS on public.t: forced changed"}, true},
      {"RlsDisabled", std::string(kBase) + "alter table t enable row level security;",
       "alter table t disable row level security", {"RLS on public.t: removed"}, true},
      {"PolicyAdded", kBase, "create policy t_owner on t using (owner = 1)", {"policy t_owner on public.t: added"}, true},
      {"PolicyUsing", std::string(kBase) + "create policy t_owner on t using (owner = 1);",
       "alter policy t_owner on t using (owner = 2)", {"policy t_owner on public.t: USING changed"}, true},
      {"PolicyUsingAndCheck", std::string(kBase) + "create policy t_owner on t for update using (owner = 1) with check (owner = 1);",
       "alter policy t_owner on t using (owner = 2) with check (owner > 0)",
       {"policy t_owner on public.t: USING, WITH CHECK changed"}, true},
      {"PolicyRoles", std::string(kBase) + "create policy t_owner on t using (owner = 1);",
       "alter policy t_owner on t to pg_monitor", {"policy t_owner on public.t: roles changed"}, true},
      {"GrantOnTable", kBase, "grant select on t to pg_monitor", {"grant SELECT on public.t to pg_monitor: added"}, true},
      {"GrantOption", std::string(kBase) + "grant select on t to pg_monitor;", "grant select on t to pg_monitor with grant option",
       {"grant SELECT on public.t to pg_monitor: grantable changed"}, true},
      {"ColumnGrant", kBase, "grant update (c) on t to pg_monitor", {"grant UPDATE (c) on public.t to pg_monitor: added"},
       true},
      {"RevokeFunctionFromPublic", kBase, "revoke execute on function f(int) from public",
       {"grant EXECUTE on function public.f(integer) to PUBLIC: removed"}, true},
      {"SchemaGrant", "create schema app", "grant usage on schema app to pg_monitor",
       {"grant USAGE on schema app to pg_monitor: added"}, true},
      {"TypeGrantRevoked", "create type mood as enum ('a')", "revoke usage on type mood from public",
       {"grant USAGE on type public.mood to PUBLIC: removed"}, true},
      {"DefaultPrivileges", kBase, "alter default privileges in schema public grant select on tables to pg_monitor",
       {"default privileges for role postgres in schema public on tables: added"}, true},
      {"CommentOnTable", kBase, "comment on table t is 'the t'", {"comment on table public.t: added"}, true},
      {"CommentChanged", std::string(kBase) + "comment on table t is 'the t';", "comment on table t is 'the T'",
       {"comment on table public.t: text changed"}, true},
      {"CommentOnColumn", kBase, "comment on column t.c is 'c'", {"comment on column public.t.c: added"}, true},
      {"CommentOnFunction", kBase, "comment on function f(int) is 'adds one'",
       {"comment on function public.f(integer): added"}, true},
      {"CommentOnPolicyAndIndex",
       std::string(kBase) + "create policy t_owner on t using (true); create index t_owner_idx on t (owner);",
       "comment on policy t_owner on t is 'p'; comment on index t_owner_idx is 'i'",
       {"comment on policy t_owner on public.t: added", "comment on index public.t_owner_idx: added"}, true},
      {"Publication", kBase, "create publication p for table t",
       {"publication p: added", "owner of publication p: added"}, true},
      {"PublicationTables", std::string(kBase) + "create table t2 (id int primary key); create publication p for table t;",
       "alter publication p add table t2", {"publication p: tables changed"}, true},
      {"SchemaAdded", "", "create schema app", {"schema app: added", "owner of schema app: added"}, true},
      {"TableUnlogged", kBase, "alter table t set unlogged", {"table public.t: unlogged changed"}},
      {"RuleAdded", kBase, "create rule t_nodelete as on delete to t do instead nothing",
       {"rule t_nodelete on public.t: added"}, true},
  };
}

class Change : public ::testing::TestWithParam<Case> {};

TEST_P(Change, IsDescribed) {
  const Case& k = GetParam();
  TestDb db;
  if (!k.setup.empty()) exec(db, k.setup);
  auto before = capture(db);
  exec(db, k.change);
  auto after = capture(db);
  EXPECT_NE(before.hash, after.hash);
  EXPECT_EQ(digest(db).hash, after.hash);
  auto d = describe(fp::diff(before, after));
  for (auto& e : k.expect) EXPECT_NE(std::find(d.begin(), d.end(), e), d.end()) << "missing: " << e << joined(d);
  if (k.exact) {
    EXPECT_EQ(d.size(), k.expect.size()) << joined(d);
  }
}

INSTANTIATE_TEST_SUITE_P(Fingerprint, Change, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.name; });

TEST(Fingerprint, OwnerChanged) {
  TestDb db;
  TempRole role(db);
  exec(db, std::string(kBase) + "create sequence s; create schema app; create type mood as enum ('a');");
  auto before = capture(db);
  exec(db, fmt::format("alter table t owner to {0}; alter function f(int) owner to {0}; alter sequence s owner to {0};"
                       "alter schema app owner to {0}; alter type mood owner to {0}",
                       role.name));
  auto after = capture(db);
  auto changes = fp::diff(before, after);
  auto d = describe(changes);
  for (auto e : {"owner of table public.t: owner changed", "owner of function public.f(integer): owner changed",
                 "owner of sequence public.s: owner changed", "owner of schema app: owner changed",
                 "owner of enum public.mood: owner changed"})
    EXPECT_NE(std::find(d.begin(), d.end(), e), d.end()) << e << joined(d);
  for (auto& c : changes)
    if (c.id == "table public.t") {
      EXPECT_EQ(c.values.at("owner"), std::make_pair(std::string("postgres"), role.name));
    }
  EXPECT_EQ(digest(db).hash, after.hash);
}

TEST(Fingerprint, GrantToCreatedRole) {
  TestDb db;
  TempRole role(db);
  exec(db, kBase);
  auto before = capture(db);
  exec(db, fmt::format("grant select, insert on t to {0}; create policy t_owner on t to {0} using (true)", role.name));
  auto d = describe(fp::diff(before, capture(db)));
  EXPECT_EQ(d, (std::vector<std::string>{fmt::format("grant INSERT on public.t to {}: added", role.name),
                                         fmt::format("grant SELECT on public.t to {}: added", role.name),
                                         "policy t_owner on public.t: added"}))
      << joined(d);
}

// ---------------------------------------------------------------------------------------
// What a rehearsal finds: the schema after up + down compared with the one before.

struct Rehearsal {
  TestDb db;
  fp::Model before;
  explicit Rehearsal(const std::string& setup) {
    exec(db, setup);
    before = capture(db);
  }
  std::vector<fp::Change> after(const std::string& up, const std::string& down) {
    exec(db, up);
    exec(db, down);
    auto m = capture(db);
    EXPECT_EQ(digest(db).hash, m.hash);
    return fp::diff(before, m);
  }
};

TEST(FingerprintDiff, ForgottenIndex) {
  Rehearsal r(kBase);
  auto c = r.after("create index t_owner_idx on t (owner)", "select 1");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].what, "added");
  EXPECT_EQ(c[0].kind, "index");
  EXPECT_EQ(c[0].describe(), "index public.t_owner_idx: added");
}

TEST(FingerprintDiff, ColumnReAddedWithAnotherDefault) {
  Rehearsal r("create table t (id int, owner int default 0)");
  auto c = r.after("alter table t drop column owner", "alter table t add column owner int default 1");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].describe(), "column public.t.owner: default changed");
  EXPECT_EQ(c[0].values.at("default"), std::make_pair(std::string("0"), std::string("1")));
}

TEST(FingerprintDiff, ColumnReAddedWithAnotherType) {
  Rehearsal r("create table t (id int, owner int)");
  auto c = r.after("alter table t drop column owner", "alter table t add column owner bigint");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].describe(), "column public.t.owner: type changed");
  EXPECT_EQ(c[0].values.at("type"), std::make_pair(std::string("integer"), std::string("bigint")));
}

TEST(FingerprintDiff, PolicyAndGrantLeftBehind) {
  Rehearsal r(kBase);
  auto c = r.after("create policy t_owner on t using (owner = 1); grant select on t to pg_monitor",
                   "revoke select on t from pg_monitor; alter policy t_owner on t using (owner = 2)");
  auto d = describe(c);
  EXPECT_EQ(d, (std::vector<std::string>{"policy t_owner on public.t: added"})) << joined(d);
  Rehearsal g(kBase);
  d = describe(g.after("grant select on t to pg_monitor", "select 1"));
  EXPECT_EQ(d, (std::vector<std::string>{"grant SELECT on public.t to pg_monitor: added"})) << joined(d);
}

TEST(FingerprintDiff, FunctionBodyNotRestored) {
  Rehearsal r(kBase);
  auto c = r.after("create or replace function f(x int) returns int language sql as 'select x + 2'", "select 1");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].describe(), "function public.f(integer): body changed");
  EXPECT_EQ(c[0].fields, (std::vector<std::string>{"body"}));
  EXPECT_EQ(c[0].values.at("body"), std::make_pair(std::string("select x + 1"), std::string("select x + 2")));
}

TEST(FingerprintDiff, RlsLeftEnabled) {
  Rehearsal r(kBase);
  auto d = describe(r.after("alter table t enable row level security; alter table t force row level security",
                            "alter table t no force row level security"));
  EXPECT_EQ(d, (std::vector<std::string>{"RLS on public.t: added"})) << joined(d);
}

TEST(FingerprintDiff, ConstraintReAddedNotValid) {
  Rehearsal r(std::string(kBase) + "alter table t add constraint c_pos check (c > 0);");
  auto c = r.after("alter table t drop constraint c_pos", "alter table t add constraint c_pos check (c > 0) not valid");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].describe(), "constraint c_pos on public.t: validated changed");
  EXPECT_EQ(c[0].values.at("validated"), std::make_pair(std::string("true"), std::string("false")));
}

TEST(FingerprintDiff, SequenceNotReset) {
  Rehearsal r("create table t (id bigint generated by default as identity primary key, v text)");
  auto c = r.after("insert into t (v) values ('a'), ('b')", "delete from t");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].describe(), "sequence public.t_id_seq: value changed");
  EXPECT_EQ(c[0].values.at("value"), std::make_pair(std::string(""), std::string("2")));
  // Reset: the same as before again.
  exec(r.db, "alter sequence t_id_seq restart");
  EXPECT_EQ(capture(r.db).hash, r.before.hash);
}

TEST(FingerprintDiff, CleanRoundTripHasNoChanges) {
  Rehearsal r(kVaried);
  auto c = r.after("create table app.extra (id int primary key); create index on app.users (name);"
                   "alter table app.users add column extra int default 3; comment on table app.users is 'x';"
                   "grant insert on app.users to pg_monitor",
                   "drop table app.extra; drop index app.users_name_idx; alter table app.users drop column extra;"
                   "comment on table app.users is E'The users.\\nSecond \"line\"\\t\\\\ é \\x01';"
                   "revoke insert on app.users from pg_monitor");
  EXPECT_TRUE(c.empty()) << joined(describe(c));
}

// ---------------------------------------------------------------------------------------
// Pure functions: describe, diff, JSON

TEST(FingerprintModel, DescribeFormats) {
  fp::Change c{"changed", "policy", "public.t.t_owner", "policy t_owner on public.t", {"USING", "WITH CHECK"}, {}};
  EXPECT_EQ(c.describe(), "policy t_owner on public.t: USING, WITH CHECK changed");
  EXPECT_EQ((fp::Change{"added", "index", "public.i", "index public.i", {}, {}}).describe(), "index public.i: added");
  EXPECT_EQ((fp::Change{"removed", "grant", "x", "grant SELECT on public.t to anon", {}, {}}).describe(),
            "grant SELECT on public.t to anon: removed");
  auto j = fp::to_json(c);
  EXPECT_EQ(j["description"], c.describe());
  EXPECT_EQ(j["fields"], nlohmann::json({"USING", "WITH CHECK"}));
}

fp::Model small_model() {
  fp::Model m;
  m.objects = {{"table", "public.t", "table public.t", {}},
               {"column", "public.t.a", "column public.t.a", {{"type", "integer"}, {"not null", "false"}}},
               {"policy", "public.t.p", "policy p on public.t", {{"USING", "(a = 1)"}, {"WITH CHECK", "(a = 1)"}}}};
  auto j = fp::to_json(m);
  j.erase("hash");
  auto back = fp::from_json(j);  // sorts and hashes
  EXPECT_TRUE(back.ok()) << back.error().render();
  return back.ok() ? *back : m;
}

TEST(FingerprintModel, DiffAddedRemovedChanged) {
  auto a = small_model();
  auto b = a;
  b.objects.erase(b.objects.begin());  // column removed
  for (auto& o : b.objects)
    if (o.kind == "policy") o.props = {{"USING", "(a = 2)"}, {"WITH CHECK", "(a = 2)"}};
  b.objects.push_back({"index", "public.i", "index public.i", {{"definition", "CREATE INDEX i ON public.t USING btree (a)"}}});
  auto c = fp::diff(a, b);
  auto d = describe(c);
  EXPECT_EQ(d, (std::vector<std::string>{"column public.t.a: removed", "index public.i: added",
                                         "policy p on public.t: USING, WITH CHECK changed"}))
      << joined(d);
  EXPECT_EQ(c[2].values.at("USING"), std::make_pair(std::string("(a = 1)"), std::string("(a = 2)")));
  // A property present on one side only.
  auto e = a;
  e.objects[0].props.erase("not null");
  d = describe(fp::diff(a, e));
  EXPECT_EQ(d, (std::vector<std::string>{"column public.t.a: not null changed"}));
  EXPECT_TRUE(fp::diff(a, a).empty());
}

TEST(FingerprintModel, JsonRoundTrip) {
  auto m = small_model();
  auto j = fp::to_json(m);
  EXPECT_EQ(j["count"], 3);
  auto back = fp::from_json(j);
  ASSERT_TRUE(back.ok()) << back.error().render();
  EXPECT_EQ(back->hash, m.hash);
  EXPECT_EQ(fp::to_json(*back), j);
  // Order in the file does not matter; a wrong hash does.
  auto shuffled = j;
  std::reverse(shuffled["objects"].begin(), shuffled["objects"].end());
  auto s = fp::from_json(shuffled);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->hash, m.hash);
  auto tampered = j;
  tampered["objects"][0]["props"]["type"] = "bigint";
  EXPECT_FALSE(fp::from_json(tampered).ok());
  tampered.erase("hash");
  auto t = fp::from_json(tampered);
  ASSERT_TRUE(t.ok());
  EXPECT_NE(t->hash, m.hash);
  EXPECT_FALSE(fp::from_json(nlohmann::json::array()).ok());
  EXPECT_FALSE(fp::from_json({{"objects", {{{"kind", "table"}}}}}).ok());
  EXPECT_FALSE(fp::from_json({{"objects", {{{"kind", "t"}, {"id", "x"}, {"label", "l"}, {"props", {{"a", 1}}}}}}}).ok());
}

TEST(FingerprintModel, JsonRoundTripOfCapturedModel) {
  TestDb db;
  exec(db, kVaried);
  auto m = capture(db);
  auto back = fp::from_json(nlohmann::json::parse(fp::to_json(m).dump()));
  ASSERT_TRUE(back.ok()) << back.error().render();
  EXPECT_EQ(back->hash, m.hash);
  EXPECT_EQ(fp::to_json(*back), fp::to_json(m));
  EXPECT_TRUE(fp::diff(*back, m).empty());
}

// ---------------------------------------------------------------------------------------
// Performance: printed, not asserted (bench/fingerprint_bench.sh compares with pg_dump).

// `tables` tables of 16 objects each: table, 5 columns, primary key constraint and index,
// a secondary index, identity sequence, owners of table and sequence, RLS, a policy, a
// grant and a comment.
std::string perf_schema(int tables) {
  return fmt::format(R"SQL(
create schema app;
do $$
begin
  for i in 1 .. {} loop
    execute format($f$
      create table app.t_%1$s (id bigint generated by default as identity primary key, owner_id uuid not null,
                               name text default '', created_at timestamptz not null default now(), body jsonb);
      create index t_%1$s_owner_idx on app.t_%1$s (owner_id);
      alter table app.t_%1$s enable row level security;
      create policy t_%1$s_owner on app.t_%1$s using (owner_id = '00000000-0000-0000-0000-000000000000'::uuid);
      grant select on app.t_%1$s to pg_monitor;
      comment on table app.t_%1$s is 'table %1$s';
    $f$, i);
  end loop;
end $$;
)SQL",
                     tables);
}

double median_ms(const std::function<void()>& f, int n = 5) {
  std::vector<double> t;
  for (int i = 0; i < n; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

void perf_run(int tables, const char* tag) {
  TestDb db;
  auto sql = perf_schema(tables);
  exec(db, sql);
  // The bench builds the same schema elsewhere for pg_dump.
  if (auto* out = std::getenv("BELAY_FP_SCHEMA_OUT")) std::ofstream(fmt::format("{}.{}.sql", out, tag)) << sql;
  auto c = db.connect();
  fp::Model m;
  fp::Digest d;
  auto warm = fp::digest(c);  // prepares the statement
  ASSERT_TRUE(warm.ok()) << warm.error().render();
  double cap = median_ms([&] {
    auto r = fp::capture(c);
    ASSERT_TRUE(r.ok());
    m = *r;
  });
  double dig = median_ms([&] {
    auto r = fp::digest(c);
    ASSERT_TRUE(r.ok());
    d = *r;
  }, 11);
  EXPECT_EQ(d.hash, m.hash);
  std::printf("[fingerprint-perf] %s objects=%zu capture_ms=%.2f digest_ms=%.2f\n", tag, m.size(), cap, dig);
  std::fflush(stdout);
}

TEST(FingerprintPerf, TwoThousandObjects) { perf_run(125, "2000"); }
TEST(FingerprintPerf, SixHundredObjects) { perf_run(37, "600"); }

}  // namespace
}  // namespace belay
