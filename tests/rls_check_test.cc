// belay rls check: every catalog check flags its leak and leaves the sound variant alone;
// combinations (a permissive policy OR'd with a strict one, a security-definer view over an
// RLS table, a USING clause true for a NULL sub); a sound multi-tenant schema has no
// findings at all; [rls] configuration (disable, severity, ignore) and its mistakes.
#include <algorithm>
#include <set>

#include <gtest/gtest.h>

#include "project/project.h"
#include "rls/rls.h"
#include "support.h"

namespace belay {
namespace {

using test::TestDb;

rls::CheckConfig supabase_config() {
  project::Config c;
  c.flavor = "supabase";
  auto r = rls::check_config(c);
  EXPECT_TRUE(r.ok());
  return *r;
}

std::vector<findings::Finding> run(const TestDb& db, const std::string& sql, const rls::CheckConfig& cfg = supabase_config()) {
  auto c = db.connect();
  if (!sql.empty()) {
    auto s = c.exec(sql);
    EXPECT_TRUE(s.ok()) << s.error().render();
  }
  auto r = rls::check(c, cfg);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().render());
  return r.ok() ? r->findings : std::vector<findings::Finding>{};
}

// Objects a check flagged.
std::set<std::string> flagged(const std::vector<findings::Finding>& fs, const std::string& rule) {
  std::set<std::string> out;
  for (auto& f : fs)
    if (f.rule == rule) out.insert(f.object);
  return out;
}

const findings::Finding* find(const std::vector<findings::Finding>& fs, const std::string& rule, const std::string& object) {
  for (auto& f : fs)
    if (f.rule == rule && f.object == object) return &f;
  return nullptr;
}

TEST(RlsCheckRules, EveryCheckHasAnIdExplanationAndFix) {
  std::set<std::string> ids;
  for (auto& r : rls::checks()) {
    EXPECT_TRUE(ids.insert(r.id).second) << r.id;
    EXPECT_FALSE(r.summary.empty()) << r.id;
    EXPECT_NE(r.explanation.find("Fix:"), std::string::npos) << r.id;
    EXPECT_TRUE(r.family == "security" || r.family == "performance") << r.id;
  }
  EXPECT_EQ(ids.size(), 12u);
}

TEST(RlsCheck, RlsDisabledInExposedSchema) {
  TestDb db("supabase");
  auto fs = run(db, R"SQL(
    create table public.open (id int primary key);
    create table public.closed (id int primary key);
    alter table public.closed enable row level security;
    create policy c on public.closed for select to authenticated using (true);
    create schema private;
    create table private.hidden (id int primary key);
    create table public.ungranted (id int primary key);
    revoke all on public.ungranted from anon, authenticated, service_role;
  )SQL");
  EXPECT_EQ(flagged(fs, "rls-disabled-in-exposed-schema"), (std::set<std::string>{"public.open", "public.ungranted"}));
  auto* f = find(fs, "rls-disabled-in-exposed-schema", "public.open");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->severity, findings::Severity::error);
  EXPECT_NE(f->message.find("anon (select, insert, update, delete)"), std::string::npos) << f->message;
  EXPECT_NE(f->fix.find("ALTER TABLE public.open ENABLE ROW LEVEL SECURITY"), std::string::npos);
  f = find(fs, "rls-disabled-in-exposed-schema", "public.ungranted");
  EXPECT_NE(f->message.find("no API role holds a privilege"), std::string::npos) << f->message;
  // Supabase's own schemas are not the project's to fix.
  for (auto& x : fs) EXPECT_EQ(x.object.rfind("auth.", 0), std::string::npos) << x.object;
}

