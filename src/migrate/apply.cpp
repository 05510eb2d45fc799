#include "migrate/apply.h"

#include <chrono>
#include <random>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "migrate/history.h"
#include "migrate/lock.h"
#include "util/text.h"

namespace belay::migrate::apply {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

bool lock_error(const std::string& sqlstate) {
  return sqlstate == "55P03" /* lock_not_available */ || sqlstate == "40P01" /* deadlock */;
}

// Exponential backoff with jitter: 250ms, 500ms, 1s, ... capped at 5s.
std::chrono::milliseconds backoff(int attempt) {
  static thread_local std::mt19937 rng{std::random_device{}()};
  long base = std::min(5000L, 250L << std::min(attempt - 1, 5));
  std::uniform_int_distribution<long> jitter(-base / 4, base / 4);
  return std::chrono::milliseconds(base + jitter(rng));
}

// Server positions count characters; statements are UTF-8.
int char_to_byte(const std::string& s, int chars) {
  int seen = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) {
      if (seen == chars) return static_cast<int>(i);
      ++seen;
    }
  }
  return static_cast<int>(s.size());
}

// Session-level timeouts (a file's own directives win over the run's).
std::string settings(const Script& s, const RunOptions& opt) {
  auto lt = s.lock_timeout.value_or(opt.lock_timeout);
  auto stt = s.statement_timeout.value_or(opt.statement_timeout);
  return fmt::format("set lock_timeout = '{}'; set statement_timeout = '{}'; "
                     "set client_connection_check_interval = '1s'",
                     text::pg_duration(lt), text::pg_duration(stt));
}

// The per-migration settings in one statement (one Parse/Execute, not three).
std::string settings_select(const Script& s, const RunOptions& opt) {
  auto lt = s.lock_timeout.value_or(opt.lock_timeout);
  auto stt = s.statement_timeout.value_or(opt.statement_timeout);
  return fmt::format("select set_config('lock_timeout', '{}', true), set_config('statement_timeout', '{}', true), "
                     "set_config('client_connection_check_interval', '1s', true)",
                     text::pg_duration(lt), text::pg_duration(stt));
}

Error statement_error(const Job& job, int idx, const pg::ServerError& se, int error_byte) {
  const auto& st = job.script->statements[static_cast<size_t>(idx)];
  Error e = pg::to_error(se);
  e.file = job.script->file.string();
  e.line = st.line;
  e.column = st.column;
  if (error_byte >= 0) {
    auto [l, c] = sql::line_col(st.text, error_byte);
    e.line = st.line + l - 1;
    e.column = l == 1 ? st.column + c - 1 : c;
  }
  if (e.object.empty()) e.object = fmt::format("migration {}_{}", job.migration->version, job.migration->name);
  e.message = fmt::format("{} (statement {} of {})", e.message, idx + 1, job.script->statements.size());
  return e;
}

void note(StepReport& step, const RunOptions& opt, const Job& job, std::string msg) {
  if (opt.on_event)
    opt.on_event(Event{Event::note, job.migration->version, job.migration->name, msg, 0, 0});
  step.log.push_back(std::move(msg));
}

void log_attempt(pg::Conn& conn, const Job& job, int attempt, const std::string& outcome, const Error& e, double ms) {
  // Best effort and outside the failed transaction, so failures are recorded too.
  conn.exec(history::log_row(job.migration->version, job.up ? "up" : "down", attempt, outcome, e.message, e.sqlstate,
                             ms, job.runner))
      .ok();
}

// Handles a lock failure: logs it, names blockers, and says whether to retry.
bool should_retry(pg::Conn& conn, const Job& job, const RunOptions& opt, StepReport& step, Error& e,
                  const sql::Statement* st, int attempt, double ms) {
  if (!lock_error(e.sqlstate)) return false;
  std::vector<std::string> who = st ? lock::blockers(conn, st->relations) : std::vector<std::string>{};
  std::string blockers;
  for (auto& w : who) blockers += (blockers.empty() ? "" : "; ") + w;
  bool retry = attempt <= opt.lock_retries;
  auto delay = backoff(attempt);
  std::string msg = fmt::format("attempt {} failed after {:.0f} ms: {}{}{}", attempt, ms, e.message,
                                blockers.empty() ? "" : " — " + blockers,
                                retry ? fmt::format("; retrying in {} ms", delay.count()) : "");
  if (opt.on_event)
    opt.on_event(Event{Event::attempt_failed, job.migration->version, job.migration->name, msg, attempt, 0});
  step.log.push_back(msg);
  log_attempt(conn, job, attempt, retry ? "retry" : "failed", e, ms);
  if (!blockers.empty()) e.detail = (e.detail.empty() ? "" : e.detail + "\n") + "blocked by " + blockers;
  if (!retry) {
    e.next = fmt::format("gave up after {} attempts; wait for the blocking transaction to end (or end it: "
                         "select pg_terminate_backend(pid)), or raise lock_timeout / lock_retries",
                         attempt);
    return false;
  }
  std::this_thread::sleep_for(delay);
  return true;
}

