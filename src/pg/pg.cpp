#include "pg/pg.h"

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>

#include <fmt/format.h>

namespace belay::pg {
namespace {


std::string field(const PGresult* r, int code) {
  const char* v = PQresultErrorField(r, code);
  return v ? v : "";
}

ServerError server_error(const PGresult* r, PGconn* c) {
  ServerError e;
  if (!r) {
    e.severity = "ERROR";
    e.message = c ? PQerrorMessage(c) : "no result";
    while (!e.message.empty() && (e.message.back() == '\n' || e.message.back() == ' ')) e.message.pop_back();
    e.sqlstate = "08006";
    return e;
  }
  e.severity = field(r, PG_DIAG_SEVERITY);
  e.sqlstate = field(r, PG_DIAG_SQLSTATE);
  e.message = field(r, PG_DIAG_MESSAGE_PRIMARY);
  e.detail = field(r, PG_DIAG_MESSAGE_DETAIL);
  e.hint = field(r, PG_DIAG_MESSAGE_HINT);
  e.context = field(r, PG_DIAG_CONTEXT);
  e.schema = field(r, PG_DIAG_SCHEMA_NAME);
  e.table = field(r, PG_DIAG_TABLE_NAME);
  e.column = field(r, PG_DIAG_COLUMN_NAME);
  e.constraint = field(r, PG_DIAG_CONSTRAINT_NAME);
  auto pos = field(r, PG_DIAG_STATEMENT_POSITION);
  if (!pos.empty()) e.position = std::atoi(pos.c_str());
  if (e.message.empty()) {
    e.message = PQresultErrorMessage(r);
    if (e.message.empty() && c) e.message = PQerrorMessage(c);
    while (!e.message.empty() && e.message.back() == '\n') e.message.pop_back();
  }
  if (e.sqlstate.empty() && PQstatus(c) != CONNECTION_OK) e.sqlstate = "08006";
  return e;
}

bool is_success(ExecStatusType s) {
  return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK || s == PGRES_EMPTY_QUERY ||
         s == PGRES_SINGLE_TUPLE;
}

// Server positions count characters; our strings are UTF-8.
size_t char_to_byte(const std::string& s, int chars) {
  int seen = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) {
      if (seen == chars) return i;
      ++seen;
    }
  }
  return s.size();
}

void notice_receiver(void* arg, const PGresult* r) {
  auto* v = static_cast<std::vector<std::string>*>(arg);
  if (v->size() < 1000) v->push_back(field(r, PG_DIAG_MESSAGE_PRIMARY));
}

}  // namespace

Error to_error(const ServerError& e) {
  Error err = Error::failure(e.message);
  err.sqlstate = e.sqlstate;
  err.detail = e.detail;
  err.hint = e.hint;
  if (!e.table.empty()) err.object = e.schema.empty() ? e.table : e.schema + "." + e.table;
  if (!e.constraint.empty()) err.object += (err.object.empty() ? "" : " ") + std::string("constraint ") + e.constraint;
  return err;
}

Rows::Rows(void* res) : res_(res, [](void* p) { PQclear(static_cast<PGresult*>(p)); }) {}
int Rows::size() const { return res_ ? PQntuples(static_cast<PGresult*>(res_.get())) : 0; }
int Rows::columns() const { return res_ ? PQnfields(static_cast<PGresult*>(res_.get())) : 0; }
bool Rows::null(int r, int c) const { return PQgetisnull(static_cast<PGresult*>(res_.get()), r, c); }
std::string Rows::get(int r, int c) const {
  auto* p = static_cast<PGresult*>(res_.get());
  return std::string(PQgetvalue(p, r, c), static_cast<size_t>(PQgetlength(p, r, c)));
}
std::optional<std::string> Rows::opt(int r, int c) const {
  if (null(r, c)) return std::nullopt;
  return get(r, c);
}
long long Rows::affected() const {
  if (!res_) return 0;
  const char* t = PQcmdTuples(static_cast<PGresult*>(res_.get()));
  return (t && *t) ? std::atoll(t) : 0;
}

