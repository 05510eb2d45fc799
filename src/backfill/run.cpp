// belay backfill run: backup first, then batches of users on several connections. Each
// batch is one transaction holding the users' rows, their audit and their progress; a
// batch the server refuses is split until the refused user is alone and quarantined.
// Progress lives in the database, so a killed run resumes where it stopped.
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "backfill/backfill.h"
#include "backfill/run_internal.h"
#include "backfill/store.h"
#include "backfill/transform.h"
#include "backfill/writer.h"

namespace belay::backfill {

using pg::quote_ident;
using pg::quote_literal;
using Clock = std::chrono::steady_clock;

bool transient(const std::string& sqlstate) {
  return sqlstate == "40001" || sqlstate == "40P01" || sqlstate == "55P03";
}

bool user_data_error(const std::string& sqlstate) {
  // Data exceptions, integrity violations, errors raised by triggers and check options:
  // about this user's data. Anything else (privileges, missing objects, resources, a lost
  // connection) would fail every user alike and stops the run instead.
  auto cls = sqlstate.substr(0, 2);
  return cls == "22" || cls == "23" || cls == "P0" || cls == "44" || cls == "38" || cls == "39" || cls == "2F";
}

std::optional<std::string> throttle_decision(double lag_ms, long long waiters, const Job& job) {
  if (lag_ms > static_cast<double>(job.max_replication_lag.count()))
    return fmt::format("replication lag {:.1f}s is over max_replication_lag {:.1f}s", lag_ms / 1000,
                       static_cast<double>(job.max_replication_lag.count()) / 1000);
  if (waiters > job.max_lock_waiters)
    return fmt::format("{} session{} waiting for locks held by this run (max_lock_waiters {})", waiters,
                       waiters == 1 ? " is" : "s are", job.max_lock_waiters);
  return std::nullopt;
}

namespace {

long long num(const std::string& s) { return std::strtoll(s.c_str(), nullptr, 10); }

struct Shared {
  std::mutex mu;
  std::condition_variable cv;
  bool paused = false;
  bool stop = false;
  int running = 0;
  std::optional<Error> error;
  std::deque<RunEvent> events;
  std::map<std::string, long long> problems;
  long long users_done = 0, users_quarantined = 0, rows = 0;
  int batches = 0, retries = 0, bisections = 0, quarantine_events = 0;
  std::vector<int> pids;