TEST(RlsCheck, PolicyOnTableWithoutRls) {
  TestDb db("supabase");
  auto fs = run(db, R"SQL(
    create table public.forgot (id int primary key, owner uuid);
    create policy own on public.forgot for select using (owner = auth.uid());
    create table public.fine (id int primary key, owner uuid);
    alter table public.fine enable row level security;
    create policy own on public.fine for select using (owner = auth.uid());
    create schema private;
    create table private.also (id int primary key);
    create policy p on private.also using (true);
  )SQL");
  // Not only in exposed schemas: an unenforced policy misleads wherever it is.
  EXPECT_EQ(flagged(fs, "policy-on-table-without-rls"), (std::set<std::string>{"private.also", "public.forgot"}));
  EXPECT_NE(find(fs, "policy-on-table-without-rls", "public.forgot")->message.find("(own)"), std::string::npos);
}

TEST(RlsCheck, RlsEnabledNoPolicy) {
  TestDb db("supabase");
  auto fs = run(db, R"SQL(
    create table public.locked (id int primary key);
    alter table public.locked enable row level security;
    create table public.fine (id int primary key);
    alter table public.fine enable row level security;
    create policy p on public.fine for select to authenticated using (true);
  )SQL");
  EXPECT_EQ(flagged(fs, "rls-enabled-no-policy"), (std::set<std::string>{"public.locked"}));
  EXPECT_EQ(find(fs, "rls-enabled-no-policy", "public.locked")->severity, findings::Severity::info);
}

TEST(RlsCheck, PolicyAlwaysTrueWrite) {
  TestDb db("supabase");
  auto fs = run(db, R"SQL(
    create table public.t (id int primary key, owner uuid);
    alter table public.t enable row level security;
    create policy upd_all on public.t for update to authenticated using (true);
    create policy ins_any on public.t for insert to anon with check (true);
    create policy all_const on public.t for all using (1 = 1);
    create policy del_const on public.t for delete to authenticated using (true or false);
    create policy check_true on public.t for update to authenticated using (owner = auth.uid()) with check (true);
    -- not flagged: reads, service_role, restrictive, conditions
    create policy sel on public.t for select using (true);
    create policy svc on public.t for update to service_role using (true);
    create policy strict on public.t as restrictive for delete to authenticated using (true);
    create policy own_ins on public.t for insert to authenticated with check (owner = auth.uid());
    create policy own_upd on public.t for update to authenticated using (owner = auth.uid()) with check (owner = auth.uid());
    create policy false_const on public.t for delete to anon using (1 = 2);
  )SQL");
  EXPECT_EQ(flagged(fs, "policy-always-true-write"),
            (std::set<std::string>{"public.t.all_const", "public.t.check_true", "public.t.del_const", "public.t.ins_any",
                                   "public.t.upd_all"}));
  auto* f = find(fs, "policy-always-true-write", "public.t.check_true");
  EXPECT_NE(f->message.find("write any row (WITH CHECK (true))"), std::string::npos) << f->message;
  EXPECT_EQ(f->message.find("every row (USING"), std::string::npos) << f->message;
  f = find(fs, "policy-always-true-write", "public.t.upd_all");
  EXPECT_NE(f->message.find("update every row (USING (true))"), std::string::npos) << f->message;
}

TEST(RlsCheck, UsingClauseTrueForNullSub) {
  TestDb db("supabase");
  auto fs = run(db, R"SQL(
    create table public.notes (id int primary key, owner uuid);
    alter table public.notes enable row level security;
    create policy fallback on public.notes for select using (owner = auth.uid() or auth.uid() is null);
    create policy coalesced on public.notes for update to anon using (coalesce(owner = auth.uid(), true));
    create policy distinct_from on public.notes for delete using (owner is not distinct from auth.uid());
    create policy claims on public.notes for insert with check (
      owner::text = coalesce(current_setting('request.jwt.claims', true)::jsonb ->> 'sub', owner::text));
    -- sound: NULL compares as unknown; authenticated always has a sub
    create policy own on public.notes for select using (owner = auth.uid());
    create policy users_only on public.notes for update to authenticated using (auth.uid() is null or owner = auth.uid());
    create policy everyone on public.notes for select to anon using (true);
  )SQL");
  // IS NOT DISTINCT FROM gives a request without a sub every row without an owner.
  EXPECT_EQ(flagged(fs, "policy-true-for-null-sub"),
            (std::set<std::string>{"public.notes.claims", "public.notes.coalesced", "public.notes.distinct_from",
                                   "public.notes.fallback"}));
  EXPECT_NE(find(fs, "policy-true-for-null-sub", "public.notes.fallback")->message.find("USING"), std::string::npos);
}

