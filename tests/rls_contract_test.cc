// belay rls test: contract files (and every mistake in them), probes run the way PostgREST
// runs requests, denials recognised as PostgreSQL reports them, a missing WITH CHECK caught,
// nothing left behind, and --generate drafting a contract the same database passes.
#include <gtest/gtest.h>

#include "project/project.h"
#include "rls/rls.h"
#include "support.h"

namespace belay {
namespace {

using test::TestDb;

const char* kPersonas = R"TOML(
[personas.anon]
role = "anon"

[personas.alice]
role = "authenticated"
claims = { sub = "00000000-0000-0000-0000-00000000000a", email = "alice@example.com" }

[personas.bob]
role = "authenticated"
claims = { sub = "00000000-0000-0000-0000-00000000000b" }

[personas.service]
role = "service_role"

[[fixtures]]
table = "auth.users"
rows = [ { id = "00000000-0000-0000-0000-00000000000a", email = "alice@example.com" },
         { id = "00000000-0000-0000-0000-00000000000b", email = "bob@example.com" } ]
)TOML";

rls::Contract parse(const std::string& text) {
  auto c = rls::parse_contract(text, "contract.toml");
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().render());
  return c.ok() ? *c : rls::Contract{};
}

Error parse_error(const std::string& text) {
  auto c = rls::parse_contract(text, "contract.toml");
  EXPECT_FALSE(c.ok());
  return c.ok() ? Error{} : c.error();
}

rls::TestReport run(const TestDb& db, const std::string& text) {
  auto c = db.connect();
  auto rep = rls::run_contract(c, parse(text));
  EXPECT_TRUE(rep.ok()) << (rep.ok() ? "" : rep.error().render());
  return rep.ok() ? *rep : rls::TestReport{};
}

const rls::ProbeResult* result(const rls::TestReport& rep, const std::string& table, const std::string& persona,
                               rls::Command cmd) {
  for (auto& r : rep.results)
    if (r.table == table && r.persona == persona && r.command == cmd) return &r;
  return nullptr;
}

std::string mismatches(const rls::TestReport& rep) {
  std::string s;
  for (auto& r : rep.results)
    if (!r.ok)
      s += r.table + " " + rls::to_string(r.command) + " as " + r.persona + ": expected " + r.expected.text() + ", got " +
           r.actual + " " + r.detail + "\n";
  return s;
}

TEST(RlsContractParse, ReadsPersonasFixturesAndExpectations) {
  auto c = parse(std::string(kPersonas) + R"TOML(
[tables."public.notes"]
select = { anon = "denied", alice = "where owner = auth.uid()", service = " Allowed " }
delete = { bob = "WHERE owner = auth.uid() and id > 1" }
)TOML");
  ASSERT_EQ(c.personas.size(), 4u);
  EXPECT_EQ(c.personas[1].claims["sub"], "00000000-0000-0000-0000-00000000000a");
  EXPECT_EQ(c.personas[1].claims["role"], "authenticated");  // filled in from the role
  EXPECT_EQ(c.personas[0].claims.dump(), R"({"role":"anon"})");
  ASSERT_EQ(c.fixtures.size(), 1u);
  EXPECT_EQ(c.fixtures[0].rows.size(), 2u);
  EXPECT_EQ(c.fixtures[0].lines[1], 19);
  ASSERT_EQ(c.tables.size(), 1u);
  auto& sel = c.tables[0].expect[rls::Command::select];
  EXPECT_EQ(sel["anon"].kind, rls::Expectation::denied);
  EXPECT_EQ(sel["alice"].kind, rls::Expectation::only);
  EXPECT_EQ(sel["alice"].predicate, "owner = auth.uid()");
  EXPECT_EQ(sel["service"].kind, rls::Expectation::allowed);
  EXPECT_EQ(c.tables[0].expect[rls::Command::delete_]["bob"].predicate, "owner = auth.uid() and id > 1");
  EXPECT_EQ(sel["alice"].line, 22);
}

