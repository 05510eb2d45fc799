// view-without-security-invoker: views bypass RLS of the tables they read.
#include <fmt/format.h>

#include "lint/rule.h"

namespace belay::lint {
using namespace tree;

const Rule& rule_view_without_security_invoker() {
  static const Rule r{
      {"view-without-security-invoker", "security", Severity::error,
       "A view in an exposed schema without security_invoker",
       "A view runs with its owner's rights (usually postgres, who bypasses RLS), so API clients\n"
       "reading it see every row of the tables underneath whatever their policies say. Create it\n"
       "WITH (security_invoker = true) (PostgreSQL 15+) so the caller's policies apply; on older\n"
       "servers, keep the view out of exposed schemas or revoke it from anon and authenticated."},
      {{true, {"create view public.active_users as select * from users where active;"}},
       {true, {"create view v with (security_invoker = false) as select 1;"}},
       {false, {"create view public.active_users with (security_invoker = true) as select * from users;"}},
       {false, {"create view private.v as select 1;"}}},
      [](const StmtCtx& c) {
        if (c.kind != "ViewStmt") return;
        std::string v = relation(at(c.node, "view"));
        if (!c.state.exposed(v, c.opt)) return;
        std::string inv = option(at(c.node, "options"), "security_invoker");
        if (inv == "true" || inv == "on" || inv == "1") return;
        c.flag(-1, fmt::format("view {} runs with its owner's rights: API clients bypass the RLS of the tables it reads", v), v,
               c.opt.pg_version >= 15 ? "CREATE VIEW ... WITH (security_invoker = true) AS ..."
                                      : "move the view out of the exposed schema, or revoke it from anon and authenticated");
      },
      nullptr};
  return r;
}

}  // namespace belay::lint
