// belay flags list | show | create | delete | enable | disable | rollout | override | eval |
//             history | import | export | token create|revoke|list
// A thin layer over flagstore/ (the store) and flags/ (evaluation). Changes are audited in
// the database (who = --actor, why = --reason) and, like every command that changes a
// database, recorded as evidence.
#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/render.h"
#include "cli/session.h"
#include "flags/flags.h"
#include "flagstore/flagstore.h"
#include "util/fs.h"

namespace belay::cli {
namespace {

struct FlagArgs {
  std::string environment;
  std::string reason, actor;
  std::string name;
  // create
  std::string description, type = "release";
  bool enabled = false, no_strategy = false;
  int rollout = 100;
  // rollout / override
  int pct = -1;
  std::string workspace, state;
  // eval
  std::string context = "{}";
  bool in_database = false;
  // history
  int limit = 50;
  // import / export
  std::string table, file, format = "client", output;
  // token
  std::string kind = "client";
};

std::string default_actor() {
  if (const char* a = std::getenv("BELAY_ACTOR"); a && *a) return a;
  if (const passwd* pw = ::getpwuid(::getuid()); pw && pw->pw_name) return pw->pw_name;
  return "";
}

std::string environment_of(const FlagArgs& a) {
  if (!a.environment.empty()) return a.environment;
  if (const char* e = std::getenv("BELAY_FLAGS_ENVIRONMENT"); e && *e) return e;
  return std::string(flagstore::kDefaultEnvironment);
}

// Opens the target and installs (or upgrades) the store.
Result<Session> open_store(const Global& g, const std::string& verb) {
  BELAY_ASSIGN(auto s, open_session(g, verb, true, false));
  BELAY_TRY(flagstore::install(*s.conn));
  return s;
}

// Runs one audited change and records it as evidence; prints `done` (or {"ok":true,...}).
int change(const Global& g, const FlagArgs& a, const std::string& verb, nlohmann::json what,
           const std::function<Status(pg::Conn&, const flagstore::Change&)>& fn, const std::string& done) {
  auto s = open_store(g, "flags " + verb);
  if (!s.ok()) return report_error(s.error());
  flagstore::Change who{a.actor.empty() ? default_actor() : a.actor, a.reason};
  auto st = fn(*s->conn, who);
  what["actor"] = who.actor;
  what["reason"] = a.reason.empty() ? nlohmann::json(nullptr) : nlohmann::json(a.reason);
  auto rec = Recorder::open(g, *s, "flags " + verb);
  if (rec.ok()) {
    rec->event("flags " + verb, what);
    rec->finish(st.ok() ? "ok" : "failed",
                fmt::format("# belay flags {}\n\n- target: `{}`\n- change: `{}`\n- outcome: {}\n", verb,
                            s->target.display, what.dump(), st.ok() ? "ok" : st.error().message));
  }
  if (!st.ok()) return report_error(st.error());
  if (out().json) {
    what["ok"] = true;
    print_json(what);
  } else {
    std::cout << green("ok ") << done << "\n";
  }
  return 0;
}

int cmd_list(const Global& g, const FlagArgs& a) {
  auto s = open_store(g, "flags list");
  if (!s.ok()) return report_error(s.error());
  auto env = environment_of(a);
  auto l = flagstore::list(*s->conn, env);
  if (!l.ok()) return report_error(l.error());
  if (out().json) { print_json({{"environment", env}, {"flags", *l}}); return 0; }
  if (l->empty()) { std::cout << "no flags; create one with `belay flags create NAME`\n"; return 0; }
  for (auto& f : *l) {
    std::string rollout = f["rollout"].is_string() ? f["rollout"].get<std::string>() + "%" : "-";
    std::cout << fmt::format("{:<32} {:<9} rollout {:<5} strategies {:<2} overrides {}\n", f["name"].get<std::string>(),
                             f["enabled"].get<bool>() ? green("on") : red("off"), rollout,
                             f["strategies"].get<int64_t>(), f["overrides"].get<int64_t>());
  }
  std::cout << dim(fmt::format("{} flags in {}", l->size(), env)) << "\n";
  return 0;
}

int cmd_show(const Global& g, const FlagArgs& a) {
  auto s = open_store(g, "flags show");
  if (!s.ok()) return report_error(s.error());
  auto j = flagstore::show(*s->conn, a.name);
  if (!j.ok()) return report_error(j.error());
  if (out().json) { print_json(*j); return 0; }
  std::cout << bold(a.name) << "  " << (*j)["type"].get<std::string>();
  if (j->contains("description")) std::cout << "  " << (*j)["description"].get<std::string>();
  std::cout << "\n";
  for (auto& [env, e] : (*j)["environments"].items()) {
    std::cout << "  " << env << ": " << (e["enabled"].get<bool>() ? green("on") : red("off")) << "\n";
    for (auto& st : e["strategies"]) std::cout << "    strategy " << st["name"].get<std::string>() << " " << st["parameters"].dump()
                                               << (st["constraints"].empty() ? "" : " constraints " + st["constraints"].dump()) << "\n";
    for (auto& v : e["variants"]) std::cout << "    variant  " << v["name"].get<std::string>() << " weight " << v["weight"] << "\n";
    for (auto& [ws, on] : e["overrides"].items())
      std::cout << "    workspace " << ws << ": " << (on.get<bool>() ? green("on") : red("off")) << "\n";
  }
  for (auto& d : (*j)["dependencies"]) std::cout << "  depends on " << d.dump() << "\n";
  return 0;
}

int cmd_eval(const Global& g, const FlagArgs& a) {
  auto ctx = flags::parse_context(a.context);
  if (!ctx.ok()) return report_error(Error::usage("--context: " + ctx.error().message));
  auto s = open_store(g, "flags eval");
  if (!s.ok()) return report_error(s.error());
  auto env = environment_of(a);
  nlohmann::json j;
  if (a.in_database) {
    auto r = s->conn->query("select belay.flag_variant($1, $2::jsonb, $3)::text", {a.name, a.context, env});
    if (!r.ok()) return report_error(r.error());
    j = nlohmann::json::parse(r->get(0, 0));
  } else {
    auto loaded = flagstore::load(*s->conn, env);
    if (!loaded.ok()) return report_error(loaded.error());
    j = flags::to_json(flags::variant(loaded->snapshot, a.name, *ctx));
  }
  if (out().json) { print_json(j); return j.value("errorCode", "") == "FLAG_NOT_FOUND" ? 1 : 0; }
  std::cout << a.name << ": " << (j["enabled"].get<bool>() ? green("enabled") : red("disabled")) << "  variant "
            << j["variant"]["name"].get<std::string>() << "  reason " << j["reason"].get<std::string>() << "\n";
  if (j.contains("errorCode")) std::cout << red(j["errorCode"].get<std::string>()) << " " << j.value("errorMessage", "") << "\n";
  return j.value("errorCode", "") == "FLAG_NOT_FOUND" ? 1 : 0;
}

int cmd_history(const Global& g, const FlagArgs& a) {
  auto s = open_store(g, "flags history");
  if (!s.ok()) return report_error(s.error());
  auto h = flagstore::history(*s->conn, a.name, a.limit);
  if (!h.ok()) return report_error(h.error());
  if (out().json) {
    nlohmann::json arr = nlohmann::json::array();
    for (auto& e : *h) arr.push_back(flagstore::to_json(e));
    print_json({{"flag", a.name}, {"history", arr}});
    return 0;
  }
  if (h->empty()) std::cout << "no recorded changes of " << a.name << "\n";
  for (auto& e : *h)
    std::cout << fmt::format("{}  {:<10} {} {}{}  {}\n", e.at, e.actor, e.action, e.entity,
                             e.environment.empty() ? "" : " (" + e.environment + ")",
                             e.reason.empty() ? dim("no reason given") : e.reason);
  return 0;
}

int cmd_import(const Global& g, const FlagArgs& a) {
  std::string text;
  if (!a.file.empty()) {
    auto t = fs::read_file(a.file);
    if (!t.ok()) return report_error(t.error());
    text = std::move(*t);
  }
  auto s = open_store(g, "flags import");
  if (!s.ok()) return report_error(s.error());
  flagstore::Change who{a.actor.empty() ? default_actor() : a.actor, a.reason};
  auto env = environment_of(a);
  auto rep = a.file.empty() ? flagstore::import_tables(*s->conn, env, a.table.empty() ? std::nullopt
                                                                                      : std::optional<std::string>(a.table), who)
                            : flagstore::import_unleash(*s->conn, text, env, who);
  auto rec = Recorder::open(g, *s, "flags import");
  if (rec.ok()) {
    nlohmann::json ev{{"environment", env}, {"actor", who.actor}, {"reason", a.reason}};
    if (rep.ok()) ev["report"] = flagstore::to_json(*rep);
    rec->event("flags import", ev);
    rec->finish(rep.ok() ? "ok" : "failed", fmt::format("# belay flags import\n\n- target: `{}`\n- {}\n", s->target.display,
                                                        rep.ok() ? flagstore::to_json(*rep).dump() : rep.error().message));
  }
  if (!rep.ok()) return report_error(rep.error());
  if (out().json) { print_json(flagstore::to_json(*rep)); return 0; }
  std::cout << green("imported ") << rep->source << ": " << rep->flags_created << " flags created, " << rep->flags_updated
            << " updated, " << rep->strategies << " strategies, " << rep->overrides << " workspace overrides, "
            << rep->segments << " segments\n";
  for (auto& w : rep->warnings) std::cerr << yellow("warning: ") << w << "\n";
  return 0;
}

int cmd_export(const Global& g, const FlagArgs& a) {
  auto s = open_store(g, "flags export");
  if (!s.ok()) return report_error(s.error());
  auto j = flagstore::export_json(*s->conn, environment_of(a), a.format);
  if (!j.ok()) return report_error(j.error());
  if (a.output.empty()) { std::cout << j->dump(2) << "\n"; return 0; }
  auto w = fs::write_file_atomic(a.output, j->dump(2) + "\n");
  if (!w.ok()) return report_error(w.error());
  if (out().json) print_json({{"ok", true}, {"output", a.output}, {"format", a.format}});
  else std::cout << green("wrote ") << a.output << "\n";
  return 0;
}

int cmd_token_list(const Global& g) {
  auto s = open_store(g, "flags token list");
  if (!s.ok()) return report_error(s.error());
  auto t = flagstore::tokens(*s->conn);
  if (!t.ok()) return report_error(t.error());
  nlohmann::json arr = nlohmann::json::array();
  for (auto& x : *t) arr.push_back({{"name", x.name}, {"kind", x.kind}, {"environment", x.environment}});
  if (out().json) { print_json({{"tokens", arr}}); return 0; }
  for (auto& x : *t) std::cout << fmt::format("{:<24} {:<9} {}\n", x.name, x.kind, x.environment);
  return 0;
}

}  // namespace

void add_flags_commands(CLI::App& app, Global& g, int& rc) {
  static FlagArgs a;
  auto* flags = app.add_subcommand("flags", "feature flags kept in the target database (Unleash semantics)");
  flags->require_subcommand(1);
  auto common = [&](CLI::App* c, bool changes) {
    c->add_option("-e,--environment", a.environment, "flag environment (default $BELAY_FLAGS_ENVIRONMENT, else production)");
    if (changes) {
      c->add_option("--reason", a.reason, "why: recorded in the audit log with the change");
      c->add_option("--actor", a.actor, "who: recorded in the audit log (default $BELAY_ACTOR, else the OS user)");
    }
    return c;
  };
  auto named = [&](CLI::App* c) { c->add_option("name", a.name, "flag name")->required(); return c; };

  common(flags->add_subcommand("list", "flags of an environment"), false)->callback([&] { rc = cmd_list(g, a); });
  named(flags->add_subcommand("show", "one flag: every environment, strategy, variant, override"))
      ->callback([&] { rc = cmd_show(g, a); });

  auto* create = common(named(flags->add_subcommand("create", "a new flag (off unless --enabled)")), true);
  create->add_option("--description", a.description, "what the flag is for");
  create->add_option("--type", a.type, "release, experiment, operational, kill-switch, permission");
  create->add_flag("--enabled", a.enabled, "switch it on in the environment");
  create->add_option("--rollout", a.rollout, "initial flexibleRollout percentage (default 100)")->check(CLI::Range(0, 100));
  create->add_flag("--no-strategy", a.no_strategy, "no strategy: on for everyone once enabled");
  create->callback([&] {
    flagstore::NewFlag f{a.name, a.description, a.type, a.enabled, a.no_strategy ? std::nullopt : std::optional<int>(a.rollout)};
    auto env = environment_of(a);
    rc = change(g, a, "create", {{"flag", a.name}, {"environment", env}, {"enabled", a.enabled}},
                [&](pg::Conn& c, const flagstore::Change& w) { return flagstore::create(c, f, env, w); },
                fmt::format("created {} in {}", a.name, env));
  });
  common(named(flags->add_subcommand("delete", "remove a flag from every environment")), true)->callback([&] {
    rc = change(g, a, "delete", {{"flag", a.name}},
                [&](pg::Conn& c, const flagstore::Change& w) { return flagstore::remove(c, a.name, w); },
                "deleted " + a.name);
  });
  for (bool on : {true, false}) {
    auto* c = common(named(flags->add_subcommand(on ? "enable" : "disable",
                                                 on ? "switch a flag on" : "switch a flag off for everyone (the kill switch)")),
                     true);
    c->callback([&, on] {
      auto env = environment_of(a);
      rc = change(g, a, on ? "enable" : "disable", {{"flag", a.name}, {"environment", env}, {"enabled", on}},
                  [&](pg::Conn& cn, const flagstore::Change& w) { return flagstore::set_enabled(cn, a.name, env, on, w); },
                  fmt::format("{} {} in {}", a.name, on ? "on" : "off", env));
    });
  }
  auto* rollout = common(named(flags->add_subcommand("rollout", "set the flexibleRollout percentage")), true);
  rollout->add_option("percentage", a.pct, "0..100")->required()->check(CLI::Range(0, 100));
  rollout->callback([&] {
    auto env = environment_of(a);
    rc = change(g, a, "rollout", {{"flag", a.name}, {"environment", env}, {"rollout", a.pct}},
                [&](pg::Conn& c, const flagstore::Change& w) { return flagstore::set_rollout(c, a.name, env, a.pct, w); },
                fmt::format("{} rolled out to {}% in {}", a.name, a.pct, env));
  });
  auto* ov = common(named(flags->add_subcommand("override", "on, off or clear the flag for one workspace")), true);
  ov->add_option("--workspace", a.workspace, "workspace (context property \"workspace\")")->required();
  ov->add_option("state", a.state, "on, off or clear")->required()->check(CLI::IsMember({"on", "off", "clear"}));
  ov->callback([&] {
    auto env = environment_of(a);
    std::optional<bool> on = a.state == "clear" ? std::nullopt : std::optional<bool>(a.state == "on");
    rc = change(g, a, "override", {{"flag", a.name}, {"environment", env}, {"workspace", a.workspace}, {"state", a.state}},
                [&](pg::Conn& c, const flagstore::Change& w) {
                  return flagstore::set_override(c, a.name, env, a.workspace, on, w);
                },
                fmt::format("{} {} for workspace {} in {}", a.name, a.state, a.workspace, env));
  });
  auto* ev = common(named(flags->add_subcommand("eval", "evaluate a flag for a context")), false);
  ev->add_option("--context", a.context, "Unleash context JSON {userId, sessionId, remoteAddress, properties, ...}");
  ev->add_flag("--in-database", a.in_database, "evaluate with belay.flag_variant() in the database instead of in process");
  ev->callback([&] { rc = cmd_eval(g, a); });
  auto* hist = named(flags->add_subcommand("history", "the audit log of a flag, oldest first"));
  hist->add_option("--limit", a.limit, "newest N changes (default 50)");
  hist->callback([&] { rc = cmd_history(g, a); });
  auto* imp = common(flags->add_subcommand("import", "adopt flags: the seeds' tables, or Unleash JSON (--file)"), true);
  imp->add_option("--table", a.table, "a table like feature_flags(name, enabled, rollout_percentage) or "
                                      "workspace_feature_flags(feature_key, enabled, workspace)");
  imp->add_option("--file", a.file, "Unleash client features document or Unleash export");
  imp->callback([&] { rc = cmd_import(g, a); });
  auto* exp = common(flags->add_subcommand("export", "write the flags as Unleash JSON"), false);
  exp->add_option("--format", a.format, "client (/api/client/features) or unleash (Unleash's export format)")
      ->check(CLI::IsMember({"client", "unleash"}));
  exp->add_option("-o,--output", a.output, "file (default stdout)");
  exp->callback([&] { rc = cmd_export(g, a); });

  auto* token = flags->add_subcommand("token", "API tokens for belay serve");
  token->require_subcommand(1);
  auto* tc = common(named(token->add_subcommand("create", "a new token; its secret is printed once")), true);
  tc->add_option("--kind", a.kind, "client (read flags), frontend (evaluate), admin (change)")
      ->check(CLI::IsMember({"client", "frontend", "admin"}));
  tc->callback([&] {
    auto s = open_store(g, "flags token create");
    if (!s.ok()) { rc = report_error(s.error()); return; }
    auto env = environment_of(a);
    auto secret = flagstore::create_token(*s->conn, a.name, a.kind, env,
                                          {a.actor.empty() ? default_actor() : a.actor, a.reason});
    if (!secret.ok()) { rc = report_error(secret.error()); return; }
    // The secret goes to stdout once and nowhere else (no evidence of it).
    if (out().json) print_json({{"name", a.name}, {"kind", a.kind}, {"environment", env}, {"secret", *secret}});
    else std::cout << *secret << "\n";
    rc = 0;
  });
  common(named(token->add_subcommand("revoke", "revoke a token")), true)->callback([&] {
    rc = change(g, a, "token revoke", {{"token", a.name}},
                [&](pg::Conn& c, const flagstore::Change& w) { return flagstore::revoke_token(c, a.name, w); },
                "revoked " + a.name);
  });
  token->add_subcommand("list", "active tokens (names, kinds, environments)")->callback([&] { rc = cmd_token_list(g); });
}

}  // namespace belay::cli