TEST(RlsContractParse, EveryMistakeNamesItsLineAndColumn) {
  auto e = parse_error("[personas.anon\nrole = 1");
  EXPECT_EQ(e.code, ExitCode::usage);
  EXPECT_EQ(e.file, "contract.toml");
  EXPECT_EQ(e.line, 1);

  e = parse_error(std::string(kPersonas) + "[tables.\"public.t\"]\nselect = { mallory = \"denied\" }\n");
  EXPECT_NE(e.message.find("unknown persona 'mallory'"), std::string::npos) << e.message;
  EXPECT_EQ(e.line, 21);
  EXPECT_GT(e.column, 1);

  e = parse_error(std::string(kPersonas) + "[tables.\"public.t\"]\nselect = { anon = \"nope\" }\n");
  EXPECT_NE(e.message.find("\"allowed\", \"denied\" or \"where <predicate>\""), std::string::npos) << e.message;
  EXPECT_EQ(e.line, 21);

  e = parse_error(std::string(kPersonas) + "[tables.\"public.t\"]\nselect = { anon = \"where   \" }\n");
  EXPECT_NE(e.message.find("needs a predicate"), std::string::npos) << e.message;

  e = parse_error(std::string(kPersonas) + "[tables.\"public.t\"]\nupsert = { anon = \"denied\" }\n");
  EXPECT_NE(e.message.find("unknown key 'upsert'"), std::string::npos) << e.message;
  EXPECT_EQ(e.line, 21);

  e = parse_error(std::string(kPersonas) + "[tables.\"public.t\"]\nselect = { anon = true }\n");
  EXPECT_NE(e.message.find("an expectation is"), std::string::npos) << e.message;

  e = parse_error("[personas.anon]\nrole = \"anon\"\nclaims = \"sub\"\n[tables.\"public.t\"]\nselect = { anon = \"denied\" }\n");
  EXPECT_NE(e.message.find("claims must be a table"), std::string::npos) << e.message;
  EXPECT_EQ(e.line, 3);

  e = parse_error("[personas.anon]\nrole = \"anon\"\n[[fixtures]]\ntable = \"public.t\"\n[tables.\"public.t\"]\nselect = { anon = \"denied\" }\n");
  EXPECT_NE(e.message.find("needs rows = ["), std::string::npos) << e.message;

  e = parse_error("[personas.anon]\nrole = \"anon\"\n[[fixtures]]\ntable = \"public.t\"\nrows = [ {} ]\n");
  EXPECT_NE(e.message.find("at least one column"), std::string::npos) << e.message;
  EXPECT_EQ(e.line, 5);

  e = parse_error("[personas.anon]\nrole = \"anon\"\n");
  EXPECT_NE(e.message.find("no expectations"), std::string::npos) << e.message;
  e = parse_error("[tables.\"public.t\"]\nselect = {}\n");
  EXPECT_NE(e.message.find("no persona"), std::string::npos) << e.message;
  e = parse_error("personas = 3\n");
  EXPECT_NE(e.message.find("personas must be a table"), std::string::npos) << e.message;
  e = parse_error("[persona.anon]\nrole = \"anon\"\n");
  EXPECT_NE(e.message.find("unknown key 'persona'"), std::string::npos) << e.message;

  auto missing = rls::load_contract("/nonexistent/contract.toml");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ExitCode::usage);
  EXPECT_NE(missing.error().next.find("--generate"), std::string::npos);
}

// Teams: a member reads the documents of their org. The update policy on members has no WITH
// CHECK, so PostgreSQL checks the new row against USING (user_id = auth.uid()) only: alice can
// move herself into bob's org and then read bob's documents.
const char* kTeams = R"SQL(
create table public.members (user_id uuid primary key references auth.users (id), org_id int not null, display_name text);
create table public.docs (id int primary key, org_id int not null, body text);
create index on public.docs (org_id);
alter table public.members enable row level security;
alter table public.docs enable row level security;
create policy m_sel on public.members for select to authenticated using (user_id = auth.uid());
create policy d_sel on public.docs for select to authenticated
  using (org_id = (select m.org_id from public.members m where m.user_id = auth.uid()));
)SQL";

const char* kLeakyUpdate =
    "create policy m_upd on public.members for update to authenticated using (user_id = auth.uid());";
const char* kFixedUpdate =
    "create policy m_upd on public.members for update to authenticated using (user_id = auth.uid()) "
    "with check (user_id = auth.uid() and org_id = (select m.org_id from public.members m where m.user_id = auth.uid()));";

const char* kTeamsContract = R"TOML(
[[fixtures]]
table = "public.members"
rows = [ { user_id = "00000000-0000-0000-0000-00000000000a", org_id = 1, display_name = "Alice" },
         { user_id = "00000000-0000-0000-0000-00000000000b", org_id = 2, display_name = "Bob" } ]

[[fixtures]]
table = "public.docs"
rows = [ { id = 1, org_id = 1, body = "alice's plan" }, { id = 2, org_id = 2, body = "bob's plan" } ]

