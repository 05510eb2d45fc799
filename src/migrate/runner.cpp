// migrate / rollback / baseline: decide what runs, in what order, and refuse early.
#include <unistd.h>

#include <algorithm>

#include <fmt/format.h>

#include "migrate/apply.h"
#include "migrate/history.h"
#include "migrate/lock.h"

namespace belay::migrate {
namespace {

std::string os_identity() {
  const char* u = std::getenv("USER");
  char host[256] = {0};
  ::gethostname(host, sizeof host - 1);
  return fmt::format("{}@{}", u && *u ? u : std::to_string(::getuid()), host);
}

void emit(const RunOptions& opt, Event::Kind k, const Migration& m, std::string msg, int i, int n) {
  if (opt.on_event) opt.on_event(Event{k, m.version, m.name, std::move(msg), i, n});
}

StepReport plan_step(const Migration& m, const Script& s, bool up, const RunOptions& opt) {
  StepReport st;
  st.version = m.version;
  st.name = m.name;
  st.direction = up ? "up" : "down";
  st.file = s.file.string();
  st.outcome = "planned";
  st.mode = apply::mode_of(s);
  st.lock_timeout_ms = s.lock_timeout.value_or(opt.lock_timeout).count();
  st.statement_timeout_ms = s.statement_timeout.value_or(opt.statement_timeout).count();
  return st;
}

std::vector<std::string> statement_lines(const Script& s) {
  std::vector<std::string> out;
  for (auto& st : s.statements) out.push_back(fmt::format("{}:{}  {}", st.line, st.column, st.text));
  return out;
}

// Holds the migration lock for one run.
struct LockGuard {
  pg::Conn& conn;
  bool held = false;
  ~LockGuard() { if (held && conn.ok()) lock::release(conn).ok(); }
};

const Applied* find_applied(const std::vector<Applied>& h, const std::string& v) {
  for (auto& a : h)
    if (compare_versions(a.version, v) == 0) return &a;
  return nullptr;
}

// Common start of migrate and rollback: lock, history table, history rows.
Result<std::vector<Applied>> begin_run(pg::Conn& conn, const RunOptions& opt, LockGuard& guard) {
  if (!opt.dry_run) {
    BELAY_TRY(lock::acquire(conn, opt.lock_wait));
    guard.held = true;
    BELAY_TRY(history::ensure(conn, opt.flavor == "supabase"));
    BELAY_TRY(apply::configure_session(conn, opt));
  }
  return read_history(conn);
}

// One script of one migration, and where a partial earlier run stopped.
struct Step {
  const Migration* m;
  const Script* script;
  bool resuming;
  int progress;
};

// The newest applied migration: the one whose fingerprint describes the schema now.
std::optional<std::string> last_applied(pg::Conn& conn) {
  auto r = conn.query("select version from belay.migrations where state = 'applied' "
                      "order by length(ltrim(version, '0')) desc, ltrim(version, '0') desc limit 1");
  if (!r.ok() || r->size() == 0) return std::nullopt;
  return r->get(0, 0);
}

// Records the fingerprint of the schema as the run leaves it (see RunOptions::fingerprint).
void record_fingerprint(pg::Conn& conn, const RunOptions& opt, RunReport& rep, bool full,
                        history::FingerprintWarmup* warm = nullptr) {
  if (opt.fingerprint == RunOptions::Fingerprint::off || opt.dry_run || !conn.ok()) return;
  auto v = last_applied(conn);
  if (!v) return;
  auto h = history::record_fingerprint(warm ? warm->connection(conn) : conn, *v, full);
  if (h.ok()) rep.fingerprint = *h;
  else rep.warnings.push_back("could not record the schema fingerprint: " + h.error().message);
}

// Plans (dry run) or runs the steps in order, stopping at the first failure.
void run_steps(pg::Conn& conn, const std::vector<Step>& steps, bool up, const RunOptions& opt, RunReport& rep) {
  int n = static_cast<int>(steps.size());
  auto who = os_identity();
  for (int i = 0; i < n; ++i) {
    const Step& s = steps[static_cast<size_t>(i)];
    const Migration& m = *s.m;
    StepReport step = plan_step(m, *s.script, up, opt);
    if (opt.dry_run) {
      step.statements = statement_lines(*s.script);
      if (s.resuming) step.resumed_from = s.progress;
      emit(opt, Event::plan, m, step.mode, i + 1, n);
      rep.steps.push_back(std::move(step));
      continue;
    }
    emit(opt, Event::begin, m, step.mode, i + 1, n);
    apply::Job job{&m, s.script, up, s.progress, s.resuming, who, fmt::format("{} pid {}", who, ::getpid())};
    auto st = apply::run(conn, job, opt, step);
    if (!st.ok()) {
      step.outcome = "failed";
      rep.steps.push_back(std::move(step));
      rep.error = std::move(st).error();
      return;
    }
    step.outcome = up ? "applied" : "reverted";
    emit(opt, Event::done, m, fmt::format("{:.1f} ms", step.duration_ms), i + 1, n);
    rep.steps.push_back(std::move(step));
    if (opt.fingerprint == RunOptions::Fingerprint::each && i + 1 < n) record_fingerprint(conn, opt, rep, false);
  }
}

bool any_done(const RunReport& rep) {
  for (auto& s : rep.steps)
    if (s.outcome == "applied" || s.outcome == "reverted") return true;
  return false;
}

}  // namespace

RunReport migrate(pg::Conn& conn, const MigrationSet& set, const RunOptions& opt) {
  RunReport rep;
  LockGuard guard{conn};
  auto hist = begin_run(conn, opt, guard);
  if (!hist.ok()) { rep.error = std::move(hist).error(); return rep; }
  if (opt.to && !set.find(*opt.to)) {
    rep.error = Error::usage(fmt::format("--to {}: no migration has that version", *opt.to));
    return rep;
  }
  std::string max_applied;
  std::vector<std::string> drifted, out_of_order;
  struct Todo { const Migration* m; const Applied* partial; };
  std::vector<Todo> todo;
  for (auto& a : *hist) {
    if (!set.find(a.version)) rep.warnings.push_back(fmt::format("{}_{} is applied but its file is gone", a.version, a.name));
    if (a.state == "partial_down") {
      rep.error = Error::refused(fmt::format("migration {}_{} was partly rolled back ({} of {} statements)", a.version,
                                             a.name, a.progress, a.total))
                      .with_next("finish it with `belay rollback`, then migrate");
      return rep;
    }
    if (a.state == "applied" && (max_applied.empty() || compare_versions(a.version, max_applied) > 0))
      max_applied = a.version;
  }
  for (auto& m : set.migrations) {
    const Applied* a = find_applied(*hist, m.version);
    if (a && a->checksum != m.up.checksum) drifted.push_back(m.version + "_" + m.name);
    if (a && a->state == "applied") continue;
    if (opt.to && compare_versions(m.version, *opt.to) > 0) continue;
    if (!a && !max_applied.empty() && compare_versions(m.version, max_applied) < 0)
      out_of_order.push_back(m.version + "_" + m.name);
    todo.push_back({&m, a});
  }
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (auto& x : v) s += (s.empty() ? "" : ", ") + x;
    return s;
  };
  if (!drifted.empty() && !opt.allow_drift) {
    rep.error = Error::refused(fmt::format("drift: {} changed after being applied: {}",
                                           drifted.size() == 1 ? "a migration" : "migrations", join(drifted)))
                    .with_next("restore the applied version of the file, or write a new migration; "
                               "--allow-drift migrates anyway");
    return rep;
  }
  if (!drifted.empty()) rep.warnings.push_back("drift allowed: " + join(drifted));
  if (!out_of_order.empty() && !opt.allow_out_of_order) {
    rep.error = Error::refused(fmt::format("out of order: {} older than the newest applied ({})", join(out_of_order),
                                           max_applied))
                    .with_next("renumber it after the newest applied migration, or pass --allow-out-of-order");
    return rep;
  }
  std::vector<Step> steps;
  for (auto& t : todo) steps.push_back({t.m, &t.m->up, t.partial != nullptr, t.partial ? t.partial->progress : 0});
  history::FingerprintWarmup warm(conn, !opt.dry_run && opt.fingerprint != RunOptions::Fingerprint::off &&
                                            !steps.empty());
  run_steps(conn, steps, true, opt, rep);
  if (any_done(rep)) record_fingerprint(conn, opt, rep, true, &warm);
  return rep;
}

