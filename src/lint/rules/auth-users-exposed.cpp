// auth-users-exposed: a view in an exposed schema over auth.users.
#include <algorithm>

#include <fmt/format.h>

#include "lint/rule.h"

namespace belay::lint {
using namespace tree;

const Rule& rule_auth_users_exposed() {
  static const Rule r{
      {"auth-users-exposed", "security", Severity::error,
       "A view or materialized view in an exposed schema reads auth.users",
       "auth.users holds every user's e-mail, phone and metadata. A view over it in an exposed\n"
       "schema serves that to API clients (without security_invoker, to anon too). Copy the few\n"
       "public columns into a profiles table kept by a trigger, protected by RLS."},
      {{true, {"create view public.people with (security_invoker = true) as select id, email from auth.users;"}},
       {false, {"create view public.profiles_v with (security_invoker = true) as select id from public.profiles;"}},
       {false, {"create view private.people as select id, email from auth.users;"}}},
      [](const StmtCtx& c) {
        std::string v;
        if (c.kind == "ViewStmt") v = relation(at(c.node, "view"));
        else if (c.kind == "CreateTableAsStmt" && str(c.node, "objtype") == "OBJECT_MATVIEW") v = relation(at(at(c.node, "into"), "rel"));
        if (v.empty() || !c.state.exposed(v, c.opt)) return;
        const auto& rels = c.st.relations;
        if (std::find(rels.begin(), rels.end(), "auth.users") == rels.end()) return;
        c.flag(-1, fmt::format("{} exposes auth.users (e-mails, phones, metadata) to API clients", v), v,
               "a profiles table with the public columns, kept by a trigger, protected by RLS");
      },
      nullptr};
  return r;
}

}  // namespace belay::lint
