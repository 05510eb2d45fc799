// The security surface of a schema model, and what got more exposed between two models.
//
// From a fingerprint model (objects rls, policy, grant, view, matview, function, default_acl)
// this works out, for each table of the exposed schemas, API role (and PUBLIC) and command,
// how much of the table the role reaches: nothing, some rows (policies decide), or every row
// (a privilege and RLS off, or an always-true policy). Role membership is not in the model:
// a grant to a role an API role is a member of is not seen.
#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

#include "rls/rls.h"

namespace belay::rls {

namespace {

using fingerprint::Model;
using fingerprint::Object;
using findings::Finding;
using findings::Severity;

const char* kCommands[] = {"SELECT", "INSERT", "UPDATE", "DELETE"};
enum Level { none = 0, some = 1, every = 2 };

// A name as the model prints it (PostgreSQL's quote_ident): bare when it is a plain lower-case
// identifier that is not a reserved word, quoted otherwise. (quote_ident also quotes the
// non-reserved keywords that cannot be column names; a schema or role named like those is
// not matched.)
std::string ident(const std::string& s) {
  static const std::set<std::string> reserved = {
      "all", "analyse", "analyze", "and", "any", "array", "as", "asc", "asymmetric", "both", "case", "cast", "check",
      "collate", "column", "constraint", "create", "current_catalog", "current_date", "current_role", "current_time",
      "current_timestamp", "current_user", "default", "deferrable", "desc", "distinct", "do", "else", "end", "except",
      "false", "fetch", "for", "foreign", "from", "grant", "group", "having", "in", "initially", "intersect", "into",
      "lateral", "leading", "limit", "localtime", "localtimestamp", "not", "null", "offset", "on", "only", "or", "order",
      "placing", "primary", "references", "returning", "select", "session_user", "some", "symmetric", "table", "then",
      "to", "trailing", "true", "union", "unique", "user", "using", "variadic", "when", "where", "window", "with"};
  bool plain = !s.empty() && !(s[0] >= '0' && s[0] <= '9') && !reserved.count(s);
  for (char c : s) plain = plain && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_');
  return plain ? s : pg::quote_ident(s);
}

std::string prop(const Object& o, const std::string& k) {
  auto it = o.props.find(k);
  return it == o.props.end() ? "" : it->second;
}

std::set<std::string> split_list(const std::string& s) {
  std::set<std::string> out;
  size_t at = 0;
  while (at < s.size()) {
    auto comma = s.find(", ", at);
    out.insert(s.substr(at, comma == std::string::npos ? std::string::npos : comma - at));
    if (comma == std::string::npos) break;
    at = comma + 2;
  }
  out.erase("");
  return out;
}

std::string join(const std::set<std::string>& s) {
  std::string out;
  for (auto& x : s) out += (out.empty() ? "" : ", ") + x;
  return out;
}

struct Policy {
  const Object* o;
  std::string name, table;
};

// One model, indexed for the questions below.
struct Surface {
  std::map<std::string, const Object*> relations;  // "public.t" -> table / view / matview object
  std::set<std::string> rls_on;
  std::vector<Policy> policies;
  std::map<std::string, const Object*> policy_by_id;
  // "table public.t" / "function public.f(integer)" -> grantee -> privileges; column grants
  // are folded into their relation's entry.
  std::map<std::string, std::map<std::string, std::set<std::string>>> grants;
  std::map<std::string, const Object*> functions;   // id -> object
  std::map<std::string, const Object*> default_acls;