TEST(RlsCheck, PermissivePolicyOrdWithAStrictOne) {
  TestDb db("supabase");
  auto fs = run(db, R"SQL(
    create table public.docs (id int primary key, owner uuid, public boolean);
    alter table public.docs enable row level security;
    create policy strict on public.docs for select to authenticated using (owner = auth.uid());
    create policy loose on public.docs for select using (public);
    create policy own_all on public.docs for all to authenticated using (owner = auth.uid());
    create table public.single (id int primary key, owner uuid);
    alter table public.single enable row level security;
    create policy one on public.single for select to authenticated using (owner = auth.uid());
    create policy narrow on public.single as restrictive for select to authenticated using (owner is not null);
  )SQL");
  auto objs = flagged(fs, "multiple-permissive-policies");
  EXPECT_EQ(objs, (std::set<std::string>{"public.docs"}));
  std::string all;
  for (auto& f : fs)
    if (f.rule == "multiple-permissive-policies") all += f.message + "\n";
  // SELECT for authenticated has three (loose applies to PUBLIC); anon only the loose one.
  EXPECT_NE(all.find("loose, own_all, strict all apply to authenticated for SELECT"), std::string::npos) << all;
  EXPECT_EQ(all.find("anon"), std::string::npos) << all;
}

TEST(RlsCheck, ViewsThatBypassRls) {
  TestDb db("supabase");
  auto fs = run(db, R"SQL(
    create table public.secrets (id int primary key, owner uuid, body text);
    alter table public.secrets enable row level security;
    create policy own on public.secrets for select to authenticated using (owner = auth.uid());
    create view public.all_secrets as select id, body from public.secrets;
    create view public.stacked as select * from public.all_secrets;
    create view public.safe with (security_invoker = true) as select id, body from public.secrets;
    create view public.users_view as select id, email from auth.users;
    create materialized view public.counts as select count(*) as n from public.secrets;
    create view public.internal as select id from public.secrets;
    revoke all on public.internal from anon, authenticated, service_role;
  )SQL");
  EXPECT_EQ(flagged(fs, "view-bypasses-rls"),
            (std::set<std::string>{"public.all_secrets", "public.counts", "public.stacked", "public.users_view"}));
  auto* f = find(fs, "view-bypasses-rls", "public.all_secrets");
  EXPECT_NE(f->message.find("read public.secrets through it past their row level security"), std::string::npos) << f->message;
  EXPECT_NE(f->fix.find("REVOKE SELECT ON public.all_secrets FROM anon, authenticated"), std::string::npos) << f->fix;
  // Through a view on a view, the table beneath is still named.
  EXPECT_NE(find(fs, "view-bypasses-rls", "public.stacked")->message.find("public.secrets"), std::string::npos);
  EXPECT_NE(find(fs, "view-bypasses-rls", "public.users_view")->message.find("exposes auth.users"), std::string::npos);
  EXPECT_NE(find(fs, "view-bypasses-rls", "public.counts")->message.find("materialized view"), std::string::npos);
}