[tables."public.members"]
select = { anon = "denied", alice = "where user_id = auth.uid()", service = "allowed" }
update = { anon = "denied", alice = "where user_id = auth.uid() and org_id = 1", bob = "where user_id = auth.uid() and org_id = 2" }

[tables."public.docs"]
select = { anon = "denied", alice = "where org_id = 1", bob = "where org_id = 2", service = "allowed" }
)TOML";

TEST(RlsContract, MissingWithCheckOnUpdateFailsTheContract) {
  TestDb db("supabase");
  ASSERT_TRUE(db.connect().exec(std::string(kTeams) + kLeakyUpdate).ok());
  auto rep = run(db, std::string(kPersonas) + kTeamsContract);
  EXPECT_EQ(rep.mismatches, 2) << mismatches(rep);
  auto* r = result(rep, "public.members", "alice", rls::Command::update);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->ok);
  EXPECT_EQ(r->actual, "updates 1 of 2 rows: user_id=00000000-0000-0000-0000-00000000000a");
  EXPECT_NE(r->detail.find("set org_id of user_id=00000000-0000-0000-0000-00000000000a to '2'"), std::string::npos)
      << r->detail;
  EXPECT_NE(r->detail.find("WITH CHECK"), std::string::npos);
  // Mismatches come first.
  EXPECT_FALSE(rep.results[0].ok);
  EXPECT_FALSE(rep.results[1].ok);
  // The rest holds: reads are isolated as long as nobody moves.
  EXPECT_TRUE(result(rep, "public.docs", "alice", rls::Command::select)->ok);

  // The leak is real: after the move alice reads bob's plan.
  auto c = db.connect();
  auto leak = c.exec_last(R"SQL(
    begin;
    insert into auth.users (id) values ('00000000-0000-0000-0000-00000000000a'), ('00000000-0000-0000-0000-00000000000b');
    insert into public.members values ('00000000-0000-0000-0000-00000000000a', 1, 'A'), ('00000000-0000-0000-0000-00000000000b', 2, 'B');
    insert into public.docs values (1, 1, 'alice''s plan'), (2, 2, 'bob''s plan');
    select set_config('role', 'authenticated', true), set_config('request.jwt.claims', '{"sub": "00000000-0000-0000-0000-00000000000a"}', true);
    update public.members set org_id = 2 where user_id = auth.uid();
    select string_agg(body, ', ') from public.docs;
  )SQL");
  ASSERT_TRUE(leak.ok()) << leak.error().render();
  EXPECT_EQ(leak->get(0, 0), "bob's plan");
  c.exec("rollback").ok();
}

TEST(RlsContract, FixedSchemaPassesTheSameContract) {
  TestDb db("supabase");
  ASSERT_TRUE(db.connect().exec(std::string(kTeams) + kFixedUpdate).ok());
  auto rep = run(db, std::string(kPersonas) + kTeamsContract);
  EXPECT_EQ(rep.mismatches, 0) << mismatches(rep);
  EXPECT_EQ(rep.results.size(), 10u);
  auto* r = result(rep, "public.members", "alice", rls::Command::update);
  EXPECT_EQ(r->actual, "updates 1 of 2 rows: user_id=00000000-0000-0000-0000-00000000000a");
  EXPECT_EQ(result(rep, "public.members", "anon", rls::Command::update)->actual, "denied (updates 0 of 2 rows)");
  EXPECT_EQ(result(rep, "public.members", "service", rls::Command::select)->actual, "allowed (sees all 2 rows)");
}

// One table, every command, every kind of expectation and the ways PostgreSQL says no.
const char* kNotes = R"SQL(
create table public.notes (id int primary key, owner uuid references auth.users (id), body text,
                           tags text[] default '{}', meta jsonb default '{}');
alter table public.notes enable row level security;
create policy sel on public.notes for select to authenticated using (owner = auth.uid());
create policy ins on public.notes for insert to authenticated with check (owner = auth.uid());
create policy upd on public.notes for update to authenticated using (owner = auth.uid()) with check (owner = auth.uid());
create policy del on public.notes for delete to authenticated using (owner = auth.uid());
revoke all on public.notes from anon;
create table public.comments (id int primary key, note_id int not null references public.notes (id), body text);
create index on public.comments (note_id);
alter table public.comments enable row level security;
create policy sel on public.comments for select using (true);
)SQL";