struct Conn::Impl {
  PGconn* c = nullptr;
  std::vector<std::string> notices;
  ~Impl() { if (c) PQfinish(c); }
};

Result<Conn> Conn::open(const std::string& dsn, const std::string& application_name) {
  // Key/value overrides go through PQconnectdbParams with expand_dbname so both URL
  // and key=value DSNs work; fallback_application_name leaves a user-set name alone.
  const char* keys[] = {"dbname", "fallback_application_name", "connect_timeout", nullptr};
  const char* vals[] = {dsn.c_str(), application_name.c_str(), "10", nullptr};
  Conn conn;
  conn.impl_ = std::make_unique<Impl>();
  conn.redacted_ = redact(dsn);
  conn.impl_->c = PQconnectdbParams(keys, vals, 1);
  if (!conn.impl_->c) return Error::failure("out of memory connecting to PostgreSQL");
  if (PQstatus(conn.impl_->c) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(conn.impl_->c);
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    msg = scrub(msg, password_of(dsn));
    Error e = Error::failure(fmt::format("cannot connect to {}: {}", conn.redacted_, msg));
    e.sqlstate = "08001";
    e.next = "check that the server is running and the DSN (host, port, user, database) is right";
    return e;
  }
  PQsetNoticeReceiver(conn.impl_->c, notice_receiver, &conn.impl_->notices);
  return conn;
}

Conn::Conn(Conn&& o) noexcept : impl_(std::move(o.impl_)), redacted_(std::move(o.redacted_)) {
  if (impl_ && impl_->c) PQsetNoticeReceiver(impl_->c, notice_receiver, &impl_->notices);
}
Conn& Conn::operator=(Conn&& o) noexcept {
  impl_ = std::move(o.impl_);
  redacted_ = std::move(o.redacted_);
  if (impl_ && impl_->c) PQsetNoticeReceiver(impl_->c, notice_receiver, &impl_->notices);
  return *this;
}
Conn::~Conn() = default;

Result<Rows> Conn::query(std::string_view sql, const std::vector<std::optional<std::string>>& params) {
  std::string q(sql);
  std::vector<const char*> vals;
  for (auto& p : params) vals.push_back(p ? p->c_str() : nullptr);
  PGresult* r = PQexecParams(impl_->c, q.c_str(), static_cast<int>(vals.size()), nullptr,
                             vals.empty() ? nullptr : vals.data(), nullptr, nullptr, 0);
  if (r && is_success(PQresultStatus(r))) return Rows(r);
  auto e = server_error(r, impl_->c);
  PQclear(r);
  return to_error(e);
}

Result<Rows> Conn::query_detailed(std::string_view sql, ServerError* err_out) {
  std::string q(sql);
  PGresult* r = PQexecParams(impl_->c, q.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0);
  if (r && is_success(PQresultStatus(r))) return Rows(r);
  auto e = server_error(r, impl_->c);
  PQclear(r);
  if (err_out) *err_out = e;
  return to_error(e);
}

Status Conn::exec(std::string_view sql) {
  if (auto e = exec_detailed(sql)) return to_error(*e);
  return ok_status();
}

std::optional<ServerError> Conn::exec_detailed(std::string_view sql) {
  std::string q(sql);
  // PQexec returns the last result; an error stops the batch, so check every result.
  if (!PQsendQuery(impl_->c, q.c_str())) return server_error(nullptr, impl_->c);
  std::optional<ServerError> err;
  while (PGresult* r = PQgetResult(impl_->c)) {
    if (!err && !is_success(PQresultStatus(r))) err = server_error(r, impl_->c);
    PQclear(r);
  }
  if (!err && PQstatus(impl_->c) != CONNECTION_OK) err = server_error(nullptr, impl_->c);
  return err;
}

