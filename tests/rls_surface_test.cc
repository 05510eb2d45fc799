// rls::surface_regressions: what got more exposed between two schema fingerprint models,
// captured from a real database before and after a migration's SQL.
#include <set>

#include <gtest/gtest.h>

#include "fingerprint/fingerprint.h"
#include "rls/rls.h"
#include "support.h"

namespace belay {
namespace {

using test::TestDb;

struct Change {
  std::vector<findings::Finding> found;
  std::string all;  // for failure messages
  std::set<std::string> rules_on(const std::string& object) const {
    std::set<std::string> out;
    for (auto& f : found)
      if (f.object == object) out.insert(f.rule);
    return out;
  }
  const findings::Finding* get(const std::string& rule, const std::string& object) const {
    for (auto& f : found)
      if (f.rule == rule && f.object == object) return &f;
    return nullptr;
  }
};

// Models of a database after `setup`, then after `migration` as well.
Change change(const std::string& setup, const std::string& migration, const char* flavor = "supabase") {
  TestDb db(flavor);
  auto c = db.connect();
  Change ch;
  if (!setup.empty()) {
    auto s = c.exec(setup);
    EXPECT_TRUE(s.ok()) << s.error().render();
  }
  auto before = fingerprint::capture(c);
  EXPECT_TRUE(before.ok());
  auto tracker = fingerprint::Tracker::start(c);
  EXPECT_TRUE(tracker.ok());
  auto s = c.exec(migration);
  EXPECT_TRUE(s.ok()) << s.error().render();
  auto after = fingerprint::capture(c);
  EXPECT_TRUE(after.ok());
  if (!before.ok() || !after.ok() || !tracker.ok()) return ch;
  ch.found = rls::surface_regressions(*before, *after);
  for (auto& f : ch.found) ch.all += f.rule + " " + f.object + ": " + f.message + "\n";
  // The tracked comparison (only the objects the change touched) finds exactly the same.
  auto u = tracker->update(c);
  EXPECT_TRUE(u.ok());
  std::string tracked;
  for (auto& f : rls::surface_regressions(*tracker)) tracked += f.rule + " " + f.object + ": " + f.message + "\n";
  EXPECT_EQ(tracked, ch.all);
  return ch;
}

const char* kNotes = R"SQL(
create table public.notes (id int primary key, owner uuid, body text);
alter table public.notes enable row level security;
create policy own on public.notes for select to authenticated using (owner = auth.uid());
create policy own_write on public.notes for update to authenticated using (owner = auth.uid()) with check (owner = auth.uid());
create policy not_archived on public.notes as restrictive for select to authenticated using (body <> 'archived');
)SQL";

TEST(RlsSurface, NoChangeNoFindings) {
  auto ch = change(kNotes, "create index on public.notes (owner); comment on table public.notes is 'x';");
  EXPECT_TRUE(ch.found.empty()) << ch.all;
}

TEST(RlsSurface, NewTableWithoutRlsIsOpenedToTheApiRoles) {
  // Supabase's default privileges grant the API roles everything on a new table.
  auto ch = change("", "create table public.leads (id int primary key, email text);");
  auto* f = ch.get("surface-table-exposed", "public.leads");
  ASSERT_TRUE(f) << ch.all;
  EXPECT_EQ(f->severity, findings::Severity::error);
  EXPECT_NE(f->message.find("is created opening every row"), std::string::npos) << f->message;
  EXPECT_NE(f->message.find("anon: DELETE, INSERT, SELECT, UPDATE"), std::string::npos) << f->message;
  EXPECT_NE(f->message.find("row level security is off"), std::string::npos) << f->message;
  // A new table with RLS and owner policies is not a regression.
  auto ok = change("", std::string(kNotes));
  EXPECT_TRUE(ok.rules_on("public.notes").empty()) << ok.all;
  // Nor a table in a schema the API does not serve.
  auto priv = change("create schema private;", "create table private.t (id int); grant select on private.t to anon;");
  EXPECT_TRUE(priv.found.empty()) << priv.all;
}

TEST(RlsSurface, GrantToAnonOnATableWithoutRls) {
  auto ch = change("create table public.t (id int); revoke all on public.t from anon, authenticated;",
                   "grant select on public.t to anon;");
  auto* f = ch.get("surface-table-exposed", "public.t");
  ASSERT_TRUE(f) << ch.all;
  EXPECT_NE(f->message.find("now opens every row to API roles (anon: SELECT)"), std::string::npos) << f->message;
  // PUBLIC counts for everyone; a column grant reaches rows too.
  auto pub = change("create table public.t (id int, secret text); revoke all on public.t from anon, authenticated;",
                    "grant select (id) on public.t to public;");
  ASSERT_TRUE(pub.get("surface-table-exposed", "public.t")) << pub.all;
  EXPECT_NE(pub.get("surface-table-exposed", "public.t")->message.find("PUBLIC: SELECT"), std::string::npos);
}

TEST(RlsSurface, RlsDisabled) {
  auto ch = change(kNotes, "alter table public.notes disable row level security;");
  EXPECT_EQ(ch.rules_on("public.notes"), (std::set<std::string>{"surface-rls-disabled", "surface-table-exposed"})) << ch.all;
}

TEST(RlsSurface, PoliciesLoosenedAddedChanged) {
  auto ch = change(kNotes, R"SQL(
    alter policy own on public.notes to authenticated, anon;
    drop policy not_archived on public.notes;
    create policy everyone on public.notes for select using (true);
    alter policy own_write on public.notes with check (true);
  )SQL");
  auto* own = ch.get("surface-policy-loosened", "public.notes.own");
  ASSERT_TRUE(own) << ch.all;
  EXPECT_NE(own->message.find("now applies to anon too"), std::string::npos) << own->message;
  auto* check = ch.get("surface-policy-loosened", "public.notes.own_write");
  ASSERT_TRUE(check) << ch.all;
  EXPECT_NE(check->message.find("WITH CHECK became true"), std::string::npos) << check->message;
  auto* dropped = ch.get("surface-policy-loosened", "public.notes.not_archived");
  ASSERT_TRUE(dropped) << ch.all;
  EXPECT_NE(dropped->message.find("restrictive policy not_archived on public.notes was dropped"), std::string::npos);
  ASSERT_TRUE(ch.get("surface-policy-added", "public.notes.everyone")) << ch.all;
  // "everyone" is `true` for PUBLIC on SELECT with the restrictive policy gone: every row.
  ASSERT_TRUE(ch.get("surface-table-exposed", "public.notes")) << ch.all;

  auto cmd = change(kNotes, "drop policy own on public.notes; create policy own on public.notes for all to authenticated "
                            "using (owner = auth.uid());");
  // Dropped and recreated under the same name: compared as one policy.
  auto* all = cmd.get("surface-policy-loosened", "public.notes.own");
  ASSERT_TRUE(all) << cmd.all;
  EXPECT_NE(all->message.find("command SELECT became ALL"), std::string::npos) << all->message;

  auto changed = change(kNotes, "alter policy own on public.notes using (owner = auth.uid() and body is not null);");
  auto* f = changed.get("surface-policy-changed", "public.notes.own");
  ASSERT_TRUE(f) << changed.all;
  EXPECT_EQ(f->severity, findings::Severity::info);

  auto lost = change(kNotes, "drop policy own_write on public.notes; create policy own_write on public.notes for update to "
                             "authenticated using (true);");
  auto* l = lost.get("surface-policy-loosened", "public.notes.own_write");
  ASSERT_TRUE(l) << lost.all;
  EXPECT_NE(l->message.find("USING became true"), std::string::npos) << l->message;
  EXPECT_NE(l->message.find("lost its WITH CHECK"), std::string::npos) << l->message;

  // Tightening is not reported.
  auto tight = change(kNotes, "alter policy own on public.notes to authenticated; drop policy own_write on public.notes;");
  EXPECT_TRUE(tight.found.empty()) << tight.all;
}

TEST(RlsSurface, ViewsThatStartBypassingRls) {
  auto ch = change(std::string(kNotes) + "create view public.v with (security_invoker = true) as select id from public.notes;",
                   "alter view public.v reset (security_invoker); create view public.w as select body from public.notes;"
                   "create materialized view public.m as select count(*) from public.notes;"
                   "create view public.internal as select id from public.notes; revoke all on public.internal from anon, authenticated;");
  EXPECT_EQ(ch.rules_on("public.v"), std::set<std::string>{"surface-view-bypasses-rls"}) << ch.all;
  EXPECT_EQ(ch.rules_on("public.w"), std::set<std::string>{"surface-view-bypasses-rls"}) << ch.all;
  EXPECT_EQ(ch.rules_on("public.m"), std::set<std::string>{"surface-view-bypasses-rls"}) << ch.all;
  EXPECT_TRUE(ch.rules_on("public.internal").empty()) << ch.all;
  EXPECT_NE(ch.get("surface-view-bypasses-rls", "public.m")->message.find("materialized view"), std::string::npos);
  auto fixed = change(std::string(kNotes) + "create view public.v as select id from public.notes;",
                      "alter view public.v set (security_invoker = true);");
  EXPECT_TRUE(fixed.found.empty()) << fixed.all;
}

TEST(RlsSurface, SecurityDefinerFunctionsTheApiCanCall) {
  auto ch = change("create function public.f() returns int language sql as $$ select 1 $$;"
                   "create function public.g() returns int language sql security definer as $$ select 1 $$;"
                   "revoke execute on function public.g() from public, anon, authenticated;",
                   "alter function public.f() security definer; grant execute on function public.g() to authenticated;"
                   "create function public.on_change() returns trigger language plpgsql security definer as $$ begin return new; end $$;");
  EXPECT_EQ(ch.rules_on("public.f()"), std::set<std::string>{"surface-definer-executable"}) << ch.all;
  EXPECT_EQ(ch.rules_on("public.g()"), std::set<std::string>{"surface-definer-executable"}) << ch.all;
  EXPECT_NE(ch.get("surface-definer-executable", "public.g()")->message.find("executable by authenticated"), std::string::npos);
  EXPECT_TRUE(ch.rules_on("public.on_change()").empty()) << ch.all;
}

TEST(RlsSurface, DefaultPrivilegesWidened) {
  auto ch = change("", "alter default privileges in schema public grant select on tables to public;", "postgres");
  auto* f = ch.get("surface-default-privileges", "postgres public tables");
  ASSERT_TRUE(f) << ch.all;
  EXPECT_NE(f->message.find("PUBLIC: SELECT"), std::string::npos) << f->message;
  auto narrowed = change("alter default privileges in schema public grant select, insert on tables to public;",
                         "alter default privileges in schema public revoke insert on tables from public;", "postgres");
  EXPECT_TRUE(narrowed.found.empty()) << narrowed.all;
}

}  // namespace
}  // namespace belay