// Rehearsal variant of Conn::exec_batch: the same statements in one explicit transaction,
// one at a time, asking pg_locks after each which locks it took on relations that existed
// before the migration. Same BatchResult contract (failed_index == size(): the commit).
pg::BatchResult run_observed(pg::Conn& conn, const std::vector<std::string>& batch, int first_stmt, int stmt_count,
                             const Job& job, int from, StepReport& step) {
  pg::BatchResult out;
  auto fail = [&](const pg::ServerError& e, int k) {
    out.error = e;
    out.failed_index = k;
    if (e.position > 0 && k < static_cast<int>(batch.size()))
      out.error_byte = char_to_byte(batch[static_cast<size_t>(k)], e.position - 1);
    conn.exec("rollback").ok();
    return out;
  };
  if (auto e = conn.exec_detailed("begin")) return fail(*e, 0);
  auto pre = conn.query(
      "select coalesce(array_agg(c.oid), '{}')::text from pg_class c join pg_namespace n on n.oid = c.relnamespace "
      "where n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_toast%'");
  std::string oids = pre.ok() ? pre->get(0, 0) : "{}";
  std::set<std::string> held;
  for (size_t k = 0; k < batch.size(); ++k) {
    if (auto e = conn.exec_detailed(batch[k])) return fail(*e, static_cast<int>(k));
    ++out.completed;
    int si = static_cast<int>(k) - first_stmt;
    if (si < 0 || si >= stmt_count) continue;
    auto rows = conn.query("select l.mode || ' on ' || l.relation::regclass::text from pg_locks l "
                           "where l.pid = pg_backend_pid() and l.locktype = 'relation' and l.granted "
                           "and l.relation = any($1::oid[]) order by l.relation::regclass::text, l.mode",
                           {oids});
    const auto& st = job.script->statements[static_cast<size_t>(from + si)];
    StatementLocks sl{from + si, st.line, st.text.substr(0, st.text.find('\n')), {}};
    if (rows.ok())
      for (int r = 0; r < rows->size(); ++r)
        if (held.insert(rows->get(r, 0)).second) sl.locks.push_back(rows->get(r, 0));
    step.locks.push_back(std::move(sl));
  }
  if (auto e = conn.exec_detailed("commit")) return fail(*e, static_cast<int>(batch.size()));
  return out;
}

// Runs statements [from, to) plus `extra` in one transaction, one round trip.
Status run_tx(pg::Conn& conn, const Job& job, const RunOptions& opt, StepReport& step, int from, int to,
              const std::vector<std::string>& extra) {
  const auto& stmts = job.script->statements;
  for (int attempt = 1;; ++attempt) {
    // Session-level defaults are already set (configure_session); only a file with its own
    // timeouts pays for a per-transaction set_config.
    // One Query message is one implicit transaction: committed when it ends, rolled back
    // on any error (including one raised at commit by a deferred constraint).
    std::vector<std::string> batch;
    if (job.script->lock_timeout || job.script->statement_timeout) batch.push_back(settings_select(*job.script, opt));
    const int prefix = static_cast<int>(batch.size());
    for (int i = from; i < to; ++i) batch.push_back(stmts[static_cast<size_t>(i)].text);
    for (auto& x : extra) batch.push_back(x);
    auto t0 = Clock::now();
    step.attempts = attempt;
    size_t locks_before = step.locks.size();
    auto res = opt.observe_locks ? run_observed(conn, batch, prefix, to - from, job, from, step) : conn.exec_batch(batch);
    for (auto& n : conn.take_notices()) step.notices.push_back(std::move(n));
    if (res.ok()) return ok_status();
    step.locks.resize(locks_before);  // a retry observes again
    double ms = ms_since(t0);
    int idx = res.failed_index - prefix;
    const sql::Statement* st = nullptr;
    Error e;
    if (idx >= 0 && idx < to - from) {
      st = &stmts[static_cast<size_t>(from + idx)];
      e = statement_error(job, from + idx, *res.error, res.error_byte);
    } else {
      e = pg::to_error(*res.error);
      e.file = job.script->file.string();
      e.object = fmt::format("migration {}_{}", job.migration->version, job.migration->name);
      // The server commits before it acknowledges the last statement, so a deferred
      // constraint failing at commit is reported against our history statement; an error
      // in that statement itself names a belay (or supabase_migrations) table.
      const auto& sch = res.error->schema;
      bool at_commit = res.failed_index >= static_cast<int>(batch.size()) ||
                       (sch != "belay" && sch != "supabase_migrations");
      e.message = (at_commit ? "commit failed (a deferred constraint?): " : "recording history failed: ") + e.message;
    }
    if (should_retry(conn, job, opt, step, e, st, attempt, ms)) continue;
    if (!lock_error(e.sqlstate)) log_attempt(conn, job, attempt, "failed", e, ms);
    if (e.next.empty()) e.next = "fix the statement and run again; nothing of this migration was applied";
    return e;
  }
}

