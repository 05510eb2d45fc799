// Installing the store and reading from it.
#include <openssl/rand.h>

#include <fmt/format.h>

#include "flagstore/internal.h"
#include "util/sha256.h"

namespace belay::flagstore {

namespace {

// The build's store version: a digest of the SQL it installs. A store installed by another
// build is reinstalled (every statement is idempotent; data stays).
const std::string& store_version() {
  static const std::string v = sha256_hex(std::string(detail::eval_sql()) + "\n" +
                                          std::string(detail::schema_sql())).substr(0, 16);
  return v;
}

nlohmann::json parse_or_null(const std::optional<std::string>& text) {
  if (!text) return nullptr;
  auto j = nlohmann::json::parse(*text, nullptr, false);
  return j.is_discarded() ? nlohmann::json(nullptr) : j;
}

// The server built this JSON; should it not parse, say so rather than throw.
Result<nlohmann::json> parse_or_error(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) return Error::failure("the flag store returned JSON that does not parse");
  return j;
}

}  // namespace

namespace detail {

Status in_transaction(pg::Conn& conn, const Change& who, const std::function<Status()>& body) {
  BELAY_TRY(conn.exec("begin"));
  auto st = conn.query("select set_config('belay.actor', $1, true), set_config('belay.reason', $2, true)",
                       {who.actor, who.reason});
  Status result = st ? body() : Status(std::move(st).error());
  if (result) result = conn.exec("commit");  // the deferred trigger rebuilds the snapshots here
  if (!result) (void)conn.exec("rollback");
  return result;
}

Status ensure_environment(pg::Conn& conn, std::string_view environment) {
  auto r = conn.query("insert into belay.flag_environments (name) values ($1) on conflict do nothing",
                      {std::string(environment)});
  if (!r) {
    Error e = std::move(r).error();
    if (e.sqlstate == "23514")
      return Error::usage(fmt::format("environment name \"{}\" is not valid: use letters, digits, '.', '_' or '-'",
                                      environment));
    return e;
  }
  return ok_status();
}

Status require_flag(pg::Conn& conn, std::string_view name) {
  BELAY_ASSIGN(auto r, conn.query("select 1 from belay.flags where name = $1", {std::string(name)}));
  if (r.size() == 0)
    return std::move(Error::not_found(fmt::format("no flag named \"{}\"", name)).with_object(std::string(name)))
        .with_next("list the flags with `belay flags list`");
  return ok_status();
}

}  // namespace detail

Result<bool> installed(pg::Conn& conn) {
  BELAY_ASSIGN(auto r, conn.query("select to_regclass('belay.flag_snapshots') is not null "
                                  "and to_regprocedure('belay.flag_store_version()') is not null"));
  return r.get(0, 0) == "t";
}

Status install(pg::Conn& conn) {
  BELAY_ASSIGN(bool have, installed(conn));
  if (have) {
    BELAY_ASSIGN(auto v, conn.query("select belay.flag_store_version()"));
    if (v.get(0, 0) == store_version()) return ok_status();
  }
  std::string ddl = "begin;\n";
  ddl += detail::eval_sql();
  ddl += "\n";
  ddl += detail::schema_sql();
  ddl += fmt::format("\ncreate or replace function belay.flag_store_version() returns text "
                     "language sql immutable as $$ select '{}'::text $$;\ncommit;\n", store_version());
  auto st = conn.exec(ddl);
  if (!st) {
    (void)conn.exec("rollback");
    return std::move(Error(st.error()).with_next("belay installs its flag store in schema belay; "
                                                 "the role needs CREATE on the database"));
  }
  return ok_status();
}

Result<Loaded> load(pg::Conn& conn, std::string_view environment) {
  BELAY_ASSIGN(auto r, conn.query("select document::text, revision from belay.flag_snapshots where environment = $1",
                                  {std::string(environment)}));
  if (r.size() == 0)
    return std::move(Error::not_found(fmt::format("no flag environment named \"{}\"", environment))
                         .with_object(std::string(environment)))
        .with_next("create flags in it with `belay flags create NAME --environment ENV`");
  Loaded out;
  out.document = r.get(0, 0);
  out.revision = std::stoll(r.get(0, 1));
  out.etag = fmt::format("\"{}:{}\"", environment, out.revision);
  BELAY_ASSIGN(out.snapshot, flags::parse_client_features(out.document));
  return out;
}

std::string token_hash(std::string_view secret) { return sha256_hex(secret); }

Result<std::vector<Token>> tokens(pg::Conn& conn) {
  BELAY_ASSIGN(auto r, conn.query("select name, kind, environment, secret_sha256 from belay.flag_tokens "
                                  "where revoked_at is null order by name"));
  std::vector<Token> out;
  for (int i = 0; i < r.size(); ++i) out.push_back({r.get(i, 0), r.get(i, 1), r.get(i, 2), r.get(i, 3)});
  return out;
}

Result<std::string> create_token(pg::Conn& conn, std::string_view name, std::string_view kind,
                                 std::string_view environment, const Change& who) {
  if (kind != "client" && kind != "frontend" && kind != "admin")
    return Error::usage(fmt::format("token kind \"{}\" is not one of client, frontend, admin", kind));
  unsigned char raw[32];
  if (RAND_bytes(raw, sizeof raw) != 1) return Error::failure("could not draw random bytes for a token");
  std::string secret = fmt::format("{}:{}.", kind, environment);
  for (unsigned char c : raw) secret += fmt::format("{:02x}", c);
  BELAY_TRY(detail::in_transaction(conn, who, [&]() -> Status {
    BELAY_TRY(detail::ensure_environment(conn, environment));
    auto r = conn.query("insert into belay.flag_tokens (name, kind, environment, secret_sha256) values ($1, $2, $3, $4)",
                        {std::string(name), std::string(kind), std::string(environment), token_hash(secret)});
    if (!r) {
      Error e = std::move(r).error();
      if (e.sqlstate == "23505") return Error::usage(fmt::format("a token named \"{}\" exists already", name));
      if (e.sqlstate == "23514")
        return Error::usage(fmt::format("token name \"{}\" is not valid: use letters, digits, '.', '_' or '-'", name));
      return e;
    }
    return ok_status();
  }));
  return secret;
}