Result<Rows> Conn::exec_last(std::string_view sql) {
  std::string q(sql);
  if (!PQsendQuery(impl_->c, q.c_str())) return to_error(server_error(nullptr, impl_->c));
  std::optional<ServerError> err;
  Rows last;
  while (PGresult* r = PQgetResult(impl_->c)) {
    if (!err && !is_success(PQresultStatus(r))) err = server_error(r, impl_->c);
    if (!err && PQresultStatus(r) == PGRES_TUPLES_OK) last = Rows(r);  // takes ownership
    else PQclear(r);
  }
  if (!err && PQstatus(impl_->c) != CONNECTION_OK) err = server_error(nullptr, impl_->c);
  if (err) return to_error(*err);
  return last;
}

BatchResult Conn::pipeline(const std::vector<std::string>& statements) {
  BatchResult out;
  PGconn* c = impl_->c;
  if (!PQenterPipelineMode(c)) {
    out.error = server_error(nullptr, c);
    out.failed_index = 0;
    return out;
  }
  size_t next = 0;
  while (next < statements.size() && !out.error) {
    size_t end = std::min(statements.size(), next + kPipelineChunk);
    for (size_t i = next; i < end; ++i)
      PQsendQueryParams(c, statements[i].c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0);
    PQpipelineSync(c);
    for (size_t i = next; i < end; ++i) {
      PGresult* r = PQgetResult(c);
      if (!r) { // connection lost
        if (!out.error) { out.error = server_error(nullptr, c); out.failed_index = static_cast<int>(i); }
        break;
      }
      auto st = PQresultStatus(r);
      if (st == PGRES_PIPELINE_ABORTED) {
        // skipped because an earlier statement failed
      } else if (!is_success(st)) {
        if (!out.error) {
          out.error = server_error(r, c);
          out.failed_index = static_cast<int>(i);
          if (out.error->position > 0)
            out.error_byte = static_cast<int>(char_to_byte(statements[i], out.error->position - 1));
        }
      } else if (!out.error) {
        ++out.completed;
      }
      PQclear(r);
      while (PGresult* extra = PQgetResult(c)) PQclear(extra);  // NULL ends each query
    }
    // Consume the sync marker. An error here is the implicit commit failing.
    for (int guard = 0; guard < 16; ++guard) {
      PGresult* r = PQgetResult(c);
      if (!r) { if (PQstatus(c) != CONNECTION_OK) break; continue; }
      auto st = PQresultStatus(r);
      if (st != PGRES_PIPELINE_SYNC && !is_success(st) && !out.error) {
        out.error = server_error(r, c);
        out.failed_index = static_cast<int>(statements.size());
      }
      PQclear(r);
      if (st == PGRES_PIPELINE_SYNC) break;
    }
    next = end;
  }
  PQexitPipelineMode(c);
  return out;
}

BatchResult Conn::exec_batch(const std::vector<std::string>& statements) {
  BatchResult out;
  PGconn* c = impl_->c;
  std::string q;
  std::vector<size_t> starts;
  for (auto& st : statements) {
    starts.push_back(q.size());
    q += st;
    q += ";\n";
  }
  if (!PQsendQuery(c, q.c_str())) {
    out.error = server_error(nullptr, c);
    out.failed_index = 0;
    return out;
  }
  while (PGresult* r = PQgetResult(c)) {
    auto st = PQresultStatus(r);
    if (is_success(st)) {
      if (!out.error) ++out.completed;
    } else if (!out.error) {
      out.error = server_error(r, c);
      out.failed_index = out.completed;  // == statements.size() when the commit fails
    }
    PQclear(r);
  }
  if (!out.error && PQstatus(c) != CONNECTION_OK) {
    out.error = server_error(nullptr, c);
    out.failed_index = out.completed;
  }
  if (out.error && out.error->position > 0) {
    // A syntax error stops the whole string before anything runs: its position says where.
    size_t byte = char_to_byte(q, out.error->position - 1);
    auto it = std::upper_bound(starts.begin(), starts.end(), byte);
    if (it != starts.begin()) {
      size_t k = static_cast<size_t>(it - starts.begin()) - 1;
      if (byte < starts[k] + statements[k].size()) {
        out.failed_index = static_cast<int>(k);
        out.error_byte = static_cast<int>(byte - starts[k]);
      }
    }
  }
  return out;
}