std::string qualified(const std::string& schema, const std::string& name) {
  return schema.empty() ? pg::quote_ident(name) : pg::quote_ident(schema) + "." + pg::quote_ident(name);
}

// Before (re)running a concurrent index build: an INVALID index left by an interrupted
// build is dropped; a VALID one means the build finished before we could record it.
Result<bool> prepare_concurrent(pg::Conn& conn, const Job& job, const RunOptions& opt, StepReport& step,
                                const sql::Statement& st, bool may_skip) {
  if (st.index_name.empty()) return false;
  std::string schema = st.index_schema.empty() ? st.table_schema : st.index_schema;
  if (st.kind == "IndexStmt") {
    BELAY_ASSIGN(auto rows, conn.query("select i.indisvalid from pg_index i where i.indexrelid = to_regclass($1)",
                                       {qualified(schema, st.index_name)}));
    if (rows.size() == 0) return false;
    if (rows.get(0, 0) == "t") {
      if (may_skip || st.if_not_exists) {
        note(step, opt, job, fmt::format("index {} already built and valid; statement counted as done", st.index_name));
        return true;
      }
      return false;
    }
    note(step, opt, job,
         fmt::format("dropping INVALID index {} left by an interrupted concurrent build, then rebuilding",
                     st.index_name));
    BELAY_TRY(conn.exec("drop index concurrently if exists " + qualified(schema, st.index_name)));
  } else if (st.kind == "ReindexStmt") {
    // An interrupted REINDEX CONCURRENTLY leaves <index>_ccnew* copies behind.
    BELAY_ASSIGN(auto rows, conn.query(
        "select quote_ident(n.nspname) || '.' || quote_ident(c.relname) from pg_class c "
        "join pg_namespace n on n.oid = c.relnamespace join pg_index i on i.indexrelid = c.oid "
        "where not i.indisvalid and c.relname like $1 || '\\_ccnew%' and ($2 = '' or n.nspname = $2)",
        {st.index_name, schema}));
    for (int i = 0; i < rows.size(); ++i) {
      note(step, opt, job, "dropping " + rows.get(i, 0) + " left by an interrupted REINDEX CONCURRENTLY");
      BELAY_TRY(conn.exec("drop index concurrently if exists " + rows.get(i, 0)));
    }
  }
  return false;
}

// One statement outside any transaction, with retries, then its progress row.
Status run_alone(pg::Conn& conn, const Job& job, const RunOptions& opt, StepReport& step, int idx, bool may_skip) {
  const auto& st = job.script->statements[static_cast<size_t>(idx)];
  for (int attempt = 1;; ++attempt) {
    step.attempts = std::max(step.attempts, attempt);
    bool concurrent = !st.transactional && (st.kind == "IndexStmt" || st.kind == "ReindexStmt");
    if (concurrent) {
      BELAY_ASSIGN(bool done, prepare_concurrent(conn, job, opt, step, st, may_skip || attempt > 1));
      if (done) break;
    }
    auto t0 = Clock::now();
    auto err = conn.exec_detailed(st.text);
    for (auto& n : conn.take_notices()) step.notices.push_back(std::move(n));
    if (!err) break;
    double ms = ms_since(t0);
    Error e = statement_error(job, idx, *err,
                              err->position > 0 ? char_to_byte(st.text, err->position - 1) : -1);
    if (should_retry(conn, job, opt, step, e, &st, attempt, ms)) continue;
    if (!lock_error(e.sqlstate)) log_attempt(conn, job, attempt, "failed", e, ms);
    if (e.next.empty())
      e.next = fmt::format("fix it and run again: belay resumes this migration at statement {} ({} done)", idx + 1, idx);
    return e;
  }
  return conn.exec(history::record_progress(*job.migration, idx + 1));
}

