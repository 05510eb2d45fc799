// The flag store against a real database: install, changes and their audit, the kill
// switch, rollouts, workspace overrides, imports of the seeds' tables and of Unleash JSON,
// exports, and the in-database functions answering like the C++ evaluator.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "flags/flags.h"
#include "flagstore/flagstore.h"
#include "support.h"

namespace belay {
namespace {

using nlohmann::json;

const flagstore::Change kWho{"alice", "testing"};

flagstore::NewFlag named(const std::string& name) {
  flagstore::NewFlag f;
  f.name = name;
  return f;
}

struct Store {
  test::TestDb db;
  pg::Conn conn = db.connect();
  Store() { EXPECT_TRUE(flagstore::install(conn).ok()); }

  flags::Snapshot snap(const std::string& env = "production") {
    auto l = flagstore::load(conn, env);
    EXPECT_TRUE(l.ok()) << (l.ok() ? "" : l.error().render());
    return l.ok() ? l->snapshot : flags::Snapshot();
  }
  flags::Evaluation eval(const std::string& name, const flags::Context& ctx, const std::string& env = "production") {
    keep_ = snap(env);
    return flags::variant(keep_, name, ctx);
  }
  // belay.flag_variant() in the database for the same flag and context.
  json sql_eval(const std::string& name, const json& ctx, const std::string& env = "production") {
    auto r = conn.query("select belay.flag_variant($1, $2::jsonb, $3)::text", {name, ctx.dump(), env});
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().render());
    return r.ok() ? json::parse(r->get(0, 0)) : json();
  }
  std::string scalar(const std::string& sql) { return db.scalar(sql); }

 private:
  flags::Snapshot keep_;
};

flags::Context user(const std::string& id, const std::string& workspace = "") {
  flags::Context c;
  c.user_id = id;
  if (!workspace.empty()) c.properties["workspace"] = workspace;
  return c;
}

TEST(FlagStore, InstallIsIdempotentAndCheapWhenCurrent) {
  Store s;
  EXPECT_TRUE(flagstore::install(s.conn).ok());
  EXPECT_EQ(s.scalar("select count(*) from belay.flag_snapshots"), "1");
  EXPECT_EQ(s.scalar("select environment from belay.flag_snapshots"), "production");
  // A store from another build (another version) is upgraded in place, data kept.
  ASSERT_TRUE(flagstore::create(s.conn, named("keep.me"), "production", kWho).ok());
  ASSERT_TRUE(s.conn.exec("create or replace function belay.flag_store_version() returns text language sql as $$ select 'old' $$").ok());
  EXPECT_TRUE(flagstore::install(s.conn).ok());
  EXPECT_NE(s.scalar("select belay.flag_store_version()"), "old");
  EXPECT_EQ(s.scalar("select count(*) from belay.flags"), "1");
}

TEST(FlagStore, CreateEnableDisableIsTheKillSwitch) {
  Store s;
  ASSERT_TRUE(flagstore::create(s.conn, {"new-checkout", "the new checkout", "release", false, 100}, "production", kWho).ok());
  auto e = s.eval("new-checkout", user("1"));
  EXPECT_FALSE(e.enabled);
  EXPECT_EQ(e.reason, flags::Reason::disabled);
  ASSERT_TRUE(flagstore::set_enabled(s.conn, "new-checkout", "production", true, kWho).ok());
  e = s.eval("new-checkout", user("1"));
  EXPECT_TRUE(e.enabled);
  ASSERT_TRUE(flagstore::set_enabled(s.conn, "new-checkout", "production", false, {"bob", "incident 42"}).ok());
  EXPECT_FALSE(s.eval("new-checkout", user("1")).enabled);
  // Environments are separate: staging never saw the flag switched on.
  ASSERT_TRUE(flagstore::set_enabled(s.conn, "new-checkout", "staging", true, kWho).ok());
  EXPECT_TRUE(s.eval("new-checkout", user("1"), "staging").enabled);  // no strategy there: on for all
  EXPECT_FALSE(s.eval("new-checkout", user("1"), "production").enabled);

  auto dup = flagstore::create(s.conn, named("new-checkout"), "production", kWho);
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, ExitCode::usage);
  EXPECT_NE(dup.error().message.find("exists already"), std::string::npos);
  auto bad = flagstore::create(s.conn, named("has space"), "production", kWho);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("not valid"), std::string::npos);
  auto missing = flagstore::set_enabled(s.conn, "nope", "production", true, kWho);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("no flag named \"nope\""), std::string::npos);
}

