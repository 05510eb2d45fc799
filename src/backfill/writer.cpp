#include "backfill/writer.h"

#include <fmt/format.h>

#include "backfill/convert.h"

namespace belay::backfill {
namespace {

std::string display(const std::string& schema, const std::string& table) {
  return schema.empty() ? table : schema + "." + table;
}

void field(std::string& out, std::string_view v) {
  copy_escape(out, v);
  out += '\t';
}

void opt_field(std::string& out, const std::string& v) {
  if (v.empty()) out += "\\N";
  else copy_escape(out, v);
  out += '\t';
}

// A text[] literal ({"a",NULL,"b\"c"}), then escaped for COPY as a whole.
void text_array_field(std::string& out, const std::vector<std::optional<std::string>>& items) {
  std::string lit = "{";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) lit += ',';
    if (!items[i]) {
      lit += "NULL";
      continue;
    }
    lit += '"';
    for (char c : *items[i]) {
      if (c == '"' || c == '\\') lit += '\\';
      lit += c;
    }
    lit += '"';
  }
  lit += '}';
  copy_escape(out, lit);
  out += '\t';
}

const char* kAuditCopy =
    "copy belay.backfill_audit (job, run_id, user_key, source_table, source_id, entity, target_table, old_ids, "
    "target_ids, skipped) from stdin";
const char* kProgressCopy =
    "copy belay.backfill_progress (job, user_key, run_id, source_id, source_version, state, rows) from stdin";
const char* kQuarantineCopy =
    "copy belay.backfill_quarantine (job, run_id, user_key, source_id, reason, sqlstate, problems) from stdin";

}  // namespace

nlohmann::json problems_json(const std::vector<Problem>& ps) {
  nlohmann::json arr = nlohmann::json::array();
  for (auto& p : ps) {
    nlohmann::json j = {{"entity", p.entity}, {"kind", p.kind}, {"detail", p.detail}, {"action", p.action}};
    if (p.index >= 0) j["index"] = p.index;
    if (!p.field.empty()) j["field"] = p.field;
    arr.push_back(std::move(j));
  }
  return arr;
}

BatchData build_batch(const Job& job, const std::string& run_id, const std::vector<const UserOut*>& users) {
  BatchData b;
  b.targets.resize(job.entities.size());
  const std::string source = display(job.source.schema, job.source.table);
  for (const UserOut* u : users) {
    ++b.users;
    if (!u->quarantined) {
      for (size_t ei = 0; ei < job.entities.size(); ++ei) {
        const EntityOut& eo = u->entities[ei];
        b.targets[ei] += eo.copy;
        if (eo.ids.empty() && eo.skipped == 0) continue;
        const Entity& e = job.entities[ei];
        field(b.audit, job.name);
        field(b.audit, run_id);
        field(b.audit, u->user);
        field(b.audit, source);
        opt_field(b.audit, u->source_id);
        field(b.audit, e.name);
        field(b.audit, display(e.schema, e.table));
        text_array_field(b.audit, eo.old_ids);
        b.audit += '{';
        for (size_t i = 0; i < eo.ids.size(); ++i) {
          if (i) b.audit += ',';
          append_uuid(b.audit, eo.ids[i]);
        }
        b.audit += "}\t";
        b.audit += std::to_string(eo.skipped);
        b.audit += '\n';
      }
      b.rows += u->rows;
    } else {
      field(b.quarantine, job.name);
      field(b.quarantine, run_id);
      field(b.quarantine, u->user);
      opt_field(b.quarantine, u->source_id);
      field(b.quarantine, clip(u->reason, 2000));
      opt_field(b.quarantine, u->sqlstate);
      copy_escape(b.quarantine, problems_json(u->problems).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
      b.quarantine += '\n';
    }
    field(b.progress, job.name);
    field(b.progress, u->user);
    field(b.progress, run_id);
    opt_field(b.progress, u->source_id);
    opt_field(b.progress, u->version);
    field(b.progress, u->quarantined ? "quarantined" : "done");
    b.progress += std::to_string(u->quarantined ? 0 : u->rows);
    b.progress += '\n';
  }
  return b;
}

std::vector<std::string> batch_statements(const Catalog& cat) {
  std::vector<std::string> out{"begin"};
  for (size_t ei : cat.write_order) out.push_back(cat.targets[ei].copy_sql);
  out.push_back(kAuditCopy);
  out.push_back(kProgressCopy);
  out.push_back(kQuarantineCopy);
  out.push_back("commit");
  return out;
}

std::optional<pg::ServerError> write_batch(pg::Conn& conn, const Catalog& cat, const BatchData& b) {
  if (auto e = conn.exec_detailed("begin")) return e;
  pg::ServerError err;
  auto copy = [&](const std::string& sql, const std::string& data) {
    if (data.empty()) return true;
    return conn.copy_in(sql, data, &err).ok();
  };
  bool ok = true;
  for (size_t ei : cat.write_order)
    if (ok) ok = copy(cat.targets[ei].copy_sql, b.targets[ei]);
  if (ok) ok = copy(kAuditCopy, b.audit);
  if (ok) ok = copy(kProgressCopy, b.progress);
  if (ok) ok = copy(kQuarantineCopy, b.quarantine);
  if (ok) {
    if (auto e = conn.exec_detailed("commit")) return e;
    return std::nullopt;
  }
  conn.exec_detailed("rollback");
  return err;
}

std::string batch_script(const Catalog& cat, const BatchData& b) {
  std::string s = "begin;\n";
  auto copy = [&](const std::string& sql, const std::string& data) {
    if (data.empty()) return;
    s += sql + ";\n" + data + "\\.\n";
  };
  for (size_t ei : cat.write_order) copy(cat.targets[ei].copy_sql, b.targets[ei]);
  copy(kAuditCopy, b.audit);
  copy(kProgressCopy, b.progress);
  copy(kQuarantineCopy, b.quarantine);
  return s + "commit;\n";
}

UserOut refused(const UserOut& u, const pg::ServerError& e) {
  UserOut q;
  q.user = u.user;
  q.source_id = u.source_id;
  q.version = u.version;
  q.problems = u.problems;
  q.entities.resize(u.entities.size());
  for (size_t i = 0; i < u.entities.size(); ++i) {
    q.entities[i].source_elements = u.entities[i].source_elements;
    q.entities[i].skipped = u.entities[i].source_elements;
  }
  q.quarantined = true;
  q.sqlstate = e.sqlstate;
  std::string where;
  if (!e.table.empty()) where += " on " + (e.schema.empty() ? e.table : e.schema + "." + e.table);
  if (!e.constraint.empty()) where += " (constraint " + e.constraint + ")";
  q.reason = clip(fmt::format("the server refused the rows{}: {}{}", where, e.message,
                              e.detail.empty() ? "" : " — " + e.detail),
                  2000);
  Problem p;
  p.user = u.user;
  p.entity = e.table;
  p.kind = "database";
  p.detail = q.reason;
  p.action = "quarantined user";
  q.problems.push_back(p);
  return q;
}

}  // namespace belay::backfill
