// Supabase on the embedded database: the flavor's template (roles, auth, storage,
// extensions, default privileges), Supabase-style migrations applying unchanged, a
// postgres-flavored project having none of it, and the template rebuilt when the template
// SQL changes (flavor switch), with the old default database kept.
#include <fstream>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "embedded/embedded.h"
#include "project/project.h"
#include "support.h"

namespace belay {
namespace {

using test::TempProject;
using test::TestDb;

std::string q(const std::string& url, const std::string& sql) {
  auto c = pg::Conn::open(url, "supabase-test");
  if (!c.ok()) return "ERR " + c.error().message;
  auto r = c->exec_last(sql);
  if (!r.ok()) return "ERR " + r.error().message;
  return r->size() ? r->get(0, 0) : "";
}

TEST(SupabaseTemplate, RolesAsSupabaseHasThem) {
  TestDb db("supabase");
  EXPECT_EQ(db.scalar("select string_agg(rolname || ':' || rolcanlogin || rolinherit || rolbypassrls, ' ' order by rolname) "
                      "from pg_roles where rolname in ('anon', 'authenticated', 'service_role', 'authenticator')"),
            "anon:falsefalsefalse authenticated:falsefalsefalse authenticator:truefalsefalse service_role:falsefalsetrue");
  // authenticator may become each API role (PostgREST's SET ROLE), postgres too.
  EXPECT_EQ(db.scalar("select pg_has_role('authenticator', 'anon', 'member') and pg_has_role('authenticator', 'authenticated', "
                      "'member') and pg_has_role('authenticator', 'service_role', 'member') and "
                      "pg_has_role('postgres', 'anon', 'member')"),
            "t");
}

TEST(SupabaseTemplate, AuthFunctionsReadTheJwtClaimsAsSupabaseDefinesThem) {
  TestDb db("supabase");
  auto c = db.connect();
  auto one = [&](const std::string& sql) {
    auto r = c.exec_last(sql);
    EXPECT_TRUE(r.ok()) << sql << ": " << (r.ok() ? "" : r.error().message);
    return r.ok() && r->size() ? r->get(0, 0) : std::string("<error>");
  };
  // No claims at all: NULL (not an error).
  EXPECT_EQ(one("select coalesce(auth.uid()::text, 'null') || coalesce(auth.role(), 'null') || coalesce(auth.email(), 'null')"
                " || coalesce(auth.jwt()::text, 'null')"),
            "nullnullnullnull");
  // PostgREST >= 9: one JSON object in request.jwt.claims.
  EXPECT_EQ(one("begin; select set_config('request.jwt.claims', '{\"sub\": \"00000000-0000-0000-0000-00000000000a\", "
                "\"role\": \"authenticated\", \"email\": \"a@example.com\", \"app_metadata\": {\"tenant\": 7}}', true); "
                "select auth.uid() || ' ' || auth.role() || ' ' || auth.email() || ' ' || (auth.jwt() -> 'app_metadata' ->> 'tenant')"),
            "00000000-0000-0000-0000-00000000000a authenticated a@example.com 7");
  ASSERT_TRUE(c.exec("rollback").ok());
  // Older PostgREST: one setting per claim, read first.
  EXPECT_EQ(one("begin; select set_config('request.jwt.claims', '{\"sub\": \"00000000-0000-0000-0000-00000000000a\"}', true), "
                "set_config('request.jwt.claim.sub', '00000000-0000-0000-0000-00000000000b', true); select auth.uid()::text"),
            "00000000-0000-0000-0000-00000000000b");
  ASSERT_TRUE(c.exec("rollback").ok());
  // An empty legacy setting falls back to request.jwt.claims (nullif '').
  EXPECT_EQ(one("begin; select set_config('request.jwt.claim.sub', '', true), set_config('request.jwt.claims', "
                "'{\"sub\": \"00000000-0000-0000-0000-00000000000c\"}', true); select auth.uid()::text"),
            "00000000-0000-0000-0000-00000000000c");
  ASSERT_TRUE(c.exec("rollback").ok());
  EXPECT_EQ(db.scalar("select string_agg(p.proname || ':' || p.provolatile::text || ':' || pg_get_function_result(p.oid), ' ' order by p.proname) "
                      "from pg_proc p where p.pronamespace = 'auth'::regnamespace"),
            "email:s:text jwt:s:jsonb role:s:text uid:s:uuid");
}

TEST(SupabaseTemplate, StorageExtensionsRealtimeAndDefaultPrivileges) {
  TestDb db("supabase");
  auto c = db.connect();
  EXPECT_TRUE(c.exec("insert into storage.buckets (id, name, public) values ('doc-block-assets', 'doc-block-assets', false); "
                     "insert into storage.objects (bucket_id, name) values ('doc-block-assets', 'w1/d2/b3.png')")
                  .ok());
  EXPECT_EQ(db.scalar("select (storage.foldername(name))::text || ' ' || storage.filename(name) || ' ' || "
                      "storage.extension(name) || ' ' || path_tokens::text from storage.objects"),
            "{w1,d2} b3.png png {w1,d2,b3.png}");
  // Seed 000's check: the bucket exists and its objects are behind RLS.
  EXPECT_EQ(db.scalar("select relrowsecurity from pg_class where oid = 'storage.objects'::regclass"), "t");
  EXPECT_EQ(db.scalar("select length(extensions.uuid_generate_v4()::text) || ' ' || "
                      "(extensions.crypt('x', extensions.gen_salt('bf')) <> '')::text"),
            "36 true");
  EXPECT_EQ(db.scalar("select count(*) from pg_publication where pubname = 'supabase_realtime'"), "1");
  // A new table in public is reachable by the API roles (Supabase's default privileges).
  ASSERT_TRUE(c.exec("create table public.fresh (id int)").ok());
  EXPECT_EQ(db.scalar("select has_table_privilege('anon', 'public.fresh', 'SELECT') and "
                      "has_table_privilege('authenticated', 'public.fresh', 'INSERT') and "
                      "has_table_privilege('service_role', 'public.fresh', 'DELETE')"),
            "t");
  // auth.users is not readable by the API roles.
  EXPECT_EQ(db.scalar("select has_table_privilege('anon', 'auth.users', 'SELECT')::text || "
                      "has_table_privilege('authenticated', 'auth.users', 'SELECT')::text"),
            "falsefalse");
}

TEST(SupabaseTemplate, TemplateSqlRunsAgainWhereTheRolesExist) {
  // Rebuilding a template in a cluster that has the roles already (a flavor switch back and
  // forth, an updated template SQL) runs the whole script again in a fresh database.
  auto url = test::cluster_url("postgres", "supabase");
  ASSERT_FALSE(url.empty());
  auto name = test::unique_name("again");
  ASSERT_EQ(q(url, "create database " + name + " template template0"), "");
  auto db_url = url.substr(0, url.find("/postgres?")) + "/" + name + url.substr(url.find('?'));
  auto c = pg::Conn::open(db_url, "supabase-test");
  ASSERT_TRUE(c.ok()) << c.error().render();
  auto run = c->exec(std::string(embedded::supabase_template_sql()));
  EXPECT_TRUE(run.ok()) << run.error().render();
  c = pg::Conn::open(url, "supabase-test");
  q(url, "drop database " + name + " with (force)");
}

// A realistic set of Supabase migrations: profiles keyed by auth.users, a trigger on
// auth.users, owner policies with auth.uid(), storage policies on a private bucket, SECURITY
// DEFINER functions, realtime.
const char* kMigrations[][2] = {
    {"20240101000000_profiles.sql", R"SQL(
create table public.profiles (
  id uuid not null references auth.users on delete cascade,
  full_name text,
  avatar_url text,
  updated_at timestamptz default now(),
  primary key (id)
);
alter table public.profiles enable row level security;
create policy "Public profiles are viewable by everyone." on profiles for select using (true);
create policy "Users can insert their own profile." on profiles for insert with check ((select auth.uid()) = id);
create policy "Users can update own profile." on profiles for update using ((select auth.uid()) = id);

create function public.handle_new_user() returns trigger
language plpgsql security definer set search_path = ''
as $$
begin
  insert into public.profiles (id, full_name, avatar_url)
  values (new.id, new.raw_user_meta_data ->> 'full_name', new.raw_user_meta_data ->> 'avatar_url');
  return new;
end;
$$;
create trigger on_auth_user_created after insert on auth.users for each row execute procedure public.handle_new_user();
)SQL"},
    {"20240102000000_documents.sql", R"SQL(
create table if not exists public.gtm_docs (
  id uuid primary key default gen_random_uuid(),
  owner_id uuid not null default auth.uid() references auth.users (id),
  title text not null,
  blocks_metadata jsonb default '{}'::jsonb,
  created_at timestamptz not null default now()
);
create index gtm_docs_owner_idx on public.gtm_docs (owner_id);
alter table public.gtm_docs enable row level security;
create policy "owners read" on public.gtm_docs for select to authenticated using (owner_id = (select auth.uid()));
create policy "owners write" on public.gtm_docs for all to authenticated
  using (owner_id = (select auth.uid())) with check (owner_id = (select auth.uid()));
alter publication supabase_realtime add table public.gtm_docs;
create or replace function public.doc_count() returns bigint
language sql stable security definer set search_path = ''
as $$ select count(*) from public.gtm_docs where owner_id = auth.uid() $$;
revoke execute on function public.doc_count() from public, anon;
grant execute on function public.doc_count() to authenticated;
)SQL"},
    {"20240103000000_storage.sql", R"SQL(
insert into storage.buckets (id, name, public) values ('doc-block-assets', 'doc-block-assets', false)
on conflict (id) do nothing;
create policy "users upload to their folder" on storage.objects for insert to authenticated
  with check (bucket_id = 'doc-block-assets' and (storage.foldername(name))[1] = (select auth.uid())::text);
create policy "users read their folder" on storage.objects for select to authenticated
  using (bucket_id = 'doc-block-assets' and (storage.foldername(name))[1] = (select auth.uid())::text);
create extension if not exists "uuid-ossp" with schema extensions;
alter table public.gtm_docs add column if not exists slug text default extensions.uuid_generate_v4()::text;
)SQL"},
};

TEST(SupabaseProject, SupabaseMigrationsApplyOnTheEmbeddedDatabase) {
  TempProject p("supa");
  ASSERT_EQ(test::run_belay({"init", "--supabase"}, p.dir()).exit_code, 0);
  for (auto& m : kMigrations) p.write(std::string("supabase/migrations/") + m[0], m[1]);
  auto r = test::run_belay({"migrate", "--no-evidence"}, p.dir());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto url = test::run_belay({"db", "url"}, p.dir()).out;
  url = url.substr(0, url.find('\n'));
  // The trigger on auth.users made the profile; the policies work as PostgREST would use them.
  EXPECT_EQ(q(url, "insert into auth.users (id, email, raw_user_meta_data) values ('00000000-0000-0000-0000-00000000000a', "
                   "'a@example.com', '{\"full_name\": \"Ada\"}'); select full_name from public.profiles"),
            "Ada");
  EXPECT_EQ(q(url, "begin; select set_config('role', 'authenticated', true), set_config('request.jwt.claims', "
                   "'{\"sub\": \"00000000-0000-0000-0000-00000000000a\", \"role\": \"authenticated\"}', true); "
                   "insert into public.gtm_docs (title) values ('mine'); select public.doc_count()::text || ' ' || "
                   "(select count(*) from public.gtm_docs)::text"),
            "1 1");
  EXPECT_EQ(q(url, "rollback; begin; select set_config('role', 'authenticated', true), set_config('request.jwt.claims', "
                   "'{\"sub\": \"00000000-0000-0000-0000-00000000000a\"}', true); "
                   "insert into storage.objects (bucket_id, name) values ('doc-block-assets', '00000000-0000-0000-0000-00000000000b/x.png')"),
            "ERR new row violates row-level security policy for table \"objects\"");
  EXPECT_EQ(q(url, "select string_agg(tablename, ',') from pg_publication_tables where pubname = 'supabase_realtime'"),
            "gtm_docs");
  // The Supabase CLI's history table is kept in step.
  EXPECT_EQ(q(url, "select count(*) from supabase_migrations.schema_migrations"), "3");
}

TEST(SupabaseProject, PostgresFlavoredProjectHasNoneOfIt) {
  TempProject p("pgflavor");
  ASSERT_EQ(test::run_belay({"init"}, p.dir()).exit_code, 0);
  auto url = test::run_belay({"db", "url"}, p.dir()).out;
  url = url.substr(0, url.find('\n'));
  EXPECT_EQ(q(url, "select count(*) from pg_roles where rolname in ('anon', 'authenticated', 'service_role', 'authenticator')"),
            "0");
  EXPECT_EQ(q(url, "select count(*) from pg_namespace where nspname in ('auth', 'storage', 'extensions')"), "0");
  EXPECT_EQ(q(url, "select count(*) from pg_default_acl"), "0");
  // Supabase migrations do not apply there, and say why.
  p.write("migrations/1_profiles.sql", kMigrations[0][1]);
  auto r = test::run_belay({"migrate", "--no-evidence"}, p.dir());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE((r.out + r.err).find("auth"), std::string::npos) << r.out << r.err;
}

TEST(SupabaseProject, FlavorSwitchRebuildsTheTemplateAndKeepsTheOldDefaultDatabase) {
  TempProject p("switch");
  ASSERT_EQ(test::run_belay({"init"}, p.dir()).exit_code, 0);
  p.write("migrations/1_t.sql", "create table t (id int primary key);\n");
  ASSERT_EQ(test::run_belay({"migrate", "--no-evidence"}, p.dir()).exit_code, 0);
  auto url = [&] {
    auto u = test::run_belay({"db", "url"}, p.dir()).out;
    return u.substr(0, u.find('\n'));
  };
  auto db = url();
  EXPECT_EQ(q(db, "select count(*) from pg_namespace where nspname = 'auth'"), "0");

  // Now a Supabase project: the template is rebuilt, the default database made anew from it,
  // and the one the migrations built before is kept under another name.
  std::ifstream in(p.dir() / "belay.toml");
  std::string toml((std::istreambuf_iterator<char>(in)), {});
  toml.replace(toml.find("flavor = \"postgres\""), 19, "flavor = \"supabase\"");
  p.write("belay.toml", toml);
  auto start = test::run_belay({"db", "start", "--json"}, p.dir());
  ASSERT_EQ(start.exit_code, 0) << start.err;
  auto detail = nlohmann::json::parse(start.out).value("detail", "");
  EXPECT_NE(detail.find("rebuilt the template"), std::string::npos) << detail;
  EXPECT_NE(detail.find("kept it as 'belay_before_"), std::string::npos) << detail;
  EXPECT_EQ(q(db, "select count(*) from pg_namespace where nspname = 'auth'"), "1");
  EXPECT_EQ(q(db, "select to_regclass('public.t') is null"), "t");
  auto kept = q(db, "select datname from pg_database where datname like 'belay\\_before\\_%'");
  ASSERT_FALSE(kept.empty());
  auto kept_url = db.substr(0, db.find("/belay?")) + "/" + kept + db.substr(db.find('?'));
  EXPECT_EQ(q(kept_url, "select to_regclass('public.t') is not null"), "t");
  // The migrations run again on the new database, with Supabase's schemas there.
  auto r = test::run_belay({"migrate", "--no-evidence"}, p.dir());
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;

  // Starting again with the same flavor changes nothing.
  auto again = test::run_belay({"db", "start", "--json"}, p.dir());
  EXPECT_EQ(nlohmann::json::parse(again.out).value("detail", "").find("template"), std::string::npos) << again.out;

  // Back to postgres: the template loses Supabase's schemas (roles stay: they are the
  // cluster's, not a database's).
  toml.replace(toml.find("flavor = \"supabase\""), 19, "flavor = \"postgres\"");
  p.write("belay.toml", toml);
  ASSERT_EQ(test::run_belay({"db", "start"}, p.dir()).exit_code, 0);
  EXPECT_EQ(q(db, "select count(*) from pg_namespace where nspname = 'auth'"), "0");
}

TEST(EmbeddedTemplate, FailingTemplateSqlIsReportedAndRetriedOnTheNextStart) {
  TempProject p("tplfail");
  embedded::Cluster bad(p.dir(), embedded::Options{"", "", "create table marker (x int); select 1/0;"});
  auto r = bad.start();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("building the template database failed"), std::string::npos) << r.error().render();
  EXPECT_EQ(r.error().sqlstate, "22012");
  EXPECT_EQ(r.error().object, "belay_template");
  // A fixed SQL builds it on the next start; the half-made template does not survive.
  embedded::Cluster good(p.dir(), embedded::Options{"", "", "create table marker2 (x int);"});
  auto r2 = good.start();
  ASSERT_TRUE(r2.ok()) << r2.error().render();
  auto url = good.create_database("fresh");
  ASSERT_TRUE(url.ok()) << url.error().render();
  EXPECT_EQ(q(*url, "select (to_regclass('marker2') is not null)::text || (to_regclass('marker') is null)::text"), "truetrue");
  EXPECT_EQ(q(good.url(), "select (to_regclass('marker2') is not null)::text"), "true");
  good.stop().ok();
}

}  // namespace
}  // namespace belay