TEST(FlagStore, RolloutBucketsUsersAsUnleashDoes) {
  Store s;
  ASSERT_TRUE(flagstore::create(s.conn, {"persistence_v2", "", "release", true, 5}, "production", kWho).ok());
  auto snap = s.snap();
  int on = 0;
  for (int i = 0; i < 2000; ++i) {
    auto id = std::to_string(i);
    bool want = flags::strategy_bucket("persistence_v2", id) <= 5;
    EXPECT_EQ(flags::is_enabled(snap, "persistence_v2", user(id)).enabled, want) << id;
    on += want;
  }
  EXPECT_GT(on, 50);
  EXPECT_LT(on, 160);
  // Walked to 100 by hand in seed 004; here one call each, and one strategy throughout.
  ASSERT_TRUE(flagstore::set_rollout(s.conn, "persistence_v2", "production", 25, kWho).ok());
  EXPECT_EQ(s.eval("persistence_v2", user("17")).enabled, flags::strategy_bucket("persistence_v2", "17") <= 25);
  EXPECT_EQ(s.eval("persistence_v2", user("17")).reason, flags::strategy_bucket("persistence_v2", "17") <= 25
                                                             ? flags::Reason::split : flags::Reason::default_);
  ASSERT_TRUE(flagstore::set_rollout(s.conn, "persistence_v2", "production", 100, kWho).ok());
  EXPECT_EQ(s.scalar("select count(*) from belay.flag_strategies"), "1");
  EXPECT_TRUE(s.eval("persistence_v2", user("17")).enabled);
  EXPECT_EQ(s.eval("persistence_v2", user("17")).reason, flags::Reason::static_);  // 100% of everyone
  // A flag created without strategy gets one; a second flexibleRollout makes it ambiguous.
  ASSERT_TRUE(flagstore::create(s.conn, {"bare", "", "release", true, std::nullopt}, "production", kWho).ok());
  ASSERT_TRUE(flagstore::set_rollout(s.conn, "bare", "production", 0, kWho).ok());
  EXPECT_FALSE(s.eval("bare", user("1")).enabled);
  ASSERT_TRUE(s.conn.exec("insert into belay.flag_strategies (flag, environment, name, parameters) values "
                          "('bare', 'production', 'flexibleRollout', '{\"rollout\": \"50\"}')").ok());
  auto amb = flagstore::set_rollout(s.conn, "bare", "production", 10, kWho);
  ASSERT_FALSE(amb.ok());
  EXPECT_EQ(amb.error().code, ExitCode::refused);
  EXPECT_FALSE(flagstore::set_rollout(s.conn, "bare", "production", 101, kWho).ok());
}