RunReport rollback(pg::Conn& conn, const MigrationSet& set, const RunOptions& opt) {
  RunReport rep;
  LockGuard guard{conn};
  auto hist = begin_run(conn, opt, guard);
  if (!hist.ok()) { rep.error = std::move(hist).error(); return rep; }
  std::vector<Applied> applied = *hist;
  std::reverse(applied.begin(), applied.end());  // newest first
  std::vector<const Applied*> targets;
  if (opt.to) {
    // Any version number works here: --to 0 rolls back everything.
    if (opt.to->empty() || opt.to->find_first_not_of("0123456789") != std::string::npos) {
      rep.error = Error::usage(fmt::format("--to {}: a version is digits only", *opt.to));
      return rep;
    }
    for (auto& a : applied)
      if (compare_versions(a.version, *opt.to) > 0) targets.push_back(&a);
  } else {
    int steps = opt.steps.value_or(1);
    for (auto& a : applied)
      if (static_cast<int>(targets.size()) < steps) targets.push_back(&a);
  }
  // A partly rolled-back migration is always finished first.
  for (auto& a : applied)
    if (a.state == "partial_down" && std::find(targets.begin(), targets.end(), &a) == targets.end())
      targets.insert(targets.begin(), &a);
  // Check the whole range before running anything.
  for (auto* a : targets) {
    const Migration* m = set.find(a->version);
    if (!m) {
      rep.error = Error::refused(fmt::format("cannot roll back {}_{}: its file is gone", a->version, a->name))
                      .with_object(a->version + "_" + a->name)
                      .with_next("restore the migration and its rollback script; nothing was run");
      return rep;
    }
    if (!m->down) {
      rep.error = Error::refused(fmt::format("cannot roll back {}_{}: it has no rollback script", m->version, m->name))
                      .with_object(m->version + "_" + m->name)
                      .with_file(m->up.file.string())
                      .with_next("write " + m->version + "_" + m->name + ".down.sql (or a -- migrate:down section); "
                                 "nothing was run");
      return rep;
    }
    if (a->checksum != m->up.checksum && !opt.allow_drift) {
      rep.error = Error::refused(fmt::format("drift: {}_{} changed after being applied, so its rollback may not fit",
                                             m->version, m->name))
                      .with_next("restore the applied version of the file, or pass --allow-drift");
      return rep;
    }
  }
  std::vector<Step> steps;
  for (auto* a : targets) {
    const Migration* m = set.find(a->version);
    bool resuming = a->state == "partial_down";
    steps.push_back({m, &*m->down, resuming, resuming ? a->progress : 0});
  }
  history::FingerprintWarmup warm(conn, !opt.dry_run && opt.fingerprint != RunOptions::Fingerprint::off &&
                                            !steps.empty());
  run_steps(conn, steps, false, opt, rep);
  if (any_done(rep)) record_fingerprint(conn, opt, rep, true, &warm);
  return rep;
}

