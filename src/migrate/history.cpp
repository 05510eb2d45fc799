#include "migrate/history.h"

#include <algorithm>

#include <fmt/format.h>

namespace belay::migrate {
namespace history {

using pg::quote_literal;

Status ensure(pg::Conn& conn, bool supabase) {
  // Usually everything exists already: one cheap query instead of a round of DDL.
  // (With Supabase the DDL always runs: older CLIs made schema_migrations without columns.)
  BELAY_ASSIGN(auto have, conn.query(
      "select to_regclass('belay.migration_log') is not null and to_regclass('belay.schema_snapshot') is not null "
      "and exists (select 1 from pg_attribute where attrelid = to_regclass('belay.migrations') "
      "and attname = 'fingerprint' and not attisdropped)"));
  if (!supabase && have.get(0, 0) == "t") return ok_status();
  // One round trip; IF NOT EXISTS everywhere so concurrent first runs are harmless
  // (they are serialised by the advisory lock anyway).
  std::string ddl = R"(
create schema if not exists belay;
create table if not exists belay.migrations (
  version      text primary key,
  name         text not null,
  checksum     text not null,
  applied_at   timestamptz not null default now(),
  applied_by   text not null default current_user,
  duration_ms  double precision not null default 0,
  state        text not null default 'applied'
               check (state in ('applied', 'partial_up', 'partial_down')),
  progress     integer not null default 0,
  total        integer not null default 0
);
comment on table belay.migrations is 'belay migration history: one row per applied (or partly applied) migration';
-- Append-only and unindexed on purpose: one row per attempt must cost next to nothing.
create table if not exists belay.migration_log (
  at           timestamptz not null default clock_timestamp(),
  version      text not null,
  direction    text not null,
  attempt      integer not null,
  outcome      text not null,
  message      text,
  sqlstate     text,
  duration_ms  double precision,
  runner       text
);
-- Schema fingerprint after a migration (recorded at least after the last one of each run).
alter table belay.migrations add column if not exists fingerprint text;
-- The full schema model at the last recorded fingerprint, so `status --live` can name
-- what changed outside migrations, not only that something did.
create table if not exists belay.schema_snapshot (
  id           integer primary key default 1 check (id = 1),
  version      text,
  fingerprint  text not null,
  model        jsonb not null,
  taken_at     timestamptz not null default now()
);
)";
  if (supabase) {
    // Same shape the Supabase CLI creates, so `supabase migration list` keeps working.
    ddl += R"(
create schema if not exists supabase_migrations;
create table if not exists supabase_migrations.schema_migrations (version text not null primary key);
alter table supabase_migrations.schema_migrations add column if not exists statements text[];
alter table supabase_migrations.schema_migrations add column if not exists name text;
)";
  }
  return conn.exec(ddl);
}

std::string record_applied(const Migration& m, const std::string& applied_by) {
  // now() is the transaction start, so this measures the migration's own transaction.
  return fmt::format(
      "insert into belay.migrations (version, name, checksum, applied_by, duration_ms, state, progress, total) "
      "values ({0}, {1}, {2}, {3}, extract(epoch from clock_timestamp() - now()) * 1000, 'applied', {4}, {4}) "
      "on conflict (version) do update set name = excluded.name, checksum = excluded.checksum, "
      "applied_at = now(), applied_by = excluded.applied_by, "
      "duration_ms = belay.migrations.duration_ms + excluded.duration_ms, "
      "state = 'applied', progress = excluded.progress, total = excluded.total",
      quote_literal(m.version), quote_literal(m.name), quote_literal(m.up.checksum), quote_literal(applied_by),
      m.up.statements.size());
}

std::string record_partial(const Migration& m, const std::string& state, int total, const std::string& applied_by) {
  return fmt::format(
      "insert into belay.migrations (version, name, checksum, applied_by, state, progress, total) "
      "values ({}, {}, {}, {}, {}, 0, {}) "
      "on conflict (version) do update set state = excluded.state, progress = 0, total = excluded.total",
      quote_literal(m.version), quote_literal(m.name), quote_literal(m.up.checksum), quote_literal(applied_by),
      quote_literal(state), total);
}

std::string record_progress(const Migration& m, int done) {
  return fmt::format("update belay.migrations set progress = {} where version = {}", done, quote_literal(m.version));
}

std::string remove(const Migration& m) {
  return fmt::format("delete from belay.migrations where version = {}", quote_literal(m.version));
}

std::string supabase_insert(const Migration& m) {
  std::string arr = "array[";
  for (size_t i = 0; i < m.up.statements.size(); ++i)
    arr += (i ? "," : "") + quote_literal(m.up.statements[i].text);
  arr += "]::text[]";
  return fmt::format(
      "insert into supabase_migrations.schema_migrations (version, name, statements) values ({}, {}, {}) "
      "on conflict (version) do nothing",
      quote_literal(m.version), quote_literal(m.name), arr);
}

std::string supabase_delete(const Migration& m) {
  return fmt::format("delete from supabase_migrations.schema_migrations where version = {}", quote_literal(m.version));
}

std::string log_row(const std::string& version, const std::string& direction, int attempt, const std::string& outcome,
                    const std::string& message, const std::string& sqlstate, double duration_ms,
                    const std::string& runner) {
  return fmt::format(
      "insert into belay.migration_log (version, direction, attempt, outcome, message, sqlstate, duration_ms, runner) "
      "values ({}, {}, {}, {}, {}, {}, {}, {})",
      quote_literal(version), quote_literal(direction), attempt, quote_literal(outcome), quote_literal(message),
      sqlstate.empty() ? "null" : quote_literal(sqlstate), duration_ms, quote_literal(runner));
}

}  // namespace history

Result<std::vector<Applied>> read_history(pg::Conn& conn) {
  std::vector<Applied> out;
  BELAY_ASSIGN(auto exists, conn.query("select to_regclass('belay.migrations') is not null"));
  if (exists.get(0, 0) != "t") return out;
  BELAY_ASSIGN(auto rows, conn.query(
      "select version, name, checksum, to_char(applied_at at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
      "applied_by, duration_ms, state, progress, total, coalesce(to_jsonb(m) ->> 'fingerprint', '') "
      "from belay.migrations m"));
  for (int i = 0; i < rows.size(); ++i) {
    Applied a;
    a.version = rows.get(i, 0);
    a.name = rows.get(i, 1);
    a.checksum = rows.get(i, 2);
    a.applied_at = rows.get(i, 3);
    a.applied_by = rows.get(i, 4);
    a.duration_ms = std::stod(rows.get(i, 5));
    a.state = rows.get(i, 6);
    a.progress = std::stoi(rows.get(i, 7));
    a.total = std::stoi(rows.get(i, 8));
    a.fingerprint = rows.get(i, 9);
    out.push_back(std::move(a));
  }
  std::sort(out.begin(), out.end(),
            [](const Applied& x, const Applied& y) { return compare_versions(x.version, y.version) < 0; });
  return out;
}

}  // namespace belay::migrate