const char* kNotesFixtures = R"TOML(
[[fixtures]]
table = "public.notes"
rows = [ { id = 1, owner = "00000000-0000-0000-0000-00000000000a", body = "a1", tags = ["x", "y \"q\""], meta = { k = 1 } },
         { id = 2, owner = "00000000-0000-0000-0000-00000000000a", body = "a2" },
         { id = 3, owner = "00000000-0000-0000-0000-00000000000b", body = "b1" } ]

[[fixtures]]
table = "public.comments"
rows = [ { id = 1, note_id = 3, body = "on bob's note" } ]
)TOML";

TEST(RlsContract, AllowedDeniedAndWhereAcrossCommands) {
  TestDb db("supabase");
  ASSERT_TRUE(db.connect().exec(kNotes).ok());
  auto rep = run(db, std::string(kPersonas) + kNotesFixtures + R"TOML(
[tables."public.notes"]
select = { anon = "denied", alice = "where owner = auth.uid()", bob = "where id = 3", service = "allowed" }
insert = { anon = "denied", alice = "where owner = auth.uid()", service = "allowed" }
update = { anon = "denied", alice = "where owner = auth.uid()", service = "allowed" }
delete = { anon = "denied", alice = "where owner = auth.uid()", bob = "where owner = auth.uid()", service = "allowed" }

[tables."public.comments"]
select = { anon = "allowed", alice = "allowed" }
insert = { alice = "denied" }
)TOML");
  EXPECT_EQ(rep.mismatches, 0) << mismatches(rep);
  // Denials as PostgreSQL reports them: a privilege error, a WITH CHECK violation, no rows.
  EXPECT_EQ(result(rep, "public.notes", "anon", rls::Command::select)->actual,
            "denied (42501: permission denied for table notes)");
  EXPECT_EQ(result(rep, "public.comments", "alice", rls::Command::insert)->actual,
            "denied (42501: new row violates row-level security policy for table \"comments\")");
  EXPECT_EQ(result(rep, "public.notes", "alice", rls::Command::insert)->actual, "inserts 2 of 3 fixture rows: id=1, id=2");
  EXPECT_EQ(result(rep, "public.notes", "alice", rls::Command::delete_)->actual, "deletes 2 of 3 rows: id=1, id=2");
  // Bob's note has a comment: deleting every row at once is refused by the foreign key, so
  // rows are tried one by one and the refusal for his own note is reported as what it is.
  auto* bob = result(rep, "public.notes", "bob", rls::Command::delete_);
  EXPECT_NE(bob->note.find("row by row"), std::string::npos) << bob->note;
  EXPECT_TRUE(bob->ok) << bob->actual << " " << bob->detail;
  EXPECT_GT(rep.probes, 20);
  EXPECT_GT(rep.statements, rep.probes);
}

TEST(RlsContract, MismatchesSayWhichRowsDiffer) {
  TestDb db("supabase");
  ASSERT_TRUE(db.connect().exec(std::string(kNotes) + "create policy sel_all on public.notes for select to authenticated "
                                                      "using (id < 3);")
                  .ok());
  auto rep = run(db, std::string(kPersonas) + kNotesFixtures + R"TOML(
[tables."public.notes"]
select = { alice = "where owner = auth.uid()", bob = "where owner = auth.uid()", service = "denied" }
insert = { alice = "allowed" }
)TOML");
  EXPECT_EQ(rep.mismatches, 3) << mismatches(rep);
  // The OR'd policy lets bob see alice's notes.
  auto* bob = result(rep, "public.notes", "bob", rls::Command::select);
  EXPECT_FALSE(bob->ok);
  EXPECT_EQ(bob->detail, "sees rows it must not: id=1, id=2");
  auto* svc = result(rep, "public.notes", "service", rls::Command::select);
  EXPECT_EQ(svc->detail, "sees rows it must not: id=1, id=2, id=3");
  auto* ins = result(rep, "public.notes", "alice", rls::Command::insert);
  EXPECT_EQ(ins->detail, "cannot insert rows it should: id=3");
  EXPECT_TRUE(result(rep, "public.notes", "alice", rls::Command::select)->ok);
}

