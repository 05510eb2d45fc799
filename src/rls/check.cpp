// belay rls check: runs the catalog checks (rls/checks/, one per file) and applies the
// project's [rls] configuration (disabled checks, severity overrides, ignored objects).
#include <fnmatch.h>

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "rls/checks/check.h"
#include "rls/probe.h"
#include "rls/rls.h"

namespace belay::rls {

namespace detail {

const std::vector<Check>& all_checks() {
  static const std::vector<Check> all = {
      rls_disabled_in_exposed_schema(),  policy_on_table_without_rls(),     rls_enabled_no_policy(),
      policy_always_true_write(),        policy_true_for_null_sub(),        multiple_permissive_policies(),
      view_bypasses_rls(),
      function_search_path_mutable(),    security_definer_function_executable(),
      foreign_key_without_index(),       table_without_primary_key(),       sensitive_column_exposed(),
  };
  return all;
}

}  // namespace detail

namespace {

// Schemas Supabase manages: their objects are Supabase's, not the project's.
const std::vector<std::string> kSupabaseSchemas = {
    "auth",    "storage", "extensions",         "realtime", "_realtime", "graphql",   "graphql_public", "vault",
    "pgsodium", "pgsodium_masks", "supabase_functions", "net", "cron", "pgbouncer", "_analytics"};

bool known_check(const std::string& id) {
  for (auto& c : detail::all_checks())
    if (c.rule.id == id) return true;
  return false;
}

std::string known_list() {
  std::string s;
  for (auto& c : detail::all_checks()) s += (s.empty() ? "" : ", ") + c.rule.id;
  return s;
}

// The check's SQL with its parameters ($1..$5, see check.h) written in as literals: the
// queries do not all use every parameter, which the extended protocol would refuse.
std::string bind(std::string sql, const CheckConfig& cfg) {
  std::vector<std::string> policy = cfg.exposed_schemas;
  policy.insert(policy.end(), cfg.policy_schemas.begin(), cfg.policy_schemas.end());
  const std::string values[] = {detail::text_array(cfg.exposed_schemas), detail::text_array(cfg.api_roles),
                                detail::text_array(cfg.skip_schemas), pg::quote_literal(cfg.anon_role), detail::text_array(policy)};
  for (size_t i = 0; i < sql.size(); ++i) {
    if (sql[i] != '$' || i + 1 >= sql.size() || sql[i + 1] < '1' || sql[i + 1] > '5') continue;
    const std::string& v = values[sql[i + 1] - '1'];
    sql.replace(i, 2, v);
    i += v.size() - 1;
  }
  return sql;
}

// An ignore entry "PATTERN" or "CHECK:PATTERN" against a finding.
bool ignores(const std::string& entry, const findings::Finding& f) {
  std::string pattern = entry;
  auto colon = entry.find(':');
  if (colon != std::string::npos && known_check(entry.substr(0, colon))) {
    if (entry.substr(0, colon) != f.rule) return false;
    pattern = entry.substr(colon + 1);
  }
  return ::fnmatch(pattern.c_str(), f.object.c_str(), 0) == 0;
}

}  // namespace

std::vector<findings::RuleInfo> checks() {
  std::vector<findings::RuleInfo> out;
  for (auto& c : detail::all_checks()) out.push_back(c.rule);
  return out;
}

Result<CheckConfig> check_config(const project::Config& cfg) {
  CheckConfig c;
  std::string file = (cfg.root / "belay.toml").string();
  c.exposed_schemas = cfg.exposed_schemas;
  c.api_roles = cfg.rls.api_roles;
  c.anon_role = cfg.rls.anon_role;
  if (cfg.flavor == "supabase") {
    c.skip_schemas.insert(c.skip_schemas.end(), kSupabaseSchemas.begin(), kSupabaseSchemas.end());
    // storage.objects policies decide who reads and writes every bucket.
    c.policy_schemas.push_back("storage");
  }
  // A schema the project exposes is looked at even if Supabase manages it.
  std::erase_if(c.skip_schemas, [&](const std::string& s) {
    return std::find(c.exposed_schemas.begin(), c.exposed_schemas.end(), s) != c.exposed_schemas.end();
  });
  for (auto& id : cfg.rls.disable) {
    if (!known_check(id))
      return Error::usage(fmt::format("unknown check '{}' in [rls] disable", id)).with_file(file).with_next("known checks: " + known_list());
    c.disabled.push_back(id);
  }
  for (auto& [id, sev] : cfg.rls.severity) {
    if (!known_check(id))
      return Error::usage(fmt::format("unknown check '{}' in [rls.severity]", id)).with_file(file).with_next("known checks: " + known_list());
    auto s = findings::parse_severity(sev);
    if (!s)
      return Error::usage(fmt::format("[rls.severity] {} = \"{}\": a severity is \"info\", \"warning\" or \"error\"", id, sev))
          .with_file(file);
    c.severity[id] = *s;
  }
  c.ignore = cfg.rls.ignore;
  return c;
}

Result<CheckReport> check(pg::Conn& conn, const CheckConfig& cfg) {
  CheckReport rep;
  // Read only: one check evaluates constant policy expressions (policy-always-true-write).
  BELAY_TRY(conn.exec("begin transaction isolation level repeatable read read only"));
  std::vector<findings::Finding> all;
  for (auto& c : detail::all_checks()) {
    if (std::find(cfg.disabled.begin(), cfg.disabled.end(), c.rule.id) != cfg.disabled.end()) continue;
    auto rows = conn.query(bind(c.sql, cfg));
    if (!rows.ok()) {
      Error e = std::move(rows).error();
      conn.exec("rollback").ok();
      e.message = fmt::format("check {} failed: {}", c.rule.id, e.message);
      return e;
    }
    auto sev = cfg.severity.count(c.rule.id) ? cfg.severity.at(c.rule.id) : c.rule.severity;
    for (int i = 0; i < rows->size(); ++i) {
      detail::Row row;
      for (int k = 0; k < rows->columns(); ++k) {
        row.cols.push_back(rows->get(i, k));
        row.null.push_back(rows->null(i, k));
      }
      if (c.keep) {
        BELAY_TRY(conn.exec("savepoint belay_check"));
        bool keep = c.keep(conn, row);
        BELAY_TRY(conn.exec("rollback to savepoint belay_check"));
        if (!keep) continue;
      }
      findings::Finding f;
      f.rule = c.rule.id;
      f.severity = sev;
      f.object = row[0];
      c.word(row, f);
      all.push_back(std::move(f));
    }
  }
  BELAY_TRY(conn.exec("rollback"));
  std::set<std::string> used;
  for (auto& f : all) {
    bool skip = false;
    for (auto& entry : cfg.ignore)
      if (ignores(entry, f)) {
        used.insert(entry);
        skip = true;
      }
    if (skip) ++rep.ignored;
    else rep.findings.push_back(std::move(f));
  }
  for (auto& entry : cfg.ignore)
    if (!used.count(entry)) rep.unused_ignores.push_back(entry);
  std::stable_sort(rep.findings.begin(), rep.findings.end(), [](const findings::Finding& a, const findings::Finding& b) {
    if (a.severity != b.severity) return a.severity > b.severity;
    if (a.rule != b.rule) return a.rule < b.rule;
    return a.object < b.object;
  });
  return rep;
}

}  // namespace belay::rls
