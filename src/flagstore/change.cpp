// Changing flags: each call one audited transaction; the commit rebuilds and announces.
#include <fmt/format.h>

#include "flagstore/internal.h"

namespace belay::flagstore {

using detail::in_transaction;
using detail::require_flag;

namespace {

// Server errors on the flag tables, said in the user's words.
Error flag_error(Error e, std::string_view name) {
  if (e.sqlstate == "23505")
    return std::move(Error::usage(fmt::format("a flag named \"{}\" exists already", name)).with_object(std::string(name)));
  if (e.sqlstate == "23514" && e.message.find("flags_name_check") != std::string::npos)
    return Error::usage(fmt::format("flag name \"{}\" is not valid: 1 to 100 characters, without spaces, control "
                                    "characters or / ? # % \\", name));
  return e;
}

}  // namespace

Status create(pg::Conn& conn, const NewFlag& f, std::string_view environment, const Change& who) {
  if (f.rollout && (*f.rollout < 0 || *f.rollout > 100))
    return Error::usage(fmt::format("rollout {} is not a percentage (0..100)", *f.rollout));
  return in_transaction(conn, who, [&]() -> Status {
    BELAY_TRY(detail::ensure_environment(conn, environment));
    auto ins = conn.query("insert into belay.flags (name, description, type) values ($1, nullif($2, ''), $3)",
                          {f.name, f.description, f.type.empty() ? std::string("release") : f.type});
    if (!ins) return flag_error(std::move(ins).error(), f.name);
    BELAY_TRY(conn.query("insert into belay.flag_states (flag, environment, enabled) values ($1, $2, $3)",
                         {f.name, std::string(environment), f.enabled ? "true" : "false"}));
    if (f.rollout)
      BELAY_TRY(conn.query("insert into belay.flag_strategies (flag, environment, name, parameters) values ($1, $2, "
                           "'flexibleRollout', jsonb_build_object('rollout', $3::text, 'stickiness', 'default', 'groupId', $1::text))",
                           {f.name, std::string(environment), std::to_string(*f.rollout)}));
    return ok_status();
  });
}

Status remove(pg::Conn& conn, std::string_view name, const Change& who) {
  return in_transaction(conn, who, [&]() -> Status {
    BELAY_TRY(require_flag(conn, name));
    // Its dependants would turn off (a missing parent is never satisfied): say so instead.
    BELAY_ASSIGN(auto deps, conn.query("select string_agg(distinct flag, ', ' order by flag) from belay.flag_dependencies "
                                       "where parent = $1 and flag <> $1", {std::string(name)}));
    if (!deps.get(0, 0).empty())
      return std::move(Error::refused(fmt::format("flag \"{}\" is a parent of {}", name, deps.get(0, 0)))
                           .with_object(std::string(name)))
          .with_next("remove those dependencies first (belay.flag_dependencies)");
    auto r = conn.query("delete from belay.flags where name = $1", {std::string(name)});
    if (!r) return flag_error(std::move(r).error(), name);
    return ok_status();
  });
}

Status set_enabled(pg::Conn& conn, std::string_view name, std::string_view environment, bool on, const Change& who) {
  return in_transaction(conn, who, [&]() -> Status {
    BELAY_TRY(require_flag(conn, name));
    BELAY_TRY(detail::ensure_environment(conn, environment));
    BELAY_TRY(conn.query("insert into belay.flag_states (flag, environment, enabled) values ($1, $2, $3) "
                         "on conflict (flag, environment) do update set enabled = excluded.enabled",
                         {std::string(name), std::string(environment), on ? "true" : "false"}));
    return ok_status();
  });
}

Status set_rollout(pg::Conn& conn, std::string_view name, std::string_view environment, int pct, const Change& who) {
  if (pct < 0 || pct > 100) return Error::usage(fmt::format("rollout {} is not a percentage (0..100)", pct));
  return in_transaction(conn, who, [&]() -> Status {
    BELAY_TRY(require_flag(conn, name));
    BELAY_TRY(detail::ensure_environment(conn, environment));
    const std::string n(name), env(environment), p = std::to_string(pct);
    BELAY_ASSIGN(auto r, conn.query("select id from belay.flag_strategies where flag = $1 and environment = $2 "
                                    "and name = 'flexibleRollout' order by sort_order, id for update",
                                    {n, env}));
    if (r.size() > 1) {
      std::string ids;
      for (int i = 0; i < r.size(); ++i) ids += (i ? ", " : "") + r.get(i, 0);
      return std::move(Error::refused(fmt::format("flag \"{}\" has {} flexibleRollout strategies in {} (ids {}): "
                                                  "which one to change is ambiguous", n, r.size(), env, ids))
                           .with_object(n))
          .with_next("change the one you mean through the admin API or SQL on belay.flag_strategies");
    }
    if (r.size() == 1) {
      BELAY_TRY(conn.query("update belay.flag_strategies set parameters = parameters || jsonb_build_object('rollout', $2::text) "
                           "where id = $1", {r.get(0, 0), p}));
    } else {
      BELAY_TRY(conn.query("insert into belay.flag_strategies (flag, environment, name, parameters, sort_order) "
                           "select $1, $2, 'flexibleRollout', jsonb_build_object('rollout', $3::text, 'stickiness', "
                           "'default', 'groupId', $1::text), coalesce(max(sort_order) + 1, 0) "
                           "from belay.flag_strategies where flag = $1 and environment = $2", {n, env, p}));
    }
    return ok_status();
  });
}

Status set_override(pg::Conn& conn, std::string_view name, std::string_view environment, std::string_view workspace,
                    std::optional<bool> on, const Change& who) {
  if (workspace.empty()) return Error::usage("a workspace override needs a workspace name");
  return in_transaction(conn, who, [&]() -> Status {
    BELAY_TRY(require_flag(conn, name));
    BELAY_TRY(detail::ensure_environment(conn, environment));
    const std::string n(name), env(environment), w(workspace);
    if (!on) {
      BELAY_ASSIGN(auto r, conn.query("delete from belay.flag_workspace_overrides where flag = $1 and environment = $2 "
                                      "and workspace = $3 returning 1", {n, env, w}));
      if (r.size() == 0)
        return Error::not_found(fmt::format("flag \"{}\" has no override for workspace \"{}\" in {}", n, w, env));
      return ok_status();
    }
    BELAY_TRY(conn.query("insert into belay.flag_workspace_overrides (flag, environment, workspace, enabled) "
                         "values ($1, $2, $3, $4) on conflict (flag, environment, workspace) "
                         "do update set enabled = excluded.enabled", {n, env, w, *on ? "true" : "false"}));
    return ok_status();
  });
}

}  // namespace belay::flagstore