TEST(FlagStore, WorkspaceOverridesOnForBetaOffForOne) {
  Store s;
  // Seed 000: docs.canvas-mode off by default, on for beta workspaces.
  ASSERT_TRUE(flagstore::create(s.conn, {"docs.canvas-mode", "", "release", true, 0}, "production", kWho).ok());
  ASSERT_TRUE(flagstore::set_override(s.conn, "docs.canvas-mode", "production", "beta-1", true, kWho).ok());
  ASSERT_TRUE(flagstore::set_override(s.conn, "docs.canvas-mode", "production", "beta-2", true, kWho).ok());
  EXPECT_TRUE(s.eval("docs.canvas-mode", user("u", "beta-1")).enabled);
  EXPECT_EQ(s.eval("docs.canvas-mode", user("u", "beta-1")).reason, flags::Reason::targeting_match);
  EXPECT_TRUE(s.eval("docs.canvas-mode", user("u", "beta-2")).enabled);
  EXPECT_FALSE(s.eval("docs.canvas-mode", user("u", "acme")).enabled);
  EXPECT_FALSE(s.eval("docs.canvas-mode", user("u")).enabled);
  // Killed with one call, beta included.
  ASSERT_TRUE(flagstore::set_enabled(s.conn, "docs.canvas-mode", "production", false, kWho).ok());
  EXPECT_FALSE(s.eval("docs.canvas-mode", user("u", "beta-1")).enabled);
  ASSERT_TRUE(flagstore::set_enabled(s.conn, "docs.canvas-mode", "production", true, kWho).ok());
  // Off for one workspace while everyone else is at 100%.
  ASSERT_TRUE(flagstore::set_rollout(s.conn, "docs.canvas-mode", "production", 100, kWho).ok());
  ASSERT_TRUE(flagstore::set_override(s.conn, "docs.canvas-mode", "production", "acme", false, kWho).ok());
  EXPECT_FALSE(s.eval("docs.canvas-mode", user("u", "acme")).enabled);
  EXPECT_TRUE(s.eval("docs.canvas-mode", user("u", "other")).enabled);
  EXPECT_TRUE(s.eval("docs.canvas-mode", user("u", "beta-1")).enabled);
  ASSERT_TRUE(flagstore::set_override(s.conn, "docs.canvas-mode", "production", "acme", std::nullopt, kWho).ok());
  EXPECT_TRUE(s.eval("docs.canvas-mode", user("u", "acme")).enabled);
  EXPECT_FALSE(flagstore::set_override(s.conn, "docs.canvas-mode", "production", "acme", std::nullopt, kWho).ok());
  // A flag with no strategy (on for all) keeps that meaning with an off-override.
  ASSERT_TRUE(flagstore::create(s.conn, {"all", "", "release", true, std::nullopt}, "production", kWho).ok());
  ASSERT_TRUE(flagstore::set_override(s.conn, "all", "production", "acme", false, kWho).ok());
  EXPECT_TRUE(s.eval("all", user("u", "x")).enabled);
  EXPECT_TRUE(s.eval("all", user("u")).enabled);
  EXPECT_FALSE(s.eval("all", user("u", "acme")).enabled);
}

TEST(FlagStore, EveryChangeIsAuditedAndTheLogIsAppendOnly) {
  Store s;
  ASSERT_TRUE(flagstore::create(s.conn, {"f1", "", "release", false, 10}, "production", kWho).ok());
  ASSERT_TRUE(flagstore::set_enabled(s.conn, "f1", "production", true, {"bob", "go live"}).ok());
  ASSERT_TRUE(flagstore::set_rollout(s.conn, "f1", "production", 50, {"carol", ""}).ok());
  // Plain SQL is audited too, as the session user, and reaches the snapshot.
  ASSERT_TRUE(s.conn.exec("update belay.flag_states set enabled = false where flag = 'f1'").ok());
  EXPECT_FALSE(s.eval("f1", user("1")).enabled);
  auto h = flagstore::history(s.conn, "f1");
  ASSERT_TRUE(h.ok());
  ASSERT_EQ(h->size(), 6u);  // flag, state, strategy inserted; state updated; strategy updated; state by SQL
  EXPECT_EQ((*h)[0].entity, "flags");
  EXPECT_EQ((*h)[0].actor, "alice");
  EXPECT_EQ((*h)[0].reason, "testing");
  EXPECT_EQ((*h)[0].action, "insert");
  EXPECT_TRUE((*h)[0].before.is_null());
  auto& on = (*h)[3];
  EXPECT_EQ(on.entity, "states");
  EXPECT_EQ(on.actor, "bob");
  EXPECT_EQ(on.reason, "go live");
  EXPECT_EQ(on.before["enabled"], false);
  EXPECT_EQ(on.after["enabled"], true);
  auto& roll = (*h)[4];
  EXPECT_EQ(roll.entity, "strategies");
  EXPECT_EQ(roll.before["parameters"]["rollout"], "10");
  EXPECT_EQ(roll.after["parameters"]["rollout"], "50");
  EXPECT_TRUE(roll.reason.empty());
  auto all = s.scalar("select count(*) from belay.flag_audit where flag = 'f1'");
  EXPECT_EQ(all, "6");
  EXPECT_EQ(s.scalar("select actor = session_user from belay.flag_audit order by id desc limit 1"), "t");
  EXPECT_FALSE(s.conn.exec("update belay.flag_audit set actor = 'mallory'").ok());
  EXPECT_FALSE(s.conn.exec("delete from belay.flag_audit").ok());
  EXPECT_FALSE(s.conn.exec("truncate belay.flag_audit").ok());
  EXPECT_EQ(s.scalar("select count(*) from belay.flag_audit where actor = 'mallory'"), "0");
}

