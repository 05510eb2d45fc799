// belay backfill verify: set-based checks in the server, read only.
//   counts              per done user and entity: elements in the source array =
//                       rows created + elements skipped by policy (users whose latest
//                       source row changed since are counted apart, not compared)
//   missing_rows        every id in the audit is still in its table
//   orphans             no reference column points at a row that does not exist
//   duplicate_ids       no new id recorded twice
//   duplicate_mappings  no (user, entity, old id) mapped twice
#include <fmt/format.h>

#include "backfill/backfill.h"
#include "backfill/store.h"

namespace belay::backfill {

using pg::quote_ident;
using pg::quote_literal;

namespace {

constexpr size_t kMaxIssues = 200;

long long num(const std::string& s) { return std::strtoll(s.c_str(), nullptr, 10); }

std::string path_array(const std::vector<std::string>& path) {
  std::vector<std::string> p(path.begin(), path.end());
  return quote_literal(text_array(p)) + "::text[]";
}

std::string display(const Entity& e) { return e.schema.empty() ? e.table : e.schema + "." + e.table; }

void add(VerifyReport& r, VerifyIssue i) {
  r.ok = false;
  ++r.failures_by_check[i.check];
  if (r.issues.size() < kMaxIssues) r.issues.push_back(std::move(i));
}

Status check_counts(pg::Conn& conn, const Job& job, const Catalog& cat, VerifyReport& r) {
  std::string fn = cat.doc_type == "jsonb" ? "jsonb" : "json";
  std::string doc = cat.doc_type == "jsonb" || cat.doc_type == "json" ? "c.doc" : "c.doc::json";
  std::string entities;
  for (auto& e : job.entities)
    entities += fmt::format("{}({}, {})", entities.empty() ? "" : ", ", quote_literal(e.name), path_array(e.path));
  std::string version =
      job.source.latest_by.empty() ? "null::text" : "l." + quote_ident(job.source.latest_by) + "::text";
  auto sql = fmt::format(
      "with done as (select user_key, source_id, source_version from belay.backfill_progress "
      "  where job = $1 and state = 'done'), "
      "cur as (select l.belay_user, l.{0}::text as sid, {1} as ver, l.{2} as doc from ({3}) l "
      "  join done d on d.user_key = l.belay_user), "
      "a as (select user_key, entity, sum(cardinality(target_ids))::bigint as written, sum(skipped)::bigint as skipped "
      "  from belay.backfill_audit where job = $1 group by user_key, entity), "
      "chk as (select d.user_key, (c.sid is distinct from d.source_id or c.ver is distinct from d.source_version) "
      "  as changed, e.entity, "
      "  case when {4}_typeof({5} #> e.path) = 'array' then {4}_array_length({5} #> e.path) else 0 end as src, "
      "  coalesce(a.written, 0) as written, coalesce(a.skipped, 0) as skipped "
      "  from done d left join cur c on c.belay_user = d.user_key "
      "  cross join (values {6}) as e (entity, path) "
      "  left join a on a.user_key = d.user_key and a.entity = e.entity) "
      "select 'summary', '', (select count(*) from done)::text, (select count(distinct user_key) from chk where changed)::text, "
      "  (select coalesce(sum(written), 0) from chk)::text, '' "
      "union all (select 'mismatch', user_key, entity, src::text, written::text, skipped::text from chk "
      "  where not changed and src <> written + skipped order by user_key, entity limit {7})",
      quote_ident(job.source.id), version, quote_ident(job.source.column), latest_rows_sql(job), fn, doc, entities,
      kMaxIssues);
  BELAY_ASSIGN(auto rows, conn.query(sql, {job.name}));
  for (int i = 0; i < rows.size(); ++i) {
    if (rows.get(i, 0) == "summary") {
      r.users_checked = num(rows.get(i, 2));
      r.users_changed_since = num(rows.get(i, 3));
      r.rows_checked = num(rows.get(i, 4));
      continue;
    }
    const Entity* e = job.find(rows.get(i, 2));
    add(r, VerifyIssue{"counts", rows.get(i, 1), rows.get(i, 2), e ? display(*e) : "",
                       fmt::format("the source array has {} elements; {} rows were created and {} skipped",
                                   rows.get(i, 3), rows.get(i, 4), rows.get(i, 5))});
  }
  return ok_status();
}

Status check_rows(pg::Conn& conn, const Job& job, VerifyReport& r) {
  for (auto& e : job.entities) {
    BELAY_ASSIGN(auto miss, conn.query(fmt::format(
        "select a.user_key, count(*) from belay.backfill_audit a, unnest(a.target_ids) as x (id) "
        "where a.job = $1 and a.entity = $2 and not exists (select 1 from {} t where t.{} = x.id) "
        "group by a.user_key order by a.user_key",
        e.qualified(), quote_ident(e.id_column)),
        {job.name, e.name}));
    for (int i = 0; i < miss.size(); ++i)
      add(r, VerifyIssue{"missing_rows", miss.get(i, 0), e.name, display(e),
                         fmt::format("{} rows belay created are no longer in the table", miss.get(i, 1))});
    for (auto& c : e.columns) {
      if (c.ref.empty()) continue;
      const Entity* parent = job.find(c.ref);
      BELAY_ASSIGN(auto orphans, conn.query(fmt::format(
          "select t.{0}::text, t.{1}::text from {2} t where t.{0} in (select unnest(target_ids) from "
          "belay.backfill_audit where job = $1 and entity = $2) and t.{1} is not null "
          "and not exists (select 1 from {3} p where p.{4} = t.{1}) limit {5}",
          quote_ident(e.id_column), quote_ident(c.name), e.qualified(), parent->qualified(),
          quote_ident(parent->id_column), kMaxIssues),
          {job.name, e.name}));
      for (int i = 0; i < orphans.size(); ++i)
        add(r, VerifyIssue{"orphans", "", e.name, display(e),
                           fmt::format("row {} has {} = {}, which is not in {}", orphans.get(i, 0), c.name,
                                       orphans.get(i, 1), display(*parent))});
    }
  }
  return ok_status();
}

Status check_duplicates(pg::Conn& conn, const Job& job, VerifyReport& r) {
  BELAY_ASSIGN(auto ids, conn.query(fmt::format(
      "select x.id::text, count(*), min(a.user_key), min(a.entity) from belay.backfill_audit a, "
      "unnest(a.target_ids) as x (id) where a.job = $1 group by x.id having count(*) > 1 limit {}",
      kMaxIssues),
      {job.name}));
  for (int i = 0; i < ids.size(); ++i)
    add(r, VerifyIssue{"duplicate_ids", ids.get(i, 2), ids.get(i, 3), "",
                       fmt::format("new id {} is recorded {} times", ids.get(i, 0), ids.get(i, 1))});
  BELAY_ASSIGN(auto maps, conn.query(fmt::format(
      "select a.user_key, a.entity, x.old_id, count(*) from belay.backfill_audit a, unnest(a.old_ids) as x (old_id) "
      "where a.job = $1 and x.old_id is not null group by 1, 2, 3 having count(*) > 1 limit {}",
      kMaxIssues),
      {job.name}));
  for (int i = 0; i < maps.size(); ++i)
    add(r, VerifyIssue{"duplicate_mappings", maps.get(i, 0), maps.get(i, 1), "",
                       fmt::format("old id '{}' is mapped {} times", maps.get(i, 2), maps.get(i, 3))});
  return ok_status();
}

Result<VerifyReport> verify_in_tx(pg::Conn& conn, const Job& job) {
  VerifyReport r;
  BELAY_ASSIGN(auto cat, inspect(conn, job));
  BELAY_ASSIGN(bool have, tables_exist(conn));
  if (!have) {
    BELAY_ASSIGN(auto pend, conn.query(fmt::format("select count(*) from ({}) l", latest_rows_sql(job))));
    r.users_pending = num(pend.get(0, 0));
    return r;
  }
  BELAY_TRY(check_counts(conn, job, cat, r));
  BELAY_TRY(check_rows(conn, job, r));
  BELAY_TRY(check_duplicates(conn, job, r));
  BELAY_ASSIGN(auto st, conn.query(fmt::format(
      "select (select count(*) from ({}) l where not exists (select 1 from belay.backfill_progress p "
      "where p.job = $1 and p.user_key = l.belay_user)), "
      "(select count(*) from belay.backfill_progress where job = $1 and state = 'quarantined')",
      latest_rows_sql(job)),
      {job.name}));
  r.users_pending = num(st.get(0, 0));
  r.users_quarantined = num(st.get(0, 1));
  return r;
}

}  // namespace

Result<VerifyReport> verify(pg::Conn& conn, const Job& job) {
  // One snapshot for every check.
  BELAY_TRY(conn.exec("begin transaction isolation level repeatable read read only"));
  auto r = verify_in_tx(conn, job);
  conn.exec("rollback").ok();
  return r;
}

}  // namespace belay::backfill
