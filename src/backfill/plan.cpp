// belay backfill plan: the same read and transform as a run, in a READ ONLY transaction.
#include <fmt/format.h>

#include "backfill/backfill.h"
#include "backfill/store.h"
#include "backfill/transform.h"
#include "backfill/writer.h"

namespace belay::backfill {

using pg::quote_ident;
using pg::quote_literal;

namespace {

long long num(const std::string& s) { return std::strtoll(s.c_str(), nullptr, 10); }

Result<Plan> plan_in_tx(pg::Conn& conn, const Job& job, const PlanOptions& opt) {
  BELAY_ASSIGN(auto cat, inspect(conn, job));
  BELAY_ASSIGN(bool have_tables, tables_exist(conn));
  Plan p;
  const std::string pending_filter =
      have_tables ? fmt::format("not exists (select 1 from belay.backfill_progress p where p.job = {} and "
                                "p.user_key = l.belay_user)",
                                quote_literal(job.name))
                  : "true";
  auto u = quote_ident(job.source.user);
  BELAY_ASSIGN(auto counts, conn.query(fmt::format(
      "select (select count(*) from ({0}) l where {1}), "
      "(select count(*) - count(distinct {2}::text) from {3} where {2} is not null and {2}::text <> ''), "
      "(select count(*) from {3} where {2} is null or {2}::text = '')",
      latest_rows_sql(job), pending_filter, u, job.source_qualified())));
  p.pending_users = num(counts.get(0, 0));
  p.superseded_rows = num(counts.get(0, 1));
  p.rows_without_user = num(counts.get(0, 2));
  if (have_tables) {
    BELAY_ASSIGN(auto st, conn.query("select count(*) filter (where state = 'done'), count(*) filter (where state = "
                                     "'quarantined') from belay.backfill_progress where job = $1",
                                     {job.name}));
    p.done_users = num(st.get(0, 0));
    p.quarantined_users = num(st.get(0, 1));
  }

  std::string version =
      job.source.latest_by.empty() ? "null::text" : "l." + quote_ident(job.source.latest_by) + "::text";
  std::string where = opt.users.empty() ? pending_filter : "l.belay_user = any($1::text[])";
  std::vector<std::optional<std::string>> params;
  if (!opt.users.empty()) params.push_back(text_array(opt.users));
  BELAY_ASSIGN(auto rows, conn.query(fmt::format("select l.belay_user, l.{}::text, {}, l.{}::text from ({}) l where {} "
                                                 "order by l.belay_user collate \"C\"{}",
                                                 quote_ident(job.source.id), version, quote_ident(job.source.column),
                                                 latest_rows_sql(job), where,
                                                 opt.limit > 0 ? fmt::format(" limit {}", opt.limit) : ""),
                                     params));
  Transformer tr(job, cat);
  std::vector<UserOut> outs;
  std::vector<TableCount> tables;
  for (auto& e : job.entities) tables.push_back({e.name, e.schema.empty() ? e.table : e.schema + "." + e.table, 0, 0});
  for (int i = 0; i < rows.size(); ++i) {
    auto out = tr.transform(SourceRow{rows.get(i, 1), rows.get(i, 0), rows.get(i, 2), rows.opt(i, 3)});
    UserPlan up;
    up.user = out.user;
    up.source_id = out.source_id;
    up.quarantined = out.quarantined;
    up.reason = out.reason;
    up.problems = out.problems;
    for (auto& pr : out.problems) ++p.problems_by_kind[pr.kind];
    if (out.empty()) ++p.empty_users;
    for (size_t ei = 0; ei < job.entities.size(); ++ei) {
      const auto& eo = out.entities[ei];
      EntityPlan ep;
      ep.entity = job.entities[ei].name;
      ep.table = tables[ei].table;
      ep.source_elements = eo.source_elements;
      ep.rows = static_cast<int>(eo.ids.size());
      ep.skipped = eo.skipped;
      if (opt.with_rows)
        for (size_t k = 0; k < eo.ids.size(); ++k)
          ep.ids.push_back({eo.old_ids[k] ? *eo.old_ids[k] : std::string("(positional)"), to_string(eo.ids[k])});
      tables[ei].rows += ep.rows;
      tables[ei].skipped += ep.skipped;
      up.entities.push_back(std::move(ep));
    }
    p.users.push_back(std::move(up));
    if (opt.with_rows) outs.push_back(std::move(out));
  }
  p.tables = std::move(tables);
  p.statements = batch_statements(cat);
  if (opt.with_rows && !outs.empty()) {
    std::vector<const UserOut*> ptrs;
    for (auto& o : outs) ptrs.push_back(&o);
    auto b = build_batch(job, "planned", ptrs);
    p.script = "-- belay backfill plan: the exact statements and rows a run sends for these users (run id "
               "'planned' stands for the real one)\n" +
               batch_script(cat, b);
  }
  return p;
}

}  // namespace

Result<Plan> plan(pg::Conn& conn, const Job& job, const PlanOptions& opt) {
  BELAY_TRY(conn.exec("begin transaction read only; set local timezone = 'UTC'"));
  auto p = plan_in_tx(conn, job, opt);
  conn.exec("rollback").ok();
  return p;
}

}  // namespace belay::backfill