TEST(FlagStore, OneSnapshotRevisionPerTransactionAndANotification) {
  Store s;
  auto rev = [&] { return std::stoll(s.scalar("select revision from belay.flag_snapshots where environment = 'production'")); };
  long long r0 = rev();
  ASSERT_TRUE(s.conn.exec("listen belay_flags").ok());
  ASSERT_TRUE(s.conn.exec("begin; insert into belay.flags (name) select 'bulk-' || g from generate_series(1, 200) g; "
                          "insert into belay.flag_states (flag, environment, enabled) select name, 'production', true "
                          "from belay.flags; commit;").ok());
  EXPECT_EQ(rev(), r0 + 1);
  EXPECT_EQ(s.snap().size(), 200u);
  auto l = flagstore::load(s.conn, "production");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->etag, "\"production:" + std::to_string(r0 + 1) + "\"");
  // A rolled-back change leaves the snapshot as it was.
  ASSERT_TRUE(s.conn.exec("begin; delete from belay.flags; rollback;").ok());
  EXPECT_EQ(rev(), r0 + 1);
  EXPECT_FALSE(flagstore::load(s.conn, "nowhere").ok());
}

TEST(FlagStore, DeletingAParentIsRefused) {
  Store s;
  ASSERT_TRUE(flagstore::create(s.conn, {"parent", "", "release", true, 100}, "production", kWho).ok());
  ASSERT_TRUE(flagstore::create(s.conn, {"child", "", "release", true, 100}, "production", kWho).ok());
  ASSERT_TRUE(s.conn.exec("insert into belay.flag_dependencies (flag, parent) values ('child', 'parent')").ok());
  EXPECT_TRUE(s.eval("child", user("1")).enabled);
  ASSERT_TRUE(flagstore::set_enabled(s.conn, "parent", "production", false, kWho).ok());
  auto e = s.eval("child", user("1"));
  EXPECT_FALSE(e.enabled);
  EXPECT_EQ(e.reason, flags::Reason::default_);
  auto del = flagstore::remove(s.conn, "parent", kWho);
  ASSERT_FALSE(del.ok());
  EXPECT_EQ(del.error().code, ExitCode::refused);
  EXPECT_TRUE(flagstore::remove(s.conn, "child", kWho).ok());
  EXPECT_TRUE(flagstore::remove(s.conn, "parent", kWho).ok());
  EXPECT_EQ(s.snap().size(), 0u);
}

// Seeds 000 and 004, as their tables are.
const char* kSeedTables = R"(
create table feature_flags (
  id uuid primary key default gen_random_uuid(), name text unique not null,
  enabled boolean default false, rollout_percentage integer);
insert into feature_flags (name, enabled, rollout_percentage) values
  ('persistence_v2', true, 5), ('old_editor', false, null), ('everyone', true, null);
create table workspace_feature_flags (
  feature_key text not null, enabled boolean not null default false, workspace text not null,
  primary key (feature_key, workspace));
insert into workspace_feature_flags values
  ('docs.canvas-mode', true, 'beta-1'), ('docs.canvas-mode', true, 'beta-2'), ('docs.canvas-mode', false, 'acme');
)";