  explicit Surface(const Model& m) {
    for (auto& o : m.objects)
      if (o.kind == "table" || o.kind == "view" || o.kind == "matview") relations[o.id] = &o;
    for (auto& o : m.objects) {
      if (o.kind == "rls" && prop(o, "enabled") == "true") rls_on.insert(o.id);
      else if (o.kind == "function") functions[o.id] = &o;
      else if (o.kind == "default_acl") default_acls[o.id] = &o;
      else if (o.kind == "policy") {
        // id = table + "." + name and label = "policy " + name + " on " + table.
        for (size_t k = o.id.find('.'); k != std::string::npos; k = o.id.find('.', k + 1)) {
          auto table = o.id.substr(0, k), name = o.id.substr(k + 1);
          if (o.label == "policy " + name + " on " + table) {
            policies.push_back({&o, name, table});
            policy_by_id[o.id] = &o;
            break;
          }
        }
      } else if (o.kind == "grant") {
        // "<kind> <id> / <grantee> / <PRIVILEGE>"
        auto p2 = o.id.rfind(" / ");
        if (p2 == std::string::npos) continue;
        auto p1 = o.id.rfind(" / ", p2 - 1);
        if (p1 == std::string::npos) continue;
        std::string target = o.id.substr(0, p1), grantee = o.id.substr(p1 + 3, p2 - p1 - 3), priv = o.id.substr(p2 + 3);
        if (target.rfind("column ", 0) == 0) {
          // column <relation>.<column>: fold into the relation (a column privilege reaches rows).
          auto col = target.substr(7);
          for (size_t k = col.rfind('.'); k != std::string::npos && k > 0; k = col.rfind('.', k - 1)) {
            auto rel = relations.find(col.substr(0, k));
            if (rel != relations.end()) {
              target = rel->second->kind + " " + rel->first;
              break;
            }
          }
        }
        grants[target][grantee].insert(priv);
      }
    }
  }

  bool has(const std::string& target, const std::string& grantee, const std::string& priv) const {
    auto t = grants.find(target);
    if (t == grants.end()) return false;
    for (auto& g : {grantee, std::string("PUBLIC")}) {
      auto it = t->second.find(g);
      if (it != t->second.end() && it->second.count(priv)) return true;
    }
    return false;
  }