Result<long long> Conn::copy_in(std::string_view copy_sql, std::string_view data, ServerError* err_out) {
  PGconn* c = impl_->c;
  auto fail = [&](PGresult* r) -> Error {
    auto e = server_error(r, c);
    if (r) PQclear(r);
    if (err_out) *err_out = e;
    return to_error(e);
  };
  std::string q(copy_sql);
  PGresult* r = PQexec(c, q.c_str());
  if (!r || PQresultStatus(r) != PGRES_COPY_IN) {
    if (r && is_success(PQresultStatus(r))) {  // not a COPY FROM STDIN at all
      PQclear(r);
      ServerError e;
      e.message = "not a COPY FROM STDIN statement";
      if (err_out) *err_out = e;
      return to_error(e);
    }
    return fail(r);
  }
  PQclear(r);
  // Chunks keep libpq from copying the whole buffer into its own at once.
  constexpr size_t kChunk = 1 << 20;
  for (size_t off = 0; off < data.size(); off += kChunk) {
    size_t n = std::min(kChunk, data.size() - off);
    if (PQputCopyData(c, data.data() + off, static_cast<int>(n)) != 1) break;  // the result says why
  }
  PQputCopyEnd(c, nullptr);
  std::optional<ServerError> err;
  long long copied = 0;
  while (PGresult* res = PQgetResult(c)) {
    if (!err && is_success(PQresultStatus(res))) {
      copied = Rows(res).affected();  // Rows owns and frees it
      continue;
    }
    if (!err) err = server_error(res, c);
    PQclear(res);
  }
  if (!err && PQstatus(c) != CONNECTION_OK) err = server_error(nullptr, c);
  if (err) {
    if (err_out) *err_out = *err;
    return to_error(*err);
  }
  return copied;
}

std::vector<Conn::StepResult> Conn::pipeline_steps(const std::vector<Step>& steps) {
  std::vector<StepResult> out(steps.size());
  PGconn* c = impl_->c;
  auto lost = [&](size_t from) {
    auto e = server_error(nullptr, c);
    for (size_t i = from; i < out.size(); ++i) {
      out[i].state = StepResult::failed;
      out[i].error = e;
    }
  };
  if (!PQenterPipelineMode(c)) {
    lost(0);
    return out;
  }
  size_t next = 0;
  while (next < steps.size()) {
    // A chunk ends at a segment end once it holds kPipelineChunk statements (or at the last).
    size_t end = next;
    while (end < steps.size()) {
      PQsendQueryParams(c, steps[end].sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0);
      bool last = end + 1 == steps.size();
      if (steps[end].sync || last) PQpipelineSync(c);
      ++end;
      if (last || (steps[end - 1].sync && end - next >= kPipelineChunk)) break;
    }
    for (size_t i = next; i < end; ++i) {
      PGresult* r = PQgetResult(c);
      if (!r) {
        lost(i);
        PQexitPipelineMode(c);
        return out;
      }
      auto st = PQresultStatus(r);
      if (st == PGRES_PIPELINE_ABORTED) {
        out[i].state = StepResult::skipped;
        PQclear(r);
      } else if (!is_success(st)) {
        out[i].state = StepResult::failed;
        out[i].error = server_error(r, c);
        PQclear(r);
      } else {
        out[i].state = StepResult::ok;
        out[i].rows = Rows(r);  // takes ownership
      }
      while (PGresult* extra = PQgetResult(c)) PQclear(extra);  // NULL ends each statement
      if (steps[i].sync || i + 1 == steps.size()) {
        for (int guard = 0; guard < 16; ++guard) {
          PGresult* s = PQgetResult(c);
          if (!s) {
            if (PQstatus(c) != CONNECTION_OK) break;
            continue;
          }
          bool sync = PQresultStatus(s) == PGRES_PIPELINE_SYNC;
          PQclear(s);
          if (sync) break;
        }
      }
    }
    next = end;
  }
  PQexitPipelineMode(c);
  return out;
}