TEST(FlagStore, ImportsTheSeedsTables) {
  Store s;
  ASSERT_TRUE(s.conn.exec(kSeedTables).ok());
  auto rep = flagstore::import_tables(s.conn, "production", std::nullopt, kWho);
  ASSERT_TRUE(rep.ok()) << rep.error().render();
  EXPECT_EQ(rep->flags_created, 4);
  EXPECT_EQ(rep->overrides, 3);
  EXPECT_EQ(rep->source, "public.feature_flags,public.workspace_feature_flags");
  auto snap = s.snap();
  for (int i = 0; i < 500; ++i) {
    auto id = std::to_string(i);
    EXPECT_EQ(flags::is_enabled(snap, "persistence_v2", user(id)).enabled, flags::strategy_bucket("persistence_v2", id) <= 5);
  }
  EXPECT_FALSE(flags::is_enabled(snap, "old_editor", user("1")).enabled);
  EXPECT_TRUE(flags::is_enabled(snap, "everyone", user("1")).enabled);
  EXPECT_TRUE(flags::is_enabled(snap, "docs.canvas-mode", user("1", "beta-2")).enabled);
  EXPECT_FALSE(flags::is_enabled(snap, "docs.canvas-mode", user("1", "acme")).enabled);
  EXPECT_FALSE(flags::is_enabled(snap, "docs.canvas-mode", user("1", "someone")).enabled);
  // Re-import after the legacy table changed: updates, nothing duplicated.
  ASSERT_TRUE(s.conn.exec("update feature_flags set rollout_percentage = 100 where name = 'persistence_v2'; "
                          "delete from workspace_feature_flags where workspace = 'acme'").ok());
  rep = flagstore::import_tables(s.conn, "production", std::nullopt, kWho);
  ASSERT_TRUE(rep.ok());
  EXPECT_EQ(rep->flags_created, 0);
  EXPECT_EQ(rep->flags_updated, 4);
  EXPECT_EQ(s.scalar("select count(*) from belay.flag_strategies"), "4");
  EXPECT_EQ(s.scalar("select count(*) from belay.flag_workspace_overrides"), "2");
  EXPECT_TRUE(s.eval("persistence_v2", user("7")).enabled);
  // One named table; a table of another shape is refused with the columns it needs.
  ASSERT_TRUE(s.conn.exec("create table other (x int)").ok());
  auto bad = flagstore::import_tables(s.conn, "production", std::string("other"), kWho);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("(name, enabled"), std::string::npos);
  EXPECT_FALSE(flagstore::import_tables(s.conn, "production", std::string("missing_table"), kWho).ok());
}

const char* kUnleashClient = R"({"version": 2, "segments": [{"id": 7, "name": "beta", "constraints": [
    {"contextName": "plan", "operator": "IN", "values": ["pro", "team"]}]}],
  "features": [
    {"name": "checkout", "enabled": true, "type": "experiment", "description": "new checkout",
     "strategies": [{"name": "flexibleRollout", "parameters": {"rollout": "40", "stickiness": "userId", "groupId": "checkout"},
                     "constraints": [{"contextName": "country", "operator": "IN", "values": ["NO", "SE"], "caseInsensitive": true}],
                     "segments": [7]}],
     "variants": [{"name": "blue", "weight": 500, "weightType": "variable", "stickiness": "default",
                   "payload": {"type": "string", "value": "b"}, "overrides": [{"contextName": "userId", "values": ["9"]}]},
                  {"name": "red", "weight": 500, "weightType": "variable", "stickiness": "default"}]},
    {"name": "child", "enabled": true, "strategies": [], "dependencies": [{"feature": "checkout", "variants": ["blue"]}]},
    {"name": "ops", "enabled": false, "strategies": [{"name": "userWithId", "parameters": {"userIds": "1,2,3"}}]}
  ]})";

std::vector<flags::Context> contexts() {
  std::vector<flags::Context> out;
  const char* plans[] = {"pro", "free", "team", ""};
  const char* countries[] = {"no", "SE", "us", ""};
  for (int i = 0; i < 400; ++i) {
    flags::Context c = user(std::to_string(i));
    if (*plans[i % 4]) c.properties["plan"] = plans[i % 4];
    if (*countries[(i / 4) % 4]) c.properties["country"] = countries[(i / 4) % 4];
    out.push_back(std::move(c));
  }
  return out;
}

json context_json(const flags::Context& c) {
  json j{{"userId", c.user_id}, {"properties", json::object()}};
  for (auto& [k, v] : c.properties) j["properties"][k] = v;
  return j;
}