TEST(RlsCheck, FunctionsSearchPathAndSecurityDefiner) {
  TestDb db("supabase");
  auto fs = run(db, R"SQL(
    create function public.loose() returns int language sql as $$ select 1 $$;
    create function public.pinned() returns int language sql set search_path = '' as $$ select 1 $$;
    create schema private;
    create function private.definer() returns int language sql security definer as $$ select 1 $$;
    create function private.invoker() returns int language sql as $$ select 1 $$;
    create function public.api_definer(x int) returns int language sql security definer set search_path = '' as $$ select x $$;
    create function public.closed_definer() returns int language sql security definer set search_path = '' as $$ select 1 $$;
    revoke execute on function public.closed_definer() from public, anon, authenticated;
    create function public.on_insert() returns trigger language plpgsql security definer set search_path = ''
      as $$ begin return new; end $$;
  )SQL");
  EXPECT_EQ(flagged(fs, "function-search-path-mutable"), (std::set<std::string>{"private.definer()", "public.loose()"}));
  EXPECT_NE(find(fs, "function-search-path-mutable", "private.definer()")->message.find("SECURITY DEFINER"), std::string::npos);
  EXPECT_EQ(flagged(fs, "security-definer-function-executable"), (std::set<std::string>{"public.api_definer(x integer)"}));
  auto* f = find(fs, "security-definer-function-executable", "public.api_definer(x integer)");
  EXPECT_NE(f->message.find("/rpc/api_definer"), std::string::npos) << f->message;
  EXPECT_NE(f->fix.find("REVOKE EXECUTE ON FUNCTION public.api_definer(x integer) FROM anon, authenticated"), std::string::npos)
      << f->fix;
}

TEST(RlsCheck, ForeignKeysWithoutIndexAndTablesWithoutPrimaryKey) {
  TestDb db("supabase");
  auto fs = run(db, R"SQL(
    create table public.parent (a int, b int, primary key (a, b));
    create table public.child (id int primary key, a int, b int, owner uuid references auth.users (id),
                               foreign key (a, b) references public.parent);
    create table public.indexed (id int primary key, a int, b int, foreign key (a, b) references public.parent);
    create index on public.indexed (b, a);
    create table public.partial_idx (id int primary key, a int, b int, foreign key (a, b) references public.parent);
    create index on public.partial_idx (a, b) where a > 0;
    create table public.log (at timestamptz, msg text);
  )SQL");
  EXPECT_EQ(flagged(fs, "foreign-key-without-index"),
            (std::set<std::string>{"public.child.child_a_b_fkey", "public.child.child_owner_fkey",
                                   "public.partial_idx.partial_idx_a_b_fkey"}));
  EXPECT_EQ(find(fs, "foreign-key-without-index", "public.child.child_a_b_fkey")->fix,
            "CREATE INDEX CONCURRENTLY ON public.child (a, b);");
  EXPECT_EQ(flagged(fs, "table-without-primary-key"), (std::set<std::string>{"public.log"}));
}

TEST(RlsCheck, SensitiveColumnsReadableByAnon) {
  TestDb db("supabase");
  auto fs = run(db, R"SQL(
    create table public.accounts (id int primary key, api_key text, password_hash text, password_set boolean,
                                  token_expires_at timestamptz, tokenizer text);
    create table public.guarded (id int primary key, reset_token text);
    alter table public.guarded enable row level security;
    create policy own on public.guarded for select to authenticated using (true);
    create table public.leaky (id int primary key, ssn text);
    alter table public.leaky enable row level security;
    create policy everyone on public.leaky for select using (true);
    create table public.narrowed (id int primary key, secret text);
    revoke select on public.narrowed from anon;
    grant select (id) on public.narrowed to anon;
    create view public.card_view as select id, api_key as credit_card from public.accounts;
  )SQL");
  EXPECT_EQ(flagged(fs, "sensitive-column-exposed"),
            (std::set<std::string>{"public.accounts.api_key", "public.accounts.password_hash", "public.card_view.credit_card",
                                   "public.leaky.ssn"}));
  EXPECT_NE(find(fs, "sensitive-column-exposed", "public.leaky.ssn")->message.find("through policy everyone"), std::string::npos);
  EXPECT_NE(find(fs, "sensitive-column-exposed", "public.accounts.api_key")->message.find("row level security is off"),
            std::string::npos);
}