Status prepare(pg::Conn& conn, const RunOptions& opt) {
  BELAY_TRY(lock::acquire(conn, opt.lock_wait));
  BELAY_TRY(history::ensure(conn, opt.flavor == "supabase"));
  return apply::configure_session(conn, opt);
}

StepReport step(pg::Conn& conn, const Migration& m, bool up, const RunOptions& opt, std::optional<Error>& error) {
  const Script& script = up ? m.up : *m.down;
  StepReport st = plan_step(m, script, up, opt);
  auto who = os_identity();
  apply::Job job{&m, &script, up, 0, false, who, fmt::format("{} pid {}", who, ::getpid())};
  auto r = apply::run(conn, job, opt, st);
  if (r.ok()) {
    st.outcome = up ? "applied" : "reverted";
  } else {
    st.outcome = "failed";
    error = std::move(r).error();
  }
  return st;
}

Result<std::vector<std::string>> baseline(pg::Conn& conn, const MigrationSet& set, std::optional<std::string> to,
                                          bool from_supabase) {
  LockGuard guard{conn};
  BELAY_TRY(lock::acquire(conn, std::chrono::milliseconds(30000)));
  guard.held = true;
  BELAY_TRY(history::ensure(conn, false));
  BELAY_ASSIGN(auto hist, read_history(conn));
  std::vector<std::string> versions;
  if (from_supabase) {
    BELAY_ASSIGN(auto exists, conn.query("select to_regclass('supabase_migrations.schema_migrations') is not null"));
    if (exists.get(0, 0) != "t")
      return Error::usage("no supabase_migrations.schema_migrations table: this database was not migrated by the Supabase CLI");
    BELAY_ASSIGN(auto rows, conn.query("select version from supabase_migrations.schema_migrations"));
    for (int i = 0; i < rows.size(); ++i) versions.push_back(rows.get(i, 0));
  } else {
    if (!to) return Error::usage("baseline needs --to VERSION or --from-supabase");
    if (!set.find(*to)) return Error::usage(fmt::format("--to {}: no migration has that version", *to));
    for (auto& m : set.migrations)
      if (compare_versions(m.version, *to) <= 0) versions.push_back(m.version);
  }
  std::vector<std::string> done;
  std::string sql = "begin;";
  for (auto& v : versions) {
    const Migration* m = set.find(v);
    if (!m || find_applied(hist, v)) continue;
    sql += fmt::format(
        "insert into belay.migrations (version, name, checksum, applied_by, state, progress, total) "
        "values ({}, {}, {}, {}, 'applied', {}, {});",
        pg::quote_literal(m->version), pg::quote_literal(m->name), pg::quote_literal(m->up.checksum),
        pg::quote_literal("baseline by " + os_identity()), m->up.statements.size(), m->up.statements.size());
    done.push_back(m->version);
  }
  sql += "commit;";
  BELAY_TRY(conn.exec(sql));
  return done;
}

}  // namespace belay::migrate