TEST(FlagStore, UnleashJsonRoundTripsAndEvaluatesAlike) {
  Store s;
  auto original = flags::parse_client_features(kUnleashClient);
  ASSERT_TRUE(original.ok());
  auto rep = flagstore::import_unleash(s.conn, kUnleashClient, "production", kWho);
  ASSERT_TRUE(rep.ok()) << rep.error().render();
  EXPECT_EQ(rep->source, "unleash-client");
  EXPECT_EQ(rep->flags_created, 3);
  EXPECT_EQ(rep->segments, 1);
  auto stored = s.snap();
  // Export in Unleash's format, import into another environment: same answers everywhere,
  // and the SQL function agrees with the C++ evaluator.
  auto exp = flagstore::export_json(s.conn, "production", "unleash");
  ASSERT_TRUE(exp.ok());
  EXPECT_EQ((*exp)["featureStrategies"].size(), 2u);
  auto rep2 = flagstore::import_unleash(s.conn, exp->dump(), "staging", kWho);
  ASSERT_TRUE(rep2.ok()) << rep2.error().render();
  EXPECT_EQ(rep2->source, "unleash-export");
  EXPECT_EQ(rep2->flags_updated, 3);
  auto staging = s.snap("staging");
  int enabled = 0;
  for (auto& c : contexts())
    for (auto name : {"checkout", "child", "ops"}) {
      auto want = flags::to_json(flags::variant(*original, name, c));
      EXPECT_EQ(flags::to_json(flags::variant(stored, name, c)), want) << name << " " << context_json(c);
      EXPECT_EQ(flags::to_json(flags::variant(staging, name, c)), want) << name << " " << context_json(c);
      enabled += want["enabled"].get<bool>();
    }
  EXPECT_GT(enabled, 20);  // the corpus reaches the interesting branches
  int n = 0;
  for (auto& c : contexts()) {
    if (n++ % 8) continue;  // a sample; the full agreement corpus is flags_sql_test
    for (auto name : {"checkout", "child", "ops", "missing"})
      EXPECT_EQ(s.sql_eval(name, context_json(c)), flags::to_json(flags::variant(stored, name, c))) << name << context_json(c);
  }
  auto client = flagstore::export_json(s.conn, "production", "client");
  ASSERT_TRUE(client.ok());
  auto reparsed = flags::parse_client_features(client->dump());
  ASSERT_TRUE(reparsed.ok());
  EXPECT_EQ(reparsed->size(), 3u);
  // Malformed documents are refused before anything is written.
  EXPECT_FALSE(flagstore::import_unleash(s.conn, "{not json", "production", kWho).ok());
  EXPECT_FALSE(flagstore::import_unleash(s.conn, R"({"hello": 1})", "production", kWho).ok());
  EXPECT_FALSE(flagstore::import_unleash(s.conn, R"({"features": [{"name": "a"}, {"name": "a"}]})", "production", kWho).ok());
  EXPECT_EQ(s.scalar("select count(*) from belay.flags"), "3");
  // A parent that exists nowhere is kept as Unleash keeps it: the child is off.
  ASSERT_TRUE(flagstore::import_unleash(s.conn,
      R"({"features": [{"name": "orphan", "enabled": true, "dependencies": [{"feature": "ghost"}]},
                       {"name": "Hellø_Wørld.😊", "enabled": true}]})", "production", kWho).ok());
  auto orphan = flags::to_json(flags::variant(s.snap(), "orphan", user("1")));
  EXPECT_EQ(orphan["enabled"], false);
  EXPECT_EQ(orphan["reason"], "DEFAULT");
  EXPECT_EQ(s.sql_eval("orphan", {{"userId", "1"}}), orphan);
  EXPECT_TRUE(s.eval("Hellø_Wørld.😊", user("1")).enabled);
  EXPECT_EQ(s.sql_eval("Hellø_Wørld.😊", {{"userId", "1"}})["enabled"], true);
  EXPECT_FALSE(flagstore::export_json(s.conn, "production", "yaml").ok());
}