TEST(RlsCheck, SoundMultiTenantSchemaHasNoFindings) {
  TestDb db("supabase");
  auto fs = run(db, R"SQL(
    create table public.orgs (id bigint generated always as identity primary key, name text not null);
    create table public.memberships (
      org_id bigint not null references public.orgs (id) on delete cascade,
      user_id uuid not null references auth.users (id) on delete cascade,
      role text not null default 'member',
      primary key (org_id, user_id));
    create index memberships_user_idx on public.memberships (user_id);
    create table public.projects (
      id bigint generated always as identity primary key,
      org_id bigint not null references public.orgs (id) on delete cascade,
      name text not null);
    create index projects_org_idx on public.projects (org_id);
    alter table public.orgs enable row level security;
    alter table public.memberships enable row level security;
    alter table public.projects enable row level security;

    -- The membership lookup runs as its owner (no recursion through memberships' policy) from
    -- a schema the API does not expose, with a pinned search_path.
    create schema private;
    grant usage on schema private to authenticated;
    create function private.my_orgs() returns setof bigint language sql stable security definer set search_path = ''
      as $$ select org_id from public.memberships where user_id = (select auth.uid()) $$;
    revoke execute on function private.my_orgs() from public, anon;
    grant execute on function private.my_orgs() to authenticated;

    create policy orgs_read on public.orgs for select to authenticated using (id in (select private.my_orgs()));
    create policy memberships_read on public.memberships for select to authenticated using (user_id = (select auth.uid()));
    create policy projects_read on public.projects for select to authenticated using (org_id in (select private.my_orgs()));
    create policy projects_insert on public.projects for insert to authenticated with check (org_id in (select private.my_orgs()));
    create policy projects_update on public.projects for update to authenticated
      using (org_id in (select private.my_orgs())) with check (org_id in (select private.my_orgs()));
    create policy projects_delete on public.projects for delete to authenticated using (org_id in (select private.my_orgs()));
    create view public.my_projects with (security_invoker = true) as select id, name from public.projects;
  )SQL");
  std::string all;
  for (auto& f : fs) all += f.rule + " " + f.object + ": " + f.message + "\n";
  EXPECT_TRUE(fs.empty()) << all;
}

TEST(RlsCheck, PublicGrantsWithoutSupabaseRoles) {
  // A plain PostgreSQL database: no anon role; PUBLIC grants are what reach everyone.
  TestDb db;
  rls::CheckConfig cfg;
  auto fs = run(db, R"SQL(
    create table public.exposed (id int primary key, password text);
    grant select on public.exposed to public;
    create table public.private_to_owner (id int primary key);
  )SQL",
                cfg);
  auto* f = find(fs, "rls-disabled-in-exposed-schema", "public.exposed");
  ASSERT_TRUE(f);
  EXPECT_NE(f->message.find("PUBLIC (select)"), std::string::npos) << f->message;
  EXPECT_NE(find(fs, "rls-disabled-in-exposed-schema", "public.private_to_owner")->message.find("no API role"),
            std::string::npos);
  EXPECT_EQ(flagged(fs, "sensitive-column-exposed"), (std::set<std::string>{"public.exposed.password"}));
}