TEST(RlsContract, NothingPersistsAndTheSessionIsLeftClean) {
  TestDb db("supabase");
  ASSERT_TRUE(db.connect().exec(kNotes).ok());
  auto c = db.connect();
  auto contract = parse(std::string(kPersonas) + kNotesFixtures + R"TOML(
[tables."public.notes"]
delete = { service = "allowed" }
update = { service = "allowed" }
insert = { service = "allowed" }
)TOML");
  rls::TestOptions opt;
  opt.keep_script = true;
  auto rep = rls::run_contract(c, contract, opt);
  ASSERT_TRUE(rep.ok()) << rep.error().render();
  EXPECT_EQ(rep->mismatches, 0) << mismatches(*rep);
  auto after = c.exec_last("select (select count(*) from public.notes) + (select count(*) from auth.users) || ' ' || "
                           "current_user || ' ' || current_setting('row_security') || ' ' || "
                           "coalesce(nullif(current_setting('request.jwt.claims', true), ''), '-')");
  ASSERT_TRUE(after.ok()) << after.error().render();
  EXPECT_EQ(after->get(0, 0), "0 postgres on -");
  EXPECT_EQ(rep->script.rfind("begin;\n", 0), 0u);
  EXPECT_EQ(rep->script.substr(rep->script.size() - 10), "rollback;\n");
  EXPECT_NE(rep->script.find("set_config('role', 'service_role', true)"), std::string::npos);
}

TEST(RlsContract, ProblemsWithTheContractNameItsLine) {
  TestDb db("supabase");
  ASSERT_TRUE(db.connect().exec(kNotes).ok());
  auto c = db.connect();
  auto err = [&](const std::string& text) {
    auto rep = rls::run_contract(c, parse(text));
    EXPECT_FALSE(rep.ok());
    return rep.ok() ? Error{} : rep.error();
  };
  auto e = err(std::string(kPersonas) + "[tables.\"public.nope\"]\nselect = { anon = \"denied\" }\n");
  EXPECT_EQ(e.code, ExitCode::usage);
  EXPECT_NE(e.message.find("table public.nope does not exist"), std::string::npos) << e.message;
  EXPECT_EQ(e.line, 20);
  e = err("[personas.x]\nrole = \"no_such_role\"\n[tables.\"public.notes\"]\nselect = { x = \"denied\" }\n");
  EXPECT_NE(e.message.find("role 'no_such_role' does not exist"), std::string::npos) << e.message;
  EXPECT_EQ(e.line, 1);
  e = err(std::string(kPersonas) +
          "[[fixtures]]\ntable = \"public.notes\"\nrows = [ { id = 1, colour = \"red\" } ]\n"
          "[tables.\"public.notes\"]\nselect = { anon = \"denied\" }\n");
  EXPECT_NE(e.message.find("no column 'colour'"), std::string::npos) << e.message;
  EXPECT_EQ(e.line, 22);
  e = err(std::string(kPersonas) +
          "[[fixtures]]\ntable = \"public.notes\"\nrows = [ { id = 1, owner = \"00000000-0000-0000-0000-0000000000ff\" } ]\n"
          "[tables.\"public.notes\"]\nselect = { anon = \"denied\" }\n");
  EXPECT_NE(e.message.find("fixture row for public.notes does not insert: 23503"), std::string::npos) << e.message;
  EXPECT_EQ(e.line, 22);
  e = err(std::string(kPersonas) + kNotesFixtures + "[tables.\"public.notes\"]\nselect = { alice = \"where colour = 'red'\" }\n");
  EXPECT_NE(e.message.find("the predicate for select public.notes as alice does not run: 42703"), std::string::npos)
      << e.message;
  EXPECT_EQ(e.line, 31);
  EXPECT_GT(e.column, 1);
  // The session is usable afterwards: no transaction left open.
  auto ok = c.query("select 1");
  EXPECT_TRUE(ok.ok());
  EXPECT_EQ(db.scalar("select count(*) from public.notes"), "0");
}

TEST(RlsContract, ATableWithoutRowsCannotBeTold) {
  TestDb db("supabase");
  ASSERT_TRUE(db.connect().exec(kNotes).ok());
  auto rep = run(db, std::string(kPersonas) + "[tables.\"public.notes\"]\nselect = { anon = \"denied\" }\n"
                                              "insert = { alice = \"allowed\" }\n");
  EXPECT_EQ(rep.mismatches, 2);
  EXPECT_EQ(result(rep, "public.notes", "anon", rls::Command::select)->actual, "cannot tell");
  EXPECT_NE(result(rep, "public.notes", "anon", rls::Command::select)->detail.find("add [[fixtures]]"), std::string::npos);
}