TEST(FlagStore, SqlFunctionsSeeOverridesAndEnvironments) {
  Store s;
  ASSERT_TRUE(flagstore::create(s.conn, {"docs.canvas-mode", "", "release", true, 0}, "production", kWho).ok());
  ASSERT_TRUE(flagstore::set_override(s.conn, "docs.canvas-mode", "production", "beta", true, kWho).ok());
  EXPECT_EQ(s.scalar("select belay.flag_enabled('docs.canvas-mode', '{\"properties\": {\"workspace\": \"beta\"}}')"), "t");
  EXPECT_EQ(s.scalar("select belay.flag_enabled('docs.canvas-mode', '{\"properties\": {\"workspace\": \"x\"}}')"), "f");
  EXPECT_EQ(s.scalar("select belay.flag_enabled('docs.canvas-mode', '{\"properties\": {\"workspace\": \"beta\"}}', 'staging')"), "f");
  EXPECT_EQ(s.scalar("select belay.flag_variant('nope', '{}') ->> 'errorCode'"), "FLAG_NOT_FOUND");
  // Usable in a policy: rows visible only where the flag is on for the row's workspace.
  ASSERT_TRUE(s.conn.exec("create table docs (id int, workspace text); insert into docs values (1, 'beta'), (2, 'x');").ok());
  EXPECT_EQ(s.scalar("select string_agg(id::text, ',') from docs where belay.flag_enabled('docs.canvas-mode', "
                     "jsonb_build_object('properties', jsonb_build_object('workspace', workspace)))"), "1");
}

// A role with nothing but USAGE on schema belay evaluates flags in an RLS policy (the
// functions run as the store's owner) yet reads no flag table and not the memo's key.
TEST(FlagStore, ARoleWithSchemaUsageEvaluatesInAPolicyAndReadsNoFlagTable) {
  Store s;
  test::TempRole reader(s.db);
  ASSERT_TRUE(flagstore::create(s.conn, {"docs.canvas-mode", "", "release", true, 0}, "production", kWho).ok());
  ASSERT_TRUE(flagstore::set_override(s.conn, "docs.canvas-mode", "production", "beta", true, kWho).ok());
  ASSERT_TRUE(s.conn.exec(fmt::format(
      "grant usage on schema belay to {0};"
      "create table docs (id int, workspace text); insert into docs values (1, 'beta'), (2, 'x');"
      "alter table docs enable row level security; grant select on docs to {0};"
      "create policy canvas on docs to {0} using (belay.flag_enabled('docs.canvas-mode', "
      "  jsonb_build_object('properties', jsonb_build_object('workspace', workspace))))", reader.name)).ok());

  ASSERT_TRUE(s.conn.exec("set role " + reader.name).ok());
  auto rows = s.conn.query("select string_agg(id::text, ',') from docs");
  ASSERT_TRUE(rows.ok()) << rows.error().render();
  EXPECT_EQ(rows->get(0, 0), "1");
  for (const char* table : {"belay.flags", "belay.flag_snapshot_flags", "belay.flag_memo_key"}) {
    auto r = s.conn.query(std::string("select count(*) from ") + table);
    ASSERT_FALSE(r.ok()) << table << " is readable";
    EXPECT_EQ(r.error().sqlstate, "42501") << r.error().render();
  }
  ASSERT_TRUE(s.conn.exec("reset role").ok());

  // The kill switch reaches the policy: the beta override is on, the flag is not.
  ASSERT_TRUE(flagstore::set_enabled(s.conn, "docs.canvas-mode", "production", false, kWho).ok());
  ASSERT_TRUE(s.conn.exec("set role " + reader.name).ok());
  EXPECT_EQ(s.conn.query("select count(*) from docs")->get(0, 0), "0");
  ASSERT_TRUE(s.conn.exec("reset role").ok());
}