TEST(RlsCheckConfig, DisableSeverityIgnoreAndUnusedIgnores) {
  TestDb db("supabase");
  project::Config pc;
  pc.flavor = "supabase";
  pc.rls.disable = {"table-without-primary-key"};
  pc.rls.severity = {{"rls-disabled-in-exposed-schema", "warning"}};
  pc.rls.ignore = {"public.legacy_*", "foreign-key-without-index:public.child.*", "public.nothing_here",
                   "view-bypasses-rls:public.legacy_a"};
  auto cfg = rls::check_config(pc);
  ASSERT_TRUE(cfg.ok()) << cfg.error().render();
  auto c = db.connect();
  ASSERT_TRUE(c.exec(R"SQL(
    create table public.legacy_a (id int);
    create table public.legacy_b (id int);
    create table public.open (x int);
    create table public.parent (id int primary key);
    create table public.child (id int primary key, p int references public.parent);
    alter table public.parent enable row level security;
    alter table public.child enable row level security;
    create policy r on public.parent for select to authenticated using (true);
    create policy r on public.child for select to authenticated using (true);
  )SQL").ok());
  auto rep = rls::check(c, *cfg);
  ASSERT_TRUE(rep.ok()) << rep.error().render();
  EXPECT_EQ(flagged(rep->findings, "table-without-primary-key"), std::set<std::string>{});
  EXPECT_EQ(flagged(rep->findings, "foreign-key-without-index"), std::set<std::string>{});
  EXPECT_EQ(flagged(rep->findings, "rls-disabled-in-exposed-schema"), (std::set<std::string>{"public.open"}));
  EXPECT_EQ(find(rep->findings, "rls-disabled-in-exposed-schema", "public.open")->severity, findings::Severity::warning);
  EXPECT_EQ(rep->ignored, 3);  // legacy_a, legacy_b, the child's foreign key
  EXPECT_EQ(rep->unused_ignores, (std::vector<std::string>{"public.nothing_here", "view-bypasses-rls:public.legacy_a"}));
  // Errors come before warnings.
  for (size_t i = 1; i < rep->findings.size(); ++i) EXPECT_GE(rep->findings[i - 1].severity, rep->findings[i].severity);
}

TEST(RlsCheckConfig, MistakesAreUsageErrorsNamingBelayToml) {
  project::Config pc;
  pc.root = "/p";
  pc.rls.disable = {"no-such-check"};
  auto r = rls::check_config(pc);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ExitCode::usage);
  EXPECT_EQ(r.error().file, "/p/belay.toml");
  EXPECT_NE(r.error().message.find("no-such-check"), std::string::npos);
  EXPECT_NE(r.error().next.find("rls-disabled-in-exposed-schema"), std::string::npos);
  pc.rls.disable.clear();
  pc.rls.severity = {{"view-bypasses-rls", "fatal"}};
  r = rls::check_config(pc);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("\"fatal\""), std::string::npos);
  pc.rls.severity = {{"nope", "info"}};
  EXPECT_FALSE(rls::check_config(pc).ok());
}

TEST(RlsCheckConfig, BelayTomlRlsSectionIsStrict) {
  test::TempProject p("rlstoml");
  p.write("belay.toml", "[rls]\ndisable = [\"table-without-primary-key\"]\nignore = [\"public.x\"]\n"
                        "api_roles = [\"web_anon\", \"web_user\"]\nanon_role = \"web_anon\"\ncontract = \"sec/c.toml\"\n"
                        "[rls.severity]\nview-bypasses-rls = \"warning\"\n");
  auto cfg = project::load(p.dir());
  ASSERT_TRUE(cfg.ok()) << cfg.error().render();
  EXPECT_EQ(cfg->rls.disable, std::vector<std::string>{"table-without-primary-key"});
  EXPECT_EQ(cfg->rls.api_roles, (std::vector<std::string>{"web_anon", "web_user"}));
  EXPECT_EQ(cfg->rls.anon_role, "web_anon");
  EXPECT_EQ(cfg->rls.contract, "sec/c.toml");
  EXPECT_EQ(cfg->rls.severity.at("view-bypasses-rls"), "warning");
  p.write("belay.toml", "[rls]\nignores = [\"public.x\"]\n");
  auto bad = project::load(p.dir());
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("unknown key 'ignores' in [rls]"), std::string::npos) << bad.error().message;
  EXPECT_EQ(bad.error().line, 2);
  p.write("belay.toml", "[rls]\ndisable = \"all\"\n");
  bad = project::load(p.dir());
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("must be an array of strings"), std::string::npos) << bad.error().message;
}

}  // namespace
}  // namespace belay