  // How much of table `t` role `role` ("PUBLIC" for everyone) reaches with `cmd`, and why.
  Level level(const std::string& t, const std::string& role, const std::string& cmd, std::string* why) const {
    if (!has("table " + t, role, cmd)) return none;
    if (!rls_on.count(t)) {
      if (why) *why = "row level security is off";
      return every;
    }
    std::string quoted = role == "PUBLIC" ? role : ident(role);
    bool any = false, always = false, restricted = false;
    std::string always_name;
    for (auto& p : policies) {
      if (p.table != t) continue;
      auto c = prop(*p.o, "command");
      if (c != cmd && c != "ALL") continue;
      auto roles = split_list(prop(*p.o, "roles"));
      if (!roles.count("PUBLIC") && !roles.count(quoted)) continue;
      if (prop(*p.o, "permissive") != "true") {
        restricted = true;
        continue;
      }
      auto expr = cmd == "INSERT" ? (p.o->props.count("WITH CHECK") ? prop(*p.o, "WITH CHECK") : prop(*p.o, "USING"))
                                  : prop(*p.o, "USING");
      if (expr.empty()) continue;
      any = true;
      if (expr == "true") {
        always = true;
        always_name = p.name;
      }
    }
    if (always && !restricted) {
      if (why) *why = "policy " + always_name + " is always true";
      return every;
    }
    return any ? some : none;
  }
};

bool in_schemas(const std::string& id, const std::vector<std::string>& schemas) {
  for (auto& s : schemas)
    if (id.rfind(ident(s) + ".", 0) == 0) return true;
  return false;
}

bool invoker(const Object& view) {
  auto o = prop(view, "options");
  for (auto v : {"security_invoker=true", "security_invoker=on", "security_invoker=1", "security_invoker=yes"})
    if (o.find(v) != std::string::npos) return true;
  return false;
}

Finding make(const char* rule, Severity s, std::string object, std::string message, std::string fix) {
  Finding f;
  f.rule = rule;
  f.severity = s;
  f.object = std::move(object);
  f.message = std::move(message);
  f.fix = std::move(fix);
  return f;
}

}  // namespace

std::vector<Finding> surface_regressions(const Model& before, const Model& after, const SurfaceOptions& opt) {
  Surface a(before), b(after);
  std::vector<Finding> out;
  std::vector<std::string> who = opt.api_roles;
  who.push_back("PUBLIC");

  for (auto& [id, rel] : b.relations) {
    if (!in_schemas(id, opt.exposed_schemas)) continue;
    if (rel->kind == "table") {
      // Every row newly reachable, per role and command.
      std::map<std::string, std::set<std::string>> gained;
      std::set<std::string> reasons;
      bool existed = a.relations.count(id) > 0;
      for (auto& r : who)
        for (auto* cmd : kCommands) {
          std::string why;
          if (b.level(id, r, cmd, &why) == every && (!existed || a.level(id, r, cmd, nullptr) != every)) {
            gained[r].insert(cmd);
            reasons.insert(why);
          }
        }
      if (!gained.empty()) {
        std::string list;
        for (auto& [r, cmds] : gained) list += (list.empty() ? "" : "; ") + r + ": " + join(cmds);
        out.push_back(make("surface-table-exposed", Severity::error, id,
                           fmt::format("table {} {} every row to API roles ({}) because {}", id,
                                       existed ? "now opens" : "is created opening", list, join(reasons)),
                           fmt::format("ALTER TABLE {} ENABLE ROW LEVEL SECURITY with policies per role, or REVOKE the "
                                       "privileges the API roles must not have",
                                       id)));
      }
      if (existed && a.rls_on.count(id) && !b.rls_on.count(id))
        out.push_back(make("surface-rls-disabled", Severity::error, id,
                           fmt::format("row level security was disabled on table {}: its policies no longer apply", id),
                           fmt::format("ALTER TABLE {} ENABLE ROW LEVEL SECURITY", id)));
    } else {
      // Views and materialized views readable by API roles that run as their owner.
      auto readable = [&](const Surface& s, const std::string& v) {
        auto rel_it = s.relations.find(v);
        if (rel_it == s.relations.end()) return std::string();
        if (rel_it->second->kind == "view" && invoker(*rel_it->second)) return std::string();
        std::set<std::string> by;
        for (auto& r : who)
          if (s.has(rel_it->second->kind + " " + v, r, "SELECT")) by.insert(r);
        return join(by);
      };
      auto now = readable(b, id);
      if (!now.empty() && readable(a, id).empty()) {
        bool view = rel->kind == "view";
        out.push_back(make("surface-view-bypasses-rls", Severity::error, id,
                           fmt::format("{} {} is readable by {} and runs with its owner's rights{}: the row level security "
                                       "of the tables beneath does not apply to them",
                                       view ? "view" : "materialized view", id, now, view ? " (no security_invoker)" : ""),
                           view ? fmt::format("ALTER VIEW {} SET (security_invoker = true)", id)
                                : fmt::format("REVOKE SELECT ON {} FROM {}", id, now)));
      }
    }
  }

  // Policies: loosened, added, changed.
  for (auto& p : b.policies) {
    auto old_it = a.policy_by_id.find(p.o->id);
    if (old_it == a.policy_by_id.end()) {
      if (a.relations.count(p.table) && a.rls_on.count(p.table) && prop(*p.o, "permissive") == "true")
        out.push_back(make("surface-policy-added", Severity::warning, p.o->id,
                           fmt::format("permissive policy {} was added to {} for {} {}: it is OR'd with the existing ones, "
                                       "so rows it allows become reachable",
                                       p.name, p.table, prop(*p.o, "roles"), prop(*p.o, "command")),
                           "review it; make it AS RESTRICTIVE if it should narrow rather than widen access"));
      continue;
    }
    const Object& old = *old_it->second;
    std::vector<std::string> looser;
    auto roles_now = split_list(prop(*p.o, "roles")), roles_then = split_list(prop(old, "roles"));
    std::set<std::string> added;
    for (auto& r : roles_now)
      if (!roles_then.count(r) && !roles_then.count("PUBLIC")) added.insert(r);
    bool permissive = prop(*p.o, "permissive") == "true";
    if (!added.empty() && permissive) looser.push_back("now applies to " + join(added) + " too");
    if (prop(*p.o, "command") != prop(old, "command") && prop(old, "command") != "ALL" && permissive)
      looser.push_back(fmt::format("command {} became {}", prop(old, "command"), prop(*p.o, "command")));
    if (permissive && prop(old, "permissive") != "true") looser.push_back("became permissive (was restrictive)");
    for (auto* k : {"USING", "WITH CHECK"})
      if (permissive && prop(*p.o, k) == "true" && prop(old, k) != "true")
        looser.push_back(fmt::format("{} became true", k));
    if (p.o->props.count("WITH CHECK") == 0 && old.props.count("WITH CHECK") && prop(*p.o, "USING") != prop(old, "WITH CHECK"))
      looser.push_back("lost its WITH CHECK (new rows are now checked against USING only)");
    if (!looser.empty()) {
      out.push_back(make("surface-policy-loosened", Severity::error, p.o->id,
                         fmt::format("policy {} on {} was loosened: {}", p.name, p.table, fmt::join(looser, "; ")),
                         "review the change; restore the narrower policy if it was not meant"));
    } else {
      std::vector<std::string> changed;
      for (auto* k : {"USING", "WITH CHECK"})
        if (prop(*p.o, k) != prop(old, k)) changed.push_back(fmt::format("{} ({} -> {})", k, prop(old, k), prop(*p.o, k)));
      if (!changed.empty())
        out.push_back(make("surface-policy-changed", Severity::info, p.o->id,
                           fmt::format("policy {} on {} changed {}", p.name, p.table, fmt::join(changed, ", ")),
                           "check the new expression is not looser than the old one"));
    }
  }
  for (auto& p : a.policies)
    if (!b.policy_by_id.count(p.o->id) && prop(*p.o, "permissive") != "true" && b.relations.count(p.table))
      out.push_back(make("surface-policy-loosened", Severity::error, p.o->id,
                         fmt::format("restrictive policy {} on {} was dropped: the permissive policies alone decide now",
                                     p.name, p.table),
                         "restore it if the condition it enforced still holds"));

  // SECURITY DEFINER functions the API can newly call.
  auto callable = [&](const Surface& s, const std::string& id) {
    auto f = s.functions.find(id);
    if (f == s.functions.end() || prop(*f->second, "security definer") != "true") return std::string();
    auto result = prop(*f->second, "result");
    if (result == "trigger" || result == "event_trigger") return std::string();
    std::set<std::string> by;
    for (auto& r : who)
      if (s.has("function " + id, r, "EXECUTE")) by.insert(r);
    return join(by);
  };
  for (auto& [id, f] : b.functions) {
    if (!in_schemas(id, opt.exposed_schemas)) continue;
    auto now = callable(b, id);
    if (!now.empty() && callable(a, id).empty())
      out.push_back(make("surface-definer-executable", Severity::error, id,
                         fmt::format("SECURITY DEFINER function {} became executable by {}: it runs with its owner's "
                                     "rights, callable through the API",
                                     id, now),
                         fmt::format("REVOKE EXECUTE ON FUNCTION {} FROM {}", id, now)));
  }

  // Default privileges that give the API roles more on objects created later.
  for (auto& [id, d] : b.default_acls) {
    // "role schema objtype", schema "*" for every schema.
    auto sp1 = id.find(' '), sp2 = id.rfind(' ');
    if (sp1 == std::string::npos || sp2 == sp1) continue;
    std::string schema = id.substr(sp1 + 1, sp2 - sp1 - 1);
    bool relevant = schema == "*";
    for (auto& s : opt.exposed_schemas) relevant = relevant || schema == ident(s);
    if (!relevant) continue;
    auto old_it = a.default_acls.find(id);
    std::vector<std::string> widened;
    for (auto& r : who) {
      auto now = split_list(prop(*d, r));
      auto then = old_it == a.default_acls.end() ? std::set<std::string>{} : split_list(prop(*old_it->second, r));
      std::set<std::string> more;
      for (auto& x : now)
        if (!then.count(x)) more.insert(x);
      if (!more.empty()) widened.push_back(r + ": " + join(more));
    }
    if (!widened.empty())
      out.push_back(make("surface-default-privileges", Severity::warning, id,
                         fmt::format("{} now grant {}: every such object created later starts out reachable by them",
                                     d->label, fmt::join(widened, "; ")),
                         "grant per object instead, or make sure every new table enables row level security"));
  }

  std::stable_sort(out.begin(), out.end(), [](const Finding& x, const Finding& y) {
    if (x.severity != y.severity) return x.severity > y.severity;
    if (x.rule != y.rule) return x.rule < y.rule;
    return x.object < y.object;
  });
  return out;
}

}  // namespace belay::rls