// A definition written around the CLI in a form Unleash does not accept (a parameter that
// is an object) is off with PARSE_ERROR in SQL, as in C++. The snapshot rebuild records
// that, so no session setting can make belay.flag_variant evaluate it.
TEST(FlagStore, AStoredMalformedDefinitionIsOffWhateverTheSessionSays) {
  Store s;
  test::TempRole reader(s.db);
  ASSERT_TRUE(flagstore::create(s.conn, {"broken", "", "release", true, std::nullopt}, "production", kWho).ok());
  ASSERT_TRUE(flagstore::create(s.conn, {"fine", "", "release", true, std::nullopt}, "production", kWho).ok());
  EXPECT_EQ(s.sql_eval("broken", json::object()).value("enabled", false), true);
  ASSERT_TRUE(s.conn.exec("insert into belay.flag_strategies (flag, environment, name, parameters) "
                          "values ('broken', 'production', 'default', '{\"x\": {\"y\": 1}}')").ok());
  EXPECT_EQ(s.scalar("select string_agg(name || '=' || well_formed, ',' order by name) from belay.flag_snapshot_flags "
                     "where environment = 'production'"), "broken=false,fine=true");
  // Even a memo entry made with the key (only the owner could) changes nothing.
  const std::string forged = s.scalar(
      "select 'f' || left(encode(sha256(convert_to(k.secret || (f.features -> 'broken')::text, 'UTF8')), 'hex'), 32) "
      "from belay.flag_snapshot_flags f, belay.flag_memo_key k where f.environment = 'production' and f.name = 'broken'");
  ASSERT_EQ(forged.size(), 33u);
  ASSERT_TRUE(s.conn.exec(fmt::format("grant usage on schema belay to {0}; set role {0}", reader.name)).ok());
  ASSERT_TRUE(s.conn.query("select set_config('belay.flag_checked', $1, false)", {forged}).ok());
  json got = s.sql_eval("broken", json::object());
  EXPECT_EQ(got.value("enabled", true), false) << got.dump();
  EXPECT_EQ(got.value("errorCode", ""), "PARSE_ERROR") << got.dump();
  EXPECT_EQ(s.sql_eval("fine", json::object()).value("enabled", false), true);
  ASSERT_TRUE(s.conn.exec("reset role").ok());
  // A store built before the rebuild recorded the form (null) checks at evaluation.
  ASSERT_TRUE(s.conn.exec("update belay.flag_snapshot_flags set well_formed = null; select set_config('belay.flag_checked', '', false)").ok());
  EXPECT_EQ(s.sql_eval("broken", json::object()).value("errorCode", ""), "PARSE_ERROR");
  EXPECT_EQ(s.sql_eval("fine", json::object()).value("enabled", false), true);
}

// The memo of checked definitions lives in a setting any session writes. Writing the
// digest a malformed definition would have, unkeyed, must not let it skip the check:
// ("enabled": "yes" is not Unleash's form, and PostgreSQL would read it as true).
TEST(FlagStore, AForgedMemoDoesNotPassAMalformedDefinition) {
  Store s;
  test::TempRole caller(s.db);
  const std::string def = R"({"name": "x", "enabled": "yes", "strategies": []})";
  const std::string features = R"({"x": )" + def + "}";
  auto forge_and_eval = [&] {
    auto r = s.conn.query(
        "select set_config('belay.flag_checked', "
        "  'f' || left(encode(sha256(convert_to($1::jsonb::text, 'UTF8')), 'hex'), 32), false), "
        "belay.flag_evaluate($2::jsonb, '{}', 'x', '{}')::text",
        {def, features});
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().render());
    return r.ok() ? json::parse(r->get(0, 1)) : json();
  };
  EXPECT_EQ(forge_and_eval().value("errorCode", ""), "PARSE_ERROR");
  // A well-formed definition is still remembered, under its keyed digest.
  auto ok = s.conn.query("select belay.flag_evaluate('{\"y\": {\"name\": \"y\", \"enabled\": true}}', '{}', 'y', '{}') ->> 'enabled', "
                         "current_setting('belay.flag_checked')");
  ASSERT_TRUE(ok.ok()) << ok.error().render();
  EXPECT_EQ(ok->get(0, 0), "true");
  EXPECT_EQ(ok->get(0, 1).size(), 33u + 1 + 33u) << ok->get(0, 1);  // y's key, then the forged one
  // A role that cannot read the key gets no memo: every call checks.
  ASSERT_TRUE(s.conn.exec(fmt::format("grant usage on schema belay to {0}; set role {0}", caller.name)).ok());
  EXPECT_EQ(forge_and_eval().value("errorCode", ""), "PARSE_ERROR");
  ASSERT_TRUE(s.conn.exec("reset role").ok());
}

}  // namespace
}  // namespace belay