  void event(std::string kind, nlohmann::json data) {
    std::lock_guard<std::mutex> g(mu);
    events.push_back(RunEvent{std::move(kind), std::move(data)});
  }
  void fail(Error e) {
    std::lock_guard<std::mutex> g(mu);
    if (!error) error = std::move(e);
    stop = true;
    cv.notify_all();
  }
};

struct Ctx {
  const Job& job;
  const Catalog& cat;
  const std::string run_id;
  const std::string backup;  // qualified backup table
  long long users_total = 0;
  int batch_size = 500;
  Shared& sh;
};

Status session_setup(pg::Conn& c, const Job& job) {
  std::string sql = fmt::format("set lock_timeout = {}; set timezone = 'UTC'; set client_encoding = 'UTF8'",
                                quote_literal(fmt::format("{}ms", job.lock_timeout.count())));
  // A killed belay's backend notices its client is gone and rolls back promptly.
  if (c.server_version() >= 140000) sql += "; set client_connection_check_interval = '1s'";
  return c.exec(sql);
}

Result<std::vector<SourceRow>> fetch(pg::Conn& c, const Ctx& x, long long first, long long last) {
  const Job& j = x.job;
  std::string version = j.source.latest_by.empty() ? "null::text" : "b." + quote_ident(j.source.latest_by) + "::text";
  BELAY_ASSIGN(auto r, c.query(fmt::format(
      "select b.belay_user, b.{}::text, {}, b.{}::text from {} b where b.belay_ord between $1 and $2 "
      "and not exists (select 1 from belay.backfill_progress p where p.job = $3 and p.user_key = b.belay_user) "
      "order by b.belay_ord",
      quote_ident(j.source.id), version, quote_ident(j.source.column), x.backup),
      {std::to_string(first), std::to_string(last), j.name}));
  std::vector<SourceRow> rows;
  rows.reserve(static_cast<size_t>(r.size()));
  for (int i = 0; i < r.size(); ++i)
    rows.push_back(SourceRow{r.get(i, 1), r.get(i, 0), r.get(i, 2), r.opt(i, 3)});
  return rows;
}

void count_problems(Shared& sh, const std::vector<UserOut>& outs) {
  std::lock_guard<std::mutex> g(sh.mu);
  for (auto& u : outs)
    for (auto& p : u.problems) ++sh.problems[p.kind];
}

// Writes users[from, to): whole, retried on lock timeouts, split in halves when the
// server refuses it; a refused user alone is quarantined. False when the run must stop.
bool write_range(pg::Conn& c, const Ctx& x, std::vector<UserOut>& users, size_t from, size_t to) {
  std::vector<const UserOut*> part;
  for (size_t i = from; i < to; ++i) part.push_back(&users[i]);
  auto data = build_batch(x.job, x.run_id, part);
  for (int attempt = 0;; ++attempt) {
    auto err = write_batch(c, x.cat, data);
    if (!err) {
      std::lock_guard<std::mutex> g(x.sh.mu);
      for (size_t i = from; i < to; ++i) {
        if (users[i].quarantined) ++x.sh.users_quarantined;
        else ++x.sh.users_done;
        x.sh.rows += users[i].quarantined ? 0 : users[i].rows;
        if (users[i].quarantined && x.sh.quarantine_events < 1000) {
          ++x.sh.quarantine_events;
          x.sh.events.push_back(RunEvent{"quarantine", {{"user", users[i].user}, {"source_id", users[i].source_id},
                                                        {"reason", users[i].reason}, {"sqlstate", users[i].sqlstate}}});
        }
      }
      return true;
    }
    if (transient(err->sqlstate) && attempt < x.job.lock_retries) {
      {
        std::lock_guard<std::mutex> g(x.sh.mu);
        ++x.sh.retries;
      }
      x.sh.event("retry", {{"users", to - from}, {"attempt", attempt + 1}, {"sqlstate", err->sqlstate},
                           {"message", err->message}});
      std::this_thread::sleep_for(std::chrono::milliseconds(200LL << std::min(attempt, 5)));
      continue;
    }
    if (transient(err->sqlstate) || !user_data_error(err->sqlstate)) {
      Error e = pg::to_error(*err);
      e.message = "writing a batch failed: " + e.message;
      e.next = transient(err->sqlstate)
                   ? "another session holds locks on the target tables; rerun later to resume"
                   : "fix the cause (privileges, missing objects, the server) and rerun: finished users are kept";
      x.sh.fail(std::move(e));
      return false;
    }
    if (to - from == 1) {
      if (users[from].quarantined && !users[from].sqlstate.empty()) {  // even its quarantine was refused
        x.sh.fail(pg::to_error(*err));
        return false;
      }
      auto q = refused(users[from], *err);
      users[from] = std::move(q);
      {
        std::lock_guard<std::mutex> g(x.sh.mu);
        ++x.sh.problems["database"];
      }
      data = build_batch(x.job, x.run_id, {&users[from]});
      continue;  // writes the quarantine and progress rows
    }
    {
      std::lock_guard<std::mutex> g(x.sh.mu);
      ++x.sh.bisections;
    }
    x.sh.event("bisect", {{"users", to - from}, {"sqlstate", err->sqlstate}, {"message", err->message}});
    size_t mid = from + (to - from) / 2;
    return write_range(c, x, users, from, mid) && write_range(c, x, users, mid, to);
  }
}

// Batches to write. Each worker starts on its own contiguous share of the users, so the
// workers insert into different parts of the user-key indexes instead of fighting over
// the same right-most pages; a worker that is done takes batches from the end of the
// largest share left.
class Batches {
 public:
  Batches(long long total, int workers) {
    for (int k = 0; k < workers; ++k) shares_.push_back({total * k / workers, total * (k + 1) / workers});
  }
  std::optional<long long> claim(int k) {
    std::lock_guard<std::mutex> g(mu_);
    auto& own = shares_[static_cast<size_t>(k)];
    if (own.first < own.second) return own.first++;
    auto* best = &own;
    for (auto& s : shares_)
      if (s.second - s.first > best->second - best->first) best = &s;
    if (best->first >= best->second) return std::nullopt;
    return --best->second;
  }

