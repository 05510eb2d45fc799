// Data-dependent checks: count the rows that would make a constraint fail, on a live
// database, read-only. Each question runs under a savepoint so one that cannot be asked
// (a column a pending migration adds) does not stop the others.
#include <fmt/format.h>

#include "lint/lint.h"

namespace belay::lint {
namespace {

std::string qname(const std::string& qualified) {
  auto dot = qualified.find('.');
  if (dot == std::string::npos) return pg::quote_ident(qualified);
  return pg::quote_ident(qualified.substr(0, dot)) + "." + pg::quote_ident(qualified.substr(dot + 1));
}

std::string join(const std::vector<std::string>& v, const std::string& prefix, const std::string& sep,
                 const std::string& suffix = "") {
  std::string out;
  for (auto& c : v) out += (out.empty() ? "" : sep) + prefix + pg::quote_ident(c) + suffix;
  return out;
}

// The SQL that counts violating rows for `d` (one row, one column); "" if it cannot be asked.
Result<std::string> count_sql(pg::Conn& conn, DataCheck& d) {
  std::string t = qname(d.table);
  switch (d.kind) {
    case DataCheck::Kind::unique:
      if (d.columns.empty()) return std::string();
      return fmt::format("select coalesce(sum(n - 1), 0) from (select count(*) as n from {} where {} group by {} "
                         "having count(*) > 1) d",
                         t, join(d.columns, "", " and ", " is not null"), join(d.columns, "", ", "));
    case DataCheck::Kind::not_null:
      return fmt::format("select count(*) from {} where {}", t, join(d.columns, "", " or ", " is null"));
    case DataCheck::Kind::any_rows:
      return fmt::format("select count(*) from (select 1 from {} limit 1000000) d", t);
    case DataCheck::Kind::check:
      return fmt::format("select count(*) from {} where not ({})", t, d.expression);
    case DataCheck::Kind::foreign_key: {
      if (d.ref_columns.empty()) {  // REFERENCES t: the referenced table's primary key
        auto pk = conn.query(
            "select a.attname from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey) "
            "where i.indrelid = to_regclass($1) and i.indisprimary order by array_position(i.indkey::int2[], a.attnum)",
            {d.ref_table});
        if (!pk.ok()) return std::move(pk).error();
        for (int i = 0; i < pk->size(); ++i) d.ref_columns.push_back(pk->get(i, 0));
      }
      if (d.ref_columns.size() != d.columns.size() || d.columns.empty()) return std::string();
      std::string match;
      for (size_t i = 0; i < d.columns.size(); ++i)
        match += (i ? " and " : "") + fmt::format("p.{} = c.{}", pg::quote_ident(d.ref_columns[i]), pg::quote_ident(d.columns[i]));
      return fmt::format("select count(*) from {} c where {} and not exists (select 1 from {} p where {})", t,
                         join(d.columns, "c.", " and ", " is not null"), qname(d.ref_table), match);
    }
  }
  return std::string();
}

const char* noun(DataCheck::Kind k) {
  switch (k) {
    case DataCheck::Kind::unique: return "duplicate rows";
    case DataCheck::Kind::not_null: return "rows with NULL";
    case DataCheck::Kind::any_rows: return "existing rows";
    case DataCheck::Kind::check: return "rows violating it";
    case DataCheck::Kind::foreign_key: return "rows without a referenced row";
  }
  return "rows";
}

}  // namespace

Status check_data(pg::Conn& conn, Report& rep, const std::string& target) {
  if (rep.data_checks.empty()) return ok_status();
  BELAY_TRY(conn.exec("begin transaction read only; set local statement_timeout = '60s'"));
  for (DataCheck& d : rep.data_checks) {
    if (d.finding >= rep.findings.size()) continue;
    Finding& f = rep.findings[d.finding];
    auto exists = conn.query("select to_regclass($1) is not null", {qname(d.table)});
    if (!exists.ok()) {
      conn.exec("rollback").ok();
      return std::move(exists).error();
    }
    if (exists->get(0, 0) != "t") {
      d.result = fmt::format("{} does not exist on {} yet: created by a pending migration, nothing to count", d.table, target);
      f.severity = Severity::info;
      f.message = fmt::format("{} on {}: {}", d.what, d.table, d.result);
      continue;
    }
    auto sql = count_sql(conn, d);
    std::optional<std::string> failure;
    if (!sql.ok()) failure = sql.error().message;
    else if (sql->empty()) failure = "this constraint cannot be counted (expression or referenced key unknown)";
    if (!failure) {
      BELAY_TRY(conn.exec("savepoint belay_lint_check"));
      auto rows = conn.query(*sql);
      if (rows.ok()) {
        d.violations = std::stoll(rows->get(0, 0).empty() ? "0" : rows->get(0, 0));
        BELAY_TRY(conn.exec("release savepoint belay_lint_check"));
      } else {
        failure = rows.error().message;
        BELAY_TRY(conn.exec("rollback to savepoint belay_lint_check"));
      }
    }
    if (failure) {
      d.result = fmt::format("could not be checked on {}: {}", target, *failure);
      f.message = fmt::format("{} on {} fails if existing rows violate it; {}", d.what, d.table, d.result);
      continue;
    }
    if (d.violations > 0) {
      d.result = fmt::format("{} {} on {}", d.violations, noun(d.kind), target);
      f.severity = Severity::error;
      f.message = fmt::format("{} on {} will fail: {}", d.what, d.table, d.result);
      f.fix = d.kind == DataCheck::Kind::any_rows ? "give the column a DEFAULT, or add it nullable and backfill"
                                                  : "fix or remove those rows first (a data migration before this one)";
    } else {
      d.result = fmt::format("no {} on {}", noun(d.kind), target);
      f.severity = Severity::info;
      f.message = fmt::format("{} on {}: checked, {}", d.what, d.table, d.result);
    }
  }
  conn.exec("rollback").ok();
  return ok_status();
}

}  // namespace belay::lint
