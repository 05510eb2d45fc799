#include "migrate/lock.h"

#include <fmt/format.h>

#include "util/text.h"

namespace belay::migrate::lock {
namespace {
// pg_advisory_lock(int, int) key: 'bela' and the migration lock number.
constexpr const char* kKey = "1650814049, 1";
}

Status acquire(pg::Conn& conn, milliseconds wait) {
  // Wait server-side so the lock changes hands the instant it is released.
  BELAY_ASSIGN(auto got, conn.query(fmt::format("select pg_try_advisory_lock({})", kKey)));
  if (got.get(0, 0) == "t") return ok_status();
  pg::ServerError se;
  auto r = conn.exec_detailed(fmt::format("set lock_timeout = '{}'; select pg_advisory_lock({}); reset lock_timeout",
                                          text::pg_duration(wait), kKey));
  if (!r) return ok_status();
  conn.exec("reset lock_timeout").ok();
  if (r->sqlstate != "55P03") return pg::to_error(*r);
  auto holder = conn.query(
      "select a.pid, coalesce(nullif(a.application_name, ''), '?'), a.usename, "
      "to_char(a.backend_start at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
      "coalesce(a.client_addr::text, 'local socket'), a.state "
      "from pg_locks l join pg_stat_activity a on a.pid = l.pid "
      "where l.locktype = 'advisory' and l.granted and l.classid = 1650814049 and l.objid = 1 "
      "and l.objsubid = 2 and l.database = (select oid from pg_database where datname = current_database())");
  Error e{ExitCode::locked, "another runner holds the migration lock"};
  if (holder.ok() && holder->size() > 0) {
    e.message = fmt::format("another runner holds the migration lock: pid {} ({}), user {}, from {}, since {}",
                            holder->get(0, 0), holder->get(0, 1), holder->get(0, 2), holder->get(0, 4),
                            holder->get(0, 3));
    e.object = "pid " + holder->get(0, 0);
  }
  e.detail = fmt::format("waited {} (--lock-wait)", text::pg_duration(wait));
  e.next = "wait for it to finish and run again, raise --lock-wait, or stop that runner";
  return e;
}

Status release(pg::Conn& conn) {
  return conn.exec(fmt::format("select pg_advisory_unlock({})", kKey));
}

std::vector<std::string> blockers(pg::Conn& conn, const std::vector<std::string>& relations) {
  std::vector<std::string> out;
  if (relations.empty()) return out;
  std::string arr = "array[";
  for (size_t i = 0; i < relations.size(); ++i) arr += (i ? "," : "") + pg::quote_literal(relations[i]);
  arr += "]::text[]";
  auto rows = conn.query(fmt::format(
      "select l.pid, coalesce(nullif(a.application_name, ''), '?'), coalesce(a.state, '?'), "
      "coalesce(to_char(a.xact_start at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '-'), "
      "l.mode, l.relation::regclass::text "
      "from pg_locks l left join pg_stat_activity a on a.pid = l.pid "
      "where l.granted and l.pid <> pg_backend_pid() and l.locktype = 'relation' "
      "and l.relation in (select to_regclass(r)::oid from unnest({}) r where to_regclass(r) is not null) "
      "order by l.pid",
      arr));
  if (!rows.ok()) return out;
  for (int i = 0; i < rows->size(); ++i)
    out.push_back(fmt::format("pid {} ({}, {}, transaction since {}) holds {} on {}", rows->get(i, 0), rows->get(i, 1),
                              rows->get(i, 2), rows->get(i, 3), rows->get(i, 4), rows->get(i, 5)));
  return out;
}

}  // namespace belay::migrate::lock