Status revoke_token(pg::Conn& conn, std::string_view name, const Change& who) {
  return detail::in_transaction(conn, who, [&]() -> Status {
    BELAY_ASSIGN(auto r, conn.query("update belay.flag_tokens set revoked_at = now() "
                                    "where name = $1 and revoked_at is null returning 1", {std::string(name)}));
    if (r.size() == 0) return Error::not_found(fmt::format("no active token named \"{}\"", name));
    return ok_status();
  });
}

Result<nlohmann::json> show(pg::Conn& conn, std::string_view name) {
  BELAY_TRY(detail::require_flag(conn, name));
  BELAY_ASSIGN(auto r, conn.query(R"(
select (jsonb_strip_nulls(jsonb_build_object('name', f.name, 'description', f.description)) || jsonb_build_object(
  'type', f.type, 'project', f.project, 'stale', f.stale, 'impressionData', f.impression_data,
  'createdAt', f.created_at,
  'environments', coalesce((select jsonb_object_agg(e.name, jsonb_build_object(
      'enabled', coalesce((select enabled from belay.flag_states s where s.flag = f.name and s.environment = e.name), false),
      'strategies', coalesce((select jsonb_agg(jsonb_strip_nulls(jsonb_build_object('id', s.id, 'name', s.name, 'title', s.title))
            || jsonb_build_object('disabled', s.disabled, 'parameters', s.parameters, 'constraints', s.constraints,
                                  'segments', to_jsonb(s.segments), 'variants', s.variants) order by s.sort_order, s.id)
          from belay.flag_strategies s where s.flag = f.name and s.environment = e.name), '[]'),
      'variants', coalesce((select jsonb_agg(jsonb_strip_nulls(jsonb_build_object('name', v.name, 'weight', v.weight,
            'weightType', v.weight_type, 'stickiness', v.stickiness, 'payload', v.payload)) || jsonb_build_object('overrides', v.overrides)
            order by v.sort_order, v.name)
          from belay.flag_variants v where v.flag = f.name and v.environment = e.name), '[]'),
      'overrides', coalesce((select jsonb_object_agg(o.workspace, o.enabled)
          from belay.flag_workspace_overrides o where o.flag = f.name and o.environment = e.name), '{}')))
    from belay.flag_environments e), '{}'),
  'dependencies', coalesce((select jsonb_agg(jsonb_strip_nulls(jsonb_build_object('feature', d.parent,
        'enabled', d.enabled, 'variants', to_jsonb(d.variants))) order by d.parent)
      from belay.flag_dependencies d where d.flag = f.name), '[]')))::text
from belay.flags f where f.name = $1)", {std::string(name)}));
  return parse_or_error(r.get(0, 0));
}

Result<nlohmann::json> list(pg::Conn& conn, std::string_view environment) {
  BELAY_ASSIGN(auto r, conn.query(R"(
select coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object('name', f.name, 'description', f.description))
  || jsonb_build_object('type', f.type, 'environment', $1::text,
     'enabled', coalesce((select enabled from belay.flag_states s where s.flag = f.name and s.environment = $1), false),
     'strategies', (select count(*) from belay.flag_strategies s where s.flag = f.name and s.environment = $1),
     'rollout', (select (s.parameters ->> 'rollout') from belay.flag_strategies s
                  where s.flag = f.name and s.environment = $1 and s.name = 'flexibleRollout'
                  order by s.sort_order, s.id limit 1),
     'overrides', (select count(*) from belay.flag_workspace_overrides o where o.flag = f.name and o.environment = $1))
  order by f.name), '[]')::text
from belay.flags f)", {std::string(environment)}));
  return parse_or_error(r.get(0, 0));
}

Result<std::vector<AuditEntry>> history(pg::Conn& conn, std::string_view flag, int limit) {
  BELAY_ASSIGN(auto r, conn.query(
      "select id, to_char(at at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), actor, reason, flag, "
      "environment, entity, action, before::text, after::text from belay.flag_audit "
      "where flag = $1 order by id desc limit $2",
      {std::string(flag), std::to_string(limit)}));
  std::vector<AuditEntry> out;
  for (int i = r.size() - 1; i >= 0; --i) {  // oldest first
    AuditEntry e;
    e.id = std::stoll(r.get(i, 0));
    e.at = r.get(i, 1);
    e.actor = r.get(i, 2);
    e.reason = r.get(i, 3);
    e.flag = r.get(i, 4);
    e.environment = r.get(i, 5);
    e.entity = r.get(i, 6);
    e.action = r.get(i, 7);
    e.before = parse_or_null(r.opt(i, 8));
    e.after = parse_or_null(r.opt(i, 9));
    out.push_back(std::move(e));
  }
  return out;
}

nlohmann::json to_json(const AuditEntry& e) {
  nlohmann::json j{{"id", e.id}, {"at", e.at}, {"actor", e.actor}, {"flag", e.flag},
                   {"entity", e.entity}, {"action", e.action}, {"before", e.before}, {"after", e.after}};
  j["reason"] = e.reason.empty() ? nlohmann::json(nullptr) : nlohmann::json(e.reason);
  j["environment"] = e.environment.empty() ? nlohmann::json(nullptr) : nlohmann::json(e.environment);
  return j;
}

}  // namespace belay::flagstore
