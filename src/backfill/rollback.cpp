// belay backfill rollback: deletes exactly the ids the audit holds, children before
// parents, in batches of users. Each batch deletes the users' rows, audit and progress in
// one transaction, so a killed rollback resumes from what the audit still lists; rows
// belay did not create are never named, so never touched.
#include <fmt/format.h>

#include "backfill/backfill.h"
#include "backfill/store.h"

namespace belay::backfill {

using pg::quote_ident;
using pg::quote_literal;

namespace {

struct Scope {
  std::string sql;  // extra conditions on the audit / progress rows
  std::vector<std::optional<std::string>> params;
};

Scope scope_of(const Job& job, const RollbackOptions& opt) {
  Scope s;
  s.params.push_back(job.name);
  if (!opt.run_id.empty()) {
    s.params.push_back(opt.run_id);
    s.sql += fmt::format(" and run_id = ${}", s.params.size());
  }
  if (!opt.user.empty()) {
    s.params.push_back(opt.user);
    s.sql += fmt::format(" and user_key = ${}", s.params.size());
  }
  return s;
}

// One batch of users in one transaction; false (and rep.error) when it failed.
bool rollback_batch(pg::Conn& conn, const Job& job, const Catalog& cat, const Scope& sc,
                    const std::vector<std::string>& users, RollbackReport& rep) {
  auto params = sc.params;
  params.push_back(text_array(users));
  const std::string users_param = fmt::format("${}", params.size());
  auto fail = [&](Error e) {
    conn.exec("rollback").ok();
    rep.error = std::move(e);
    return false;
  };
  if (auto s = conn.exec("begin"); !s.ok()) return fail(std::move(s).error());
  std::vector<long long> deleted(job.entities.size(), 0);
  for (auto it = cat.write_order.rbegin(); it != cat.write_order.rend(); ++it) {
    const Entity& e = job.entities[*it];
    pg::ServerError se;
    auto q = params;
    q.push_back(e.name);
    auto sql = fmt::format(
        "delete from {0} t using (select distinct x.id from belay.backfill_audit a, unnest(a.target_ids) as x (id) "
        "where a.job = $1{1} and a.user_key = any({2}::text[]) and a.entity = ${3}) d where t.{4} = d.id",
        e.qualified(), sc.sql, users_param, q.size(), quote_ident(e.id_column));
    auto r = conn.query(sql, q);
    if (!r.ok()) {
      Error err = std::move(r).error();
      if (err.sqlstate == "23503")
        err.next = fmt::format("rows belay did not create reference rows of {} it created; delete or re-point them, "
                               "then rerun the rollback (batches already rolled back stay so)",
                               e.schema.empty() ? e.table : e.schema + "." + e.table);
      else if (err.next.empty())
        err.next = "fix the cause and rerun: batches already rolled back stay so";
      return fail(std::move(err));
    }
    deleted[*it] = r->affected();
  }
  for (auto* t : {"belay.backfill_audit", "belay.backfill_progress"}) {
    auto r = conn.query(fmt::format("delete from {} where job = $1{} and user_key = any({}::text[])", t, sc.sql,
                                    users_param),
                        params);
    if (!r.ok()) return fail(std::move(r).error());
  }
  if (auto s = conn.exec("commit"); !s.ok()) return fail(std::move(s).error());
  for (size_t i = 0; i < deleted.size(); ++i) {
    rep.tables[i].rows += deleted[i];
    rep.rows += deleted[i];
  }
  rep.users += static_cast<long long>(users.size());
  return true;
}

}  // namespace

RollbackReport rollback(pg::Conn& conn, const Job& job, const RollbackOptions& opt) {
  RollbackReport rep;
  for (auto& e : job.entities) rep.tables.push_back({e.name, e.schema.empty() ? e.table : e.schema + "." + e.table, 0, 0});
  auto have = tables_exist(conn);
  if (!have.ok()) {
    rep.error = std::move(have).error();
    return rep;
  }
  if (!*have) return rep;  // belay never ran a backfill here: nothing to undo
  if (auto s = lock_job(conn, job, opt.lock_wait); !s.ok()) {
    rep.error = std::move(s).error();
    return rep;
  }
  JobLock held{conn, job};
  auto cat = inspect(conn, job);
  if (!cat.ok()) {
    rep.error = std::move(cat).error();
    return rep;
  }
  for (auto it = cat->write_order.rbegin(); it != cat->write_order.rend(); ++it)
    rep.order.push_back(rep.tables[*it].table);
  if (auto s = conn.exec(fmt::format("set lock_timeout = {}", quote_literal(fmt::format("{}ms", job.lock_timeout.count()))));
      !s.ok()) {
    rep.error = std::move(s).error();
    return rep;
  }
  Scope sc = scope_of(job, opt);
  // Every user with something to undo: rows in the audit, or only a progress row (an
  // empty or quarantined user), so a rerun starts them afresh.
  auto users = conn.query(fmt::format("select user_key from belay.backfill_audit where job = $1{0} union "
                                      "select user_key from belay.backfill_progress where job = $1{0} "
                                      "order by 1",
                                      sc.sql),
                          sc.params);
  if (!users.ok()) {
    rep.error = std::move(users).error();
    return rep;
  }
  const long long total = users->size();
  const int per = std::max(1, opt.batch_users);
  std::vector<std::string> batch;
  for (int i = 0; i < users->size(); ++i) {
    batch.push_back(users->get(i, 0));
    if (static_cast<int>(batch.size()) < per && i + 1 < users->size()) continue;
    if (!rollback_batch(conn, job, *cat, sc, batch, rep)) return rep;
    batch.clear();
    if (opt.on_progress) opt.on_progress(rep.users, total);
  }
  // Runs with nothing left are rolled back.
  auto runs = conn.query(
      "update belay.backfill_runs r set state = 'rolled_back', finished_at = now() where r.job = $1 "
      "and ($2 = '' or r.run_id = $2) and r.state <> 'rolled_back' and not exists (select 1 from "
      "belay.backfill_progress p where p.job = r.job and p.run_id = r.run_id) returning r.run_id",
      {job.name, opt.run_id});
  if (!runs.ok()) {
    rep.error = std::move(runs).error();
    return rep;
  }
  for (int i = 0; i < runs->size(); ++i) rep.runs.push_back(runs->get(i, 0));
  return rep;
}

}  // namespace belay::backfill