 private:
  std::mutex mu_;
  std::vector<std::pair<long long, long long>> shares_;  // [next, end) per worker
};

void worker(pg::Conn& conn, const Ctx& x, Batches& batches, int k) {
  Transformer tr(x.job, x.cat);
  while (true) {
    {
      std::unique_lock<std::mutex> lk(x.sh.mu);
      x.sh.cv.wait(lk, [&] { return !x.sh.paused || x.sh.stop; });
      if (x.sh.stop) return;
    }
    auto claimed = batches.claim(k - 1);
    if (!claimed) return;
    long long b = *claimed;
    auto t0 = Clock::now();
    auto rows = fetch(conn, x, b * x.batch_size + 1, (b + 1) * x.batch_size);
    if (!rows.ok()) return x.sh.fail(std::move(rows).error());
    if (rows->empty()) continue;  // done before a resume
    auto t1 = Clock::now();
    std::vector<UserOut> outs;
    outs.reserve(rows->size());
    for (auto& r : *rows) outs.push_back(tr.transform(r));
    count_problems(x.sh, outs);
    auto t2 = Clock::now();
    if (!write_range(conn, x, outs, 0, outs.size())) return;
    auto t3 = Clock::now();
    long long rows_written = 0;
    for (auto& u : outs) rows_written += u.quarantined ? 0 : u.rows;
    {
      std::lock_guard<std::mutex> g(x.sh.mu);
      ++x.sh.batches;
    }
    auto ms = [](Clock::time_point a, Clock::time_point z) { return std::chrono::duration<double, std::milli>(z - a).count(); };
    x.sh.event("batch", {{"batch", b + 1}, {"users", outs.size()}, {"rows", rows_written}, {"worker", k},
                         {"ms", ms(t0, t3)}, {"read_ms", ms(t0, t1)}, {"transform_ms", ms(t1, t2)},
                         {"write_ms", ms(t2, t3)}});
  }
}

Result<std::pair<double, long long>> pressure(pg::Conn& c, const std::vector<int>& pids) {
  std::string list;
  for (int p : pids) list += (list.empty() ? "" : ",") + std::to_string(p);
  BELAY_ASSIGN(auto r, c.query(fmt::format(
      "select coalesce((select max(extract(epoch from greatest(write_lag, flush_lag, replay_lag))) * 1000 "
      "from pg_stat_replication), 0)::float8, "
      "(select count(*) from pg_stat_activity a where a.wait_event_type = 'Lock' "
      "and pg_blocking_pids(a.pid) && '{{{}}}'::int[])",
      list)));
  return std::make_pair(std::strtod(r.get(0, 0).c_str(), nullptr), std::strtoll(r.get(0, 1).c_str(), nullptr, 10));
}

struct Started {
  std::string run_id, backup;
  bool resumed = false;
};

// Resumes the job's unfinished run, or starts one: backup table and run row in one
// transaction, before anything is written to the targets.
Result<Started> start_run(pg::Conn& conn, const Job& job, const RunOptions& opt) {
  BELAY_ASSIGN(auto open, conn.query("select run_id, job_checksum, backup_table from belay.backfill_runs "
                                     "where job = $1 and state = 'running' order by started_at desc limit 1",
                                     {job.name}));
  Started s;
  if (open.size()) {
    s.run_id = open.get(0, 0);
    s.backup = open.get(0, 2);
    s.resumed = true;
    if (open.get(0, 1) != job.checksum) {
      Error e = Error::refused(fmt::format("run {} of job '{}' is unfinished and the job file has changed since it "
                                           "started", s.run_id, job.name));
      e.file = job.file.string();
      e.next = fmt::format("restore the job file to finish it, or roll it back first: belay backfill rollback {} --run {}",
                           job.file.string(), s.run_id);
      return e;
    }
    return s;
  }
  if (opt.retry_quarantined) {
    BELAY_TRY(conn.query("delete from belay.backfill_progress where job = $1 and state = 'quarantined'", {job.name}));
  }
  s.run_id = make_run_id();
  s.backup = "belay." + quote_ident("backfill_backup_" + s.run_id);
  nlohmann::json options = {{"limit", opt.limit}, {"batch_size", opt.batch_size ? opt.batch_size : job.batch_size},
                            {"workers", opt.workers ? opt.workers : job.workers},
                            {"retry_quarantined", opt.retry_quarantined}};
  // The backup never changes after this transaction: autovacuum has nothing to do there
  // (wraparound vacuums still run), and analyzing its documents is wasted work mid-run.
  std::string sql = fmt::format(
      "begin;\n"
      "create table {0} with (autovacuum_enabled = false) as select row_number() over (order by l.belay_user collate \"C\") as belay_ord, l.* "
      "from ({1}) l where not exists (select 1 from belay.backfill_progress p where p.job = {2} "
      "and p.user_key = l.belay_user) order by l.belay_user collate \"C\"{3};\n"
      "alter table {0} add primary key (belay_ord);\n"
      "comment on table {0} is {4};\n"
      "insert into belay.backfill_runs (run_id, job, job_file, job_checksum, state, backup_table, users_planned, "
      "options) select {5}, {2}, {6}, {7}, 'running', {8}, count(*), {9} from {0};\n"
      "commit;",
      s.backup, latest_rows_sql(job), quote_literal(job.name), opt.limit > 0 ? fmt::format(" limit {}", opt.limit) : "",
      quote_literal(fmt::format("belay backfill: the source rows run {} of job {} read, copied before it wrote "
                                "anything", s.run_id, job.name)),
      quote_literal(s.run_id), quote_literal(job.file.string()), quote_literal(job.checksum), quote_literal(s.backup),
      quote_literal(options.dump()));
  if (auto e = conn.exec_detailed(sql)) {
    conn.exec_detailed("rollback");
    Error err = pg::to_error(*e);
    err.message = "backing up the source rows failed: " + err.message;
    return err;
  }
  return s;
}

}  // namespace

RunReport run(pg::Conn& conn, const Job& job, const RunOptions& opt) {
  RunReport rep;
  auto t0 = Clock::now();
  auto finish = [&](Error e) {
    rep.error = std::move(e);
    rep.duration_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    return rep;
  };
  if (auto s = session_setup(conn, job); !s.ok()) return finish(std::move(s).error());
  if (auto s = ensure_tables(conn); !s.ok()) return finish(std::move(s).error());
  if (auto s = lock_job(conn, job, opt.lock_wait); !s.ok()) return finish(std::move(s).error());
  JobLock held{conn, job};
  auto cat = inspect(conn, job);
  if (!cat.ok()) return finish(std::move(cat).error());
  auto started = start_run(conn, job, opt);
  if (!started.ok()) return finish(std::move(started).error());
  rep.run_id = started->run_id;
  rep.resumed = started->resumed;
  rep.backup_table = started->backup;
  auto emit = [&](std::string kind, nlohmann::json d) {
    if (opt.on_event) opt.on_event(RunEvent{std::move(kind), std::move(d)});
  };

  auto counts = conn.query(fmt::format(
      "select (select count(*) from {0}), (select count(*) from {0} b where exists (select 1 from "
      "belay.backfill_progress p where p.job = $1 and p.user_key = b.belay_user)), "
      "(select count(*) - count(distinct {1}::text) from {2} where {1} is not null and {1}::text <> '')",
      rep.backup_table, quote_ident(job.source.user), job.source_qualified()),
      {job.name});
  if (!counts.ok()) return finish(std::move(counts).error());
  rep.backup_rows = rep.users_total = num(counts->get(0, 0));
  rep.users_already = num(counts->get(0, 1));
  rep.superseded_rows = num(counts->get(0, 2));
  emit(rep.resumed ? "resume" : "backup", {{"run_id", rep.run_id}, {"backup_table", rep.backup_table},
                                           {"users", rep.users_total}, {"already_done", rep.users_already}});

  Shared sh;
  Ctx x{job, *cat, rep.run_id, rep.backup_table, rep.users_total,
        opt.batch_size > 0 ? opt.batch_size : job.batch_size, sh};
  const int workers = std::max(1, opt.workers > 0 ? opt.workers : job.workers);
  Batches batches((rep.users_total + x.batch_size - 1) / x.batch_size, workers);
  // Connections are opened here: libpq connections are not shared between threads.
  std::vector<pg::Conn> conns;
  for (int k = 0; k < workers; ++k) {
    auto c = conn.reopen(fmt::format("belay backfill run (pid {}) worker {}", ::getpid(), k + 1));
    if (!c.ok()) return finish(std::move(c).error());
    if (auto s = session_setup(*c, job); !s.ok()) return finish(std::move(s).error());
    sh.pids.push_back(c->backend_pid());
    conns.push_back(std::move(*c));
  }
  std::vector<std::thread> threads;
  sh.running = workers;
  for (int k = 0; k < workers; ++k)
    threads.emplace_back([&, k] {
      worker(conns[static_cast<size_t>(k)], x, batches, k + 1);
      std::lock_guard<std::mutex> g(sh.mu);
      --sh.running;
      sh.cv.notify_all();
    });

  // The calling thread reports progress and watches the database's pressure.
  auto last_check = Clock::now() - opt.throttle_check;
  auto paused_since = Clock::now();
  auto drain = [&] {
    std::deque<RunEvent> evs;
    {
      std::lock_guard<std::mutex> g(sh.mu);
      evs.swap(sh.events);
    }
    for (auto& e : evs)
      if (opt.on_event) opt.on_event(e);
  };
  auto progress = [&] {
    if (!opt.on_progress) return;
    Progress p;
    {
      std::lock_guard<std::mutex> g(sh.mu);
      p.users_total = rep.users_total;
      p.users_done = rep.users_already + sh.users_done;
      p.users_quarantined = sh.users_quarantined;
      p.rows = sh.rows;
      p.throttled = sh.paused;
    }
    p.elapsed_s = std::chrono::duration<double>(Clock::now() - t0).count();
    opt.on_progress(p);
  };
  std::string throttle_reason;
  while (true) {
    {
      std::unique_lock<std::mutex> lk(sh.mu);
      sh.cv.wait_for(lk, std::chrono::milliseconds(100), [&] { return sh.running == 0; });
      if (sh.running == 0) break;
    }
    drain();
    progress();
    if (Clock::now() - last_check < opt.throttle_check) continue;
    last_check = Clock::now();
    std::vector<int> pids;
    {
      std::lock_guard<std::mutex> g(sh.mu);
      pids = sh.pids;
    }
    auto pr = pressure(conn, pids);
    if (!pr.ok()) continue;  // a monitoring query failing never stops the work
    auto why = throttle_decision(pr->first, pr->second, job);
    std::lock_guard<std::mutex> g(sh.mu);
    if (why && !sh.paused) {
      sh.paused = true;
      paused_since = Clock::now();
      throttle_reason = *why;
      sh.events.push_back(RunEvent{"throttle", {{"reason", *why}}});
    } else if (!why && sh.paused) {
      sh.paused = false;
      double ms = std::chrono::duration<double, std::milli>(Clock::now() - paused_since).count();
      rep.throttled_ms += ms;
      sh.events.push_back(RunEvent{"throttle_end", {{"after_ms", ms}, {"reason", throttle_reason}}});
      sh.cv.notify_all();
    }
  }
  for (auto& t : threads) t.join();
  if (sh.paused) rep.throttled_ms += std::chrono::duration<double, std::milli>(Clock::now() - paused_since).count();
  drain();
  progress();
  rep.batches = sh.batches;
  rep.batch_retries = sh.retries;
  rep.bisections = sh.bisections;
  rep.problems_by_kind = sh.problems;
  if (sh.error) {
    emit("error", {{"message", sh.error->render()}});
    rep.error = sh.error;
  }

  // The run's totals come from the database: they include what earlier (killed) attempts wrote.
  auto totals = conn.query(
      "select count(*) filter (where state = 'done'), count(*) filter (where state = 'quarantined'), "
      "coalesce(sum(rows), 0), count(*) filter (where state = 'done' and rows = 0) "
      "from belay.backfill_progress where job = $1 and run_id = $2",
      {job.name, rep.run_id});
  if (totals.ok()) {
    rep.users_done = num(totals->get(0, 0));
    rep.users_quarantined = num(totals->get(0, 1));
    rep.rows = num(totals->get(0, 2));
    rep.empty_users = num(totals->get(0, 3));
  }
  auto per_table = conn.query("select entity, min(target_table), sum(cardinality(target_ids)), sum(skipped) "
                              "from belay.backfill_audit where job = $1 and run_id = $2 group by entity",
                              {job.name, rep.run_id});
  if (per_table.ok())
    for (auto& e : job.entities) {
      TableCount tc{e.name, e.schema.empty() ? e.table : e.schema + "." + e.table, 0, 0};
      for (int i = 0; i < per_table->size(); ++i)
        if (per_table->get(i, 0) == e.name) {
          tc.rows = num(per_table->get(i, 2));
          tc.skipped = num(per_table->get(i, 3));
        }
      rep.tables.push_back(tc);
    }
  auto q = conn.query("select user_key, coalesce(source_id, ''), reason, coalesce(sqlstate, '') "
                      "from belay.backfill_quarantine where job = $1 and run_id = $2 order by user_key limit 1000",
                      {job.name, rep.run_id});
  if (q.ok())
    for (int i = 0; i < q->size(); ++i) rep.quarantined.push_back({q->get(i, 0), q->get(i, 1), q->get(i, 2), q->get(i, 3)});
  if (!rep.error) {
    auto left = conn.query(fmt::format("select count(*) from {} b where not exists (select 1 from "
                                       "belay.backfill_progress p where p.job = $1 and p.user_key = b.belay_user)",
                                       rep.backup_table),
                           {job.name});
    if (left.ok() && left->get(0, 0) == "0")
      conn.query("update belay.backfill_runs set state = 'done', finished_at = now() where run_id = $1",
                 {rep.run_id}).ok();
  }
  rep.duration_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  return rep;
}

}  // namespace belay::backfill
