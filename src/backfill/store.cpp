#include "backfill/store.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <random>
#include <set>
#include <thread>

#include <fmt/format.h>

namespace belay::backfill {

using pg::quote_ident;
using pg::quote_literal;

Result<bool> tables_exist(pg::Conn& conn) {
  BELAY_ASSIGN(auto r, conn.query("select to_regclass('belay.backfill_progress') is not null "
                                  "and to_regclass('belay.backfill_audit_rows') is not null"));
  return r.get(0, 0) == "t";
}

Status ensure_tables(pg::Conn& conn) {
  BELAY_ASSIGN(bool have, tables_exist(conn));
  if (have) return ok_status();
  // One transaction; the advisory lock serialises first runs of different jobs.
  return conn.exec(R"(
begin;
select pg_advisory_xact_lock(hashtext('belay.backfill.ddl'));
create schema if not exists belay;
-- One row per run: what it read (its backup table), with which job, and how it ended.
create table if not exists belay.backfill_runs (
  run_id        text primary key,
  job           text not null,
  job_file      text not null,
  job_checksum  text not null,
  state         text not null check (state in ('running', 'done', 'rolled_back')),
  started_at    timestamptz not null default now(),
  finished_at   timestamptz,
  started_by    text not null default current_user,
  backup_table  text,
  users_planned bigint not null default 0,
  options       jsonb
);
-- One row per job and user, written in the same transaction as the user's rows: a user
-- is done (all its rows landed) or quarantined (none did). A rerun skips both.
create table if not exists belay.backfill_progress (
  job            text not null,
  user_key       text not null,
  run_id         text not null,
  source_id      text,
  source_version text,
  state          text not null check (state in ('done', 'quarantined')),
  rows           integer not null default 0,
  at             timestamptz not null default now(),
  primary key (job, user_key)
);
-- What a run created, per user and entity: the source row, the target table, the old ids
-- and the new ids in the same order, and how many elements were skipped by policy.
-- Rollback deletes exactly these ids; verify checks them. belay.backfill_audit_rows shows
-- one row per created row.
create table if not exists belay.backfill_audit (
  job           text not null,
  run_id        text not null,
  user_key      text not null,
  source_table  text not null,
  source_id     text,
  entity        text not null,
  target_table  text not null,
  old_ids       text[] not null,
  target_ids    uuid[] not null,
  skipped       integer not null default 0,
  at            timestamptz not null default now()
);
create index if not exists backfill_audit_user_idx on belay.backfill_audit (job, user_key);
-- A run grows these tables batch by batch: autovacuum would analyze them over and over
-- (statistics on the id arrays are the costly part and no query needs them).
alter table belay.backfill_audit alter column old_ids set statistics 0, alter column target_ids set statistics 0,
  set (autovacuum_analyze_scale_factor = 1, autovacuum_vacuum_insert_scale_factor = 1);
alter table belay.backfill_progress set (autovacuum_analyze_scale_factor = 1, autovacuum_vacuum_insert_scale_factor = 1);
-- Every time a user was quarantined, with the reason (a policy or the server's error).
create table if not exists belay.backfill_quarantine (
  job        text not null,
  run_id     text not null,
  user_key   text not null,
  source_id  text,
  reason     text not null,
  sqlstate   text,
  problems   jsonb,
  at         timestamptz not null default now()
);
create or replace view belay.backfill_audit_rows as
  select a.job, a.run_id, a.user_key, a.source_table, a.source_id, a.entity, a.target_table,
         u.old_id, u.target_id, a.at
  from belay.backfill_audit a, unnest(a.old_ids, a.target_ids) as u (old_id, target_id);
commit;
)");
}

Status lock_job(pg::Conn& conn, const Job& job, milliseconds wait) {
  auto key = quote_literal("belay.backfill:" + job.name);
  auto deadline = std::chrono::steady_clock::now() + wait;
  while (true) {
    BELAY_ASSIGN(auto r, conn.query(fmt::format("select pg_try_advisory_lock(hashtextextended({}, 0))", key)));
    if (r.get(0, 0) == "t") return ok_status();
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  auto holder = conn.query(fmt::format(
      "select a.pid, coalesce(a.application_name, ''), coalesce(a.client_addr::text, 'local'), "
      "to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS') from pg_locks l join pg_stat_activity a on a.pid = l.pid "
      "where l.locktype = 'advisory' and l.granted and l.database = (select oid from pg_database where datname = "
      "current_database()) and ((l.classid::bigint << 32) | l.objid::bigint) = hashtextextended({}, 0) limit 1",
      key));
  std::string who = "another session";
  if (holder.ok() && holder->size())
    who = fmt::format("pid {} ({}, {}, since {})", holder->get(0, 0), holder->get(0, 1), holder->get(0, 2),
                      holder->get(0, 3));
  Error e(ExitCode::locked, fmt::format("backfill job '{}' is being run or rolled back by {}", job.name, who));
  e.next = "wait for it to finish (or stop it: its work so far is kept and a rerun resumes)";
  return e;
}

void unlock_job(pg::Conn& conn, const Job& job) {
  conn.query("select pg_advisory_unlock(hashtextextended($1, 0))", {"belay.backfill:" + job.name}).ok();
}

std::string latest_rows_sql(const Job& job) {
  auto u = quote_ident(job.source.user), id = quote_ident(job.source.id);
  std::string order = fmt::format("s.{}::text", u);
  if (!job.source.latest_by.empty()) order += fmt::format(", s.{} desc nulls last", quote_ident(job.source.latest_by));
  order += fmt::format(", s.{} desc", id);
  return fmt::format("select distinct on (s.{0}::text) s.*, s.{0}::text as belay_user from {1} s "
                     "where s.{0} is not null and s.{0}::text <> '' order by {2}",
                     u, job.source_qualified(), order);
}

std::string text_array(const std::vector<std::string>& items) {
  std::string out = "{";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    out += '"';
    for (char c : items[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

std::string make_run_id() {
  auto now = std::chrono::system_clock::now();
  auto t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::random_device rd;
  return fmt::format("{:04}{:02}{:02}T{:02}{:02}{:02}Z-{:04x}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, rd() & 0xffff);
}

namespace {

struct Attr {
  std::string type;  // base type name (domains resolved)
  bool not_null = false, has_default = false;
};

Result<std::map<std::string, Attr>> attributes(pg::Conn& conn, const std::string& qualified, bool& exists) {
  BELAY_ASSIGN(auto r, conn.query(
      "select a.attname, case when t.typtype = 'd' then (select b.typname from pg_type b where b.oid = t.typbasetype) "
      "else t.typname end, a.attnotnull, a.atthasdef or a.attidentity <> '' or a.attgenerated <> '', "
      "to_regclass($1) is not null "
      "from (select to_regclass($1) as oid) c left join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 "
      "and not a.attisdropped left join pg_type t on t.oid = a.atttypid",
      {qualified}));
  std::map<std::string, Attr> out;
  exists = r.size() > 0 && r.get(0, 4) == "t";
  for (int i = 0; i < r.size(); ++i)
    if (!r.null(i, 0)) out[r.get(i, 0)] = Attr{r.get(i, 1), r.get(i, 2) == "t", r.get(i, 3) == "t"};
  return out;
}

IntBounds bounds_of(const std::string& type) {
  if (type == "int2") return {-32768, 32767};
  if (type == "int4") return {INT32_MIN, INT32_MAX};
  return {};
}

}  // namespace

Result<Catalog> inspect(pg::Conn& conn, const Job& job) {
  const std::string file = job.file.string();
  Catalog cat;
  bool exists = false;
  auto src_name = job.source.schema.empty() ? job.source.table : job.source.schema + "." + job.source.table;
  BELAY_ASSIGN(auto src, attributes(conn, job.source_qualified(), exists));
  if (!exists)
    return Error::usage(fmt::format("source table {} does not exist", src_name))
        .with_file(file, job.source.at.line, job.source.at.column)
        .with_object(src_name)
        .with_next("check [source] table (and the target: --target) or run the migrations first");
  for (auto* col : {&job.source.id, &job.source.user, &job.source.column, &job.source.latest_by}) {
    if (col->empty() || src.count(*col)) continue;
    return Error::usage(fmt::format("source table {} has no column '{}'", src_name, *col))
        .with_file(file, job.source.at.line, job.source.at.column)
        .with_object(src_name);
  }
  cat.doc_type = src[job.source.column].type;
  if (cat.doc_type != "jsonb" && cat.doc_type != "json" && cat.doc_type != "text" && cat.doc_type != "varchar")
    return Error::usage(fmt::format("source column {} is {}; it must be jsonb, json or text", job.source.column,
                                    cat.doc_type))
        .with_file(file, job.source.at.line, job.source.at.column);

  std::vector<std::string> oid_of;  // target table oid per entity
  for (size_t ei = 0; ei < job.entities.size(); ++ei) {
    const Entity& e = job.entities[ei];
    auto name = e.schema.empty() ? e.table : e.schema + "." + e.table;
    auto where = [&](const Where& w, std::string msg) {
      return Error::usage(std::move(msg)).with_file(file, w.line, w.column).with_object(name);
    };
    BELAY_ASSIGN(auto attrs, attributes(conn, e.qualified(), exists));
    if (!exists) return where(e.at, fmt::format("entity {}: target table {} does not exist", e.name, name));
    auto idc = attrs.find(e.id_column);
    if (idc == attrs.end() || idc->second.type != "uuid")
      return where(e.at, fmt::format("entity {}: table {} needs a uuid column '{}' for the new ids", e.name, name,
                                     e.id_column));
    if (!e.user_column.empty() && !attrs.count(e.user_column))
      return where(e.at, fmt::format("entity {}: table {} has no column '{}' for the user key (set user_column, or "
                                     "user_column = \"\" for none)", e.name, name, e.user_column));
    Target t;
    std::set<std::string> filled{e.id_column, e.user_column};
    for (size_t ci = 0; ci < e.columns.size(); ++ci) {
      const Column& c = e.columns[ci];
      auto a = attrs.find(c.name);
      if (a == attrs.end()) return where(c.at, fmt::format("table {} has no column '{}'", name, c.name));
      if (!c.ref.empty() && a->second.type != "uuid")
        return where(c.at, fmt::format("column {}.{} holds a reference, so it must be uuid (it is {})", name, c.name,
                                       a->second.type));
      t.not_null.push_back(a->second.not_null);
      t.bounds.push_back(c.type == Type::int_ ? bounds_of(a->second.type) : IntBounds{});
      (c.ref.empty() ? t.plain : t.refs).push_back(ci);
      filled.insert(c.name);
    }
    for (auto& [col, a] : attrs)
      if (a.not_null && !a.has_default && !filled.count(col))
        return where(e.at, fmt::format("entity {}: column {}.{} is NOT NULL without a default and the job does not "
                                       "fill it; every row would fail", e.name, name, col));
    std::string cols = quote_ident(e.id_column);
    if (!e.user_column.empty()) cols += ", " + quote_ident(e.user_column);
    for (auto i : t.plain) cols += ", " + quote_ident(e.columns[i].name);
    for (auto i : t.refs) cols += ", " + quote_ident(e.columns[i].name);
    t.copy_sql = fmt::format("copy {} ({}) from stdin", e.qualified(), cols);
    cat.targets.push_back(std::move(t));
    BELAY_ASSIGN(auto oid, conn.query("select to_regclass($1)::oid::text", {e.qualified()}));
    oid_of.push_back(oid.get(0, 0));
  }

  // Parents first: the job's references, plus foreign keys between the target tables.
  std::vector<std::set<size_t>> deps(job.entities.size());
  for (size_t i = 0; i < job.entities.size(); ++i)
    for (auto& c : job.entities[i].columns)
      for (size_t j = 0; j < job.entities.size(); ++j)
        if (j != i && job.entities[j].name == c.ref) deps[i].insert(j);
  BELAY_ASSIGN(auto fks, conn.query("select conrelid::oid::text, confrelid::oid::text from pg_constraint "
                                    "where contype = 'f' and conrelid::oid::text = any($1::text[]) "
                                    "and confrelid::oid::text = any($1::text[])",
                                    {text_array(oid_of)}));
  for (int r = 0; r < fks.size(); ++r)
    for (size_t i = 0; i < job.entities.size(); ++i)
      for (size_t j = 0; j < job.entities.size(); ++j)
        if (i != j && oid_of[i] == fks.get(r, 0) && oid_of[j] == fks.get(r, 1) && oid_of[i] != oid_of[j])
          deps[i].insert(j);
  std::vector<bool> placed(job.entities.size(), false);
  while (cat.write_order.size() < job.entities.size()) {
    bool progress = false;
    for (size_t i = 0; i < job.entities.size() && !progress; ++i) {
      if (placed[i] || !std::all_of(deps[i].begin(), deps[i].end(), [&](size_t d) { return placed[d]; })) continue;
      placed[i] = true;
      cat.write_order.push_back(i);
      progress = true;
    }
    if (!progress)
      return Error::usage("foreign keys between the target tables form a cycle; belay cannot order the writes")
          .with_file(file, job.entities[0].at.line, job.entities[0].at.column);
  }
  return cat;
}

}  // namespace belay::backfill