Result<Conn> Conn::reopen(const std::string& application_name) const {
  // The live connection's own parameters (password included, never printed).
  PQconninfoOption* opts = PQconninfo(impl_->c);
  if (!opts) return Error::failure("out of memory reading connection parameters");
  std::vector<const char*> keys, vals;
  for (auto* o = opts; o->keyword; ++o) {
    if (!o->val || !*o->val || std::string_view(o->keyword) == "application_name") continue;
    keys.push_back(o->keyword);
    vals.push_back(o->val);
  }
  keys.push_back("application_name");
  vals.push_back(application_name.c_str());
  keys.push_back(nullptr);
  vals.push_back(nullptr);
  Conn conn;
  conn.impl_ = std::make_unique<Impl>();
  conn.redacted_ = redacted_;
  conn.impl_->c = PQconnectdbParams(keys.data(), vals.data(), 0);
  PQconninfoFree(opts);
  if (!conn.impl_->c || PQstatus(conn.impl_->c) != CONNECTION_OK) {
    std::string msg = conn.impl_->c ? PQerrorMessage(conn.impl_->c) : "out of memory";
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    return Error::failure(fmt::format("cannot open a second connection to {}: {}", redacted_, msg));
  }
  PQsetNoticeReceiver(conn.impl_->c, notice_receiver, &conn.impl_->notices);
  return conn;
}

Status Conn::listen(std::string_view channel) {
  return exec("LISTEN " + quote_ident(channel));
}

Result<std::vector<Conn::Notification>> Conn::wait_notifications(int timeout_ms) {
  std::vector<Notification> out;
  auto drain = [&] {
    while (PGnotify* n = PQnotifies(impl_->c)) {
      out.push_back({n->relname ? n->relname : "", n->extra ? n->extra : "", n->be_pid});
      PQfreemem(n);
    }
  };
  auto lost = [&] {
    std::string msg = PQerrorMessage(impl_->c);
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    Error e = Error::failure(fmt::format("lost the connection to {}: {}", redacted_, msg.empty() ? "closed" : msg));
    e.sqlstate = "08006";
    return e;
  };
  if (!ok()) return lost();
  if (!PQconsumeInput(impl_->c)) return lost();
  drain();
  if (!out.empty() || timeout_ms <= 0) return out;
  pollfd p{PQsocket(impl_->c), POLLIN, 0};
  if (p.fd < 0) return lost();
  int r = ::poll(&p, 1, timeout_ms);
  if (r < 0 && errno != EINTR) return lost();
  if (r > 0) {
    if (!PQconsumeInput(impl_->c) || PQstatus(impl_->c) != CONNECTION_OK) return lost();
    drain();
  }
  return out;
}

int Conn::backend_pid() const { return PQbackendPID(impl_->c); }
int Conn::server_version() const { return PQserverVersion(impl_->c); }
bool Conn::ok() const { return impl_ && impl_->c && PQstatus(impl_->c) == CONNECTION_OK; }

std::vector<std::string> Conn::take_notices() {
  std::vector<std::string> v;
  v.swap(impl_->notices);
  return v;
}

std::string quote_ident(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"') out += '"';
    out += ch;
  }
  return out + "\"";
}

std::string quote_literal(std::string_view s) {
  // standard_conforming_strings is on in every supported PostgreSQL: only ' needs doubling.
  std::string out = "'";
  for (char ch : s) {
    if (ch == '\'') out += '\'';
    out += ch;
  }
  return out + "'";
}

}  // namespace belay::pg