TEST(RlsContract, ViewsAreProbedForSelectOnly) {
  TestDb db("supabase");
  ASSERT_TRUE(db.connect().exec(std::string(kNotes) + "create view public.all_notes as select id, body from public.notes;"
                                                      "create view public.my_notes with (security_invoker = true) as "
                                                      "select id, body from public.notes;")
                  .ok());
  auto rep = run(db, std::string(kPersonas) + kNotesFixtures + R"TOML(
[tables."public.all_notes"]
select = { bob = "where id = 3" }
[tables."public.my_notes"]
select = { bob = "where id = 3" }
)TOML");
  EXPECT_EQ(rep.mismatches, 1) << mismatches(rep);
  // The definer view shows bob every note; the invoker view applies the table's policy.
  EXPECT_FALSE(result(rep, "public.all_notes", "bob", rls::Command::select)->ok);
  EXPECT_TRUE(result(rep, "public.my_notes", "bob", rls::Command::select)->ok);
  auto c = db.connect();
  auto bad = rls::run_contract(c, parse(std::string(kPersonas) + "[tables.\"public.all_notes\"]\nupdate = { bob = \"denied\" }\n"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("only select is probed on views"), std::string::npos);
}

TEST(RlsContractGenerate, DraftStatesTodaysPoliciesAndTheSameDatabasePassesIt) {
  TestDb db("supabase");
  auto c = db.connect();
  ASSERT_TRUE(c.exec(std::string(kNotes) + R"SQL(
    insert into auth.users (id) values ('00000000-0000-4000-8000-00000000000a'), ('00000000-0000-4000-8000-00000000000b');
    create table public.open (id int primary key);
    insert into public.open values (1), (2);
    create policy team on public.notes as restrictive for select to authenticated using (body <> 'hidden');
  )SQL").ok());
  project::Config pc;
  pc.flavor = "supabase";
  auto text = rls::generate_contract(c, *rls::check_config(pc));
  ASSERT_TRUE(text.ok()) << text.error().render();
  EXPECT_NE(text->find("[personas.user_a]\nrole = \"authenticated\"\nclaims = { sub = \"00000000-0000-4000-8000-00000000000a\""),
            std::string::npos)
      << *text;
  EXPECT_NE(text->find("[personas.service_role]"), std::string::npos);
  EXPECT_NE(text->find("[tables.\"public.notes\"]"), std::string::npos);
  EXPECT_NE(text->find("select = { anon = \"denied\", user_a = \"where (owner = auth.uid()) and (body <> 'hidden'::text)\""),
            std::string::npos)
      << *text;
  EXPECT_NE(text->find("# table = \"public.notes\""), std::string::npos);
  EXPECT_NE(text->find("update as authenticated: rows must also satisfy WITH CHECK (owner = auth.uid())"), std::string::npos);
  EXPECT_NE(text->find("select = { anon = \"allowed\""), std::string::npos) << *text;  // public.open: RLS off
  // Update and delete name rows with a filter (as PostgREST does): the SELECT policies apply.
  EXPECT_NE(text->find("delete = { anon = \"denied\", user_a = \"where (owner = auth.uid()) and ((owner = auth.uid()) and "
                       "(body <> 'hidden'::text))\""),
            std::string::npos)
      << *text;
  // The draft's fixtures are for a human to fill in; filled in, the same database passes it.
  auto contract = parse(*text + R"TOML(
[[fixtures]]
table = "public.notes"
rows = [ { id = 1, owner = "00000000-0000-4000-8000-00000000000a", body = "a" },
         { id = 2, owner = "00000000-0000-4000-8000-00000000000b", body = "hidden" },
         { id = 3, owner = "00000000-0000-4000-8000-00000000000b", body = "b" } ]
[[fixtures]]
table = "public.comments"
rows = [ { id = 1, note_id = 1, body = "c" } ]
[[fixtures]]
table = "public.open"
rows = [ { id = 3 } ]
)TOML");
  auto rep = rls::run_contract(c, contract);
  ASSERT_TRUE(rep.ok()) << rep.error().render();
  EXPECT_EQ(rep->mismatches, 0) << mismatches(*rep);
  EXPECT_EQ(db.scalar("select count(*) from public.open"), "2");  // the probes changed nothing
}

TEST(RlsContractGenerate, NoApiRolesIsAUsageError) {
  TestDb db;
  auto c = db.connect();
  auto text = rls::generate_contract(c, rls::CheckConfig{});
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.error().code, ExitCode::usage);
  EXPECT_NE(text.error().next.find("flavor = \"supabase\""), std::string::npos);
}

}  // namespace
}  // namespace belay