bool has_transaction_control(const Script& s) {
  for (auto& st : s.statements)
    if (st.transaction_control) return true;
  return false;
}

}  // namespace

Status configure_session(pg::Conn& conn, const RunOptions& opt) {
  return conn.exec(settings(Script{}, opt));
}

std::string mode_of(const Script& s) {
  return s.transactional ? "transaction" : "statement-by-statement (" + s.non_tx_reason + ")";
}

Status run(pg::Conn& conn, const Job& job, const RunOptions& opt, StepReport& step) {
  const Migration& m = *job.migration;
  const Script& s = *job.script;
  auto t0 = Clock::now();
  std::vector<std::string> finish;
  if (job.up) finish.push_back(history::record_applied(m, job.applied_by));
  else finish.push_back(history::remove(m));
  if (opt.flavor == "supabase") finish.push_back(job.up ? history::supabase_insert(m) : history::supabase_delete(m));
  // History row and attempt log in one statement (a data-modifying CTE).
  auto with_log = [&](const std::string& history_sql) {
    return fmt::format(
        "with h as ({} returning version) "
        "insert into belay.migration_log (version, direction, attempt, outcome, duration_ms, runner) "
        "select version, '{}', {}, '{}', extract(epoch from clock_timestamp() - now()) * 1000, {} from h",
        history_sql, job.up ? "up" : "down", std::max(1, step.attempts), job.up ? "applied" : "reverted",
        pg::quote_literal(job.runner));
  };
  finish[0] = with_log(finish[0]);
  const bool reset_after = s.changes_session;

  if (s.transactional) {
    BELAY_TRY(run_tx(conn, job, opt, step, 0, static_cast<int>(s.statements.size()), finish));
    if (reset_after) BELAY_TRY(conn.exec("reset all; " + settings(Script{}, opt)));
    step.duration_ms = ms_since(t0);
    return ok_status();
  }

  // Statement by statement: progress is recorded after every step so a rerun (after a
  // failure or kill -9) resumes exactly where this one stopped.
  int n = static_cast<int>(s.statements.size());
  int start = job.resuming ? job.resume_from : 0;
  if (job.resuming) {
    step.resumed_from = start;
    note(step, opt, job, fmt::format("resuming at statement {} of {} ({} already done)", start + 1, n, start));
  } else if (job.up) {
    BELAY_TRY(conn.exec(history::record_partial(m, "partial_up", n, job.applied_by)));
  } else {
    BELAY_TRY(conn.exec(fmt::format("update belay.migrations set state = 'partial_down', progress = 0, total = {} "
                                    "where version = {}", n, pg::quote_literal(m.version))));
  }
  BELAY_TRY(conn.exec("reset all; " + settings(s, opt)));
  bool grouping = !has_transaction_control(s);
  for (int i = start; i < n;) {
    const auto& st = s.statements[static_cast<size_t>(i)];
    if (grouping && st.transactional) {
      int j = i;
      while (j < n && s.statements[static_cast<size_t>(j)].transactional) ++j;
      BELAY_TRY(run_tx(conn, job, opt, step, i, j, {history::record_progress(m, j)}));
      i = j;
    } else {
      BELAY_TRY(run_alone(conn, job, opt, step, i, job.resuming && i == start));
      ++i;
    }
  }
  std::vector<std::string> batch{"begin"};
  batch.insert(batch.end(), finish.begin(), finish.end());
  batch.push_back("commit");
  auto res = conn.pipeline(batch);
  if (!res.ok()) {
    conn.exec("rollback").ok();
    return pg::to_error(*res.error);
  }
  BELAY_TRY(conn.exec("reset all; " + settings(Script{}, opt)));
  step.duration_ms = ms_since(t0);
  return ok_status();
}

}  // namespace belay::migrate::apply
