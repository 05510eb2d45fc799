#include "rehearse/rehearse.h"

#include <chrono>

#include <fmt/format.h>

#include "fingerprint/fingerprint.h"

namespace belay::rehearse {
namespace {

using Clock = std::chrono::steady_clock;

// The database being rehearsed on; replaced by a rebuilt one after a failed step. The
// tracker keeps its schema model current, re-reading only what each step changed.
struct Target {
  std::string dsn;
  std::optional<pg::Conn> conn;
  std::optional<fingerprint::Tracker> tracker;
};

Result<pg::Conn> open_prepared(const std::string& dsn, const migrate::RunOptions& ro) {
  BELAY_ASSIGN(auto c, pg::Conn::open(dsn, "belay rehearse"));
  BELAY_TRY(migrate::prepare(c, ro));
  return c;
}

// Hash of the current schema, and the whole model when it must be kept (no way to rebuild
// a reference state to explain a failed proof).
struct State {
  std::string hash;
  std::optional<fingerprint::Model> model;
};

Result<State> fingerprint_of(Target& t, bool full, bool track) {
  State s;
  if (track) {
    if (!t.tracker) {
      BELAY_ASSIGN(auto tr, fingerprint::Tracker::start(*t.conn));
      t.tracker.emplace(std::move(tr));
    } else {
      BELAY_TRY(t.tracker->update(*t.conn));
    }
    s.hash = t.tracker->hash();
    if (full) s.model = t.tracker->model();
  } else if (full) {
    BELAY_ASSIGN(auto m, fingerprint::capture(*t.conn));
    s.hash = m.hash;
    s.model = std::move(m);
  } else {
    BELAY_ASSIGN(auto d, fingerprint::digest(*t.conn));
    s.hash = d.hash;
  }
  return s;
}

// Applies the ups of `upto` (indexes into pending, inclusive; -1 = none) on a new database.
Result<Target> rebuild(const Options& opt, const migrate::RunOptions& ro,
                       const std::vector<const migrate::Migration*>& pending, int upto) {
  Target t;
  BELAY_ASSIGN(t.dsn, opt.fresh_database());
  BELAY_ASSIGN(auto c, open_prepared(t.dsn, ro));
  for (int i = 0; i <= upto; ++i) {
    std::optional<Error> err;
    migrate::step(c, *pending[static_cast<size_t>(i)], true, ro, err);
    if (err) return *err;
  }
  t.conn.emplace(std::move(c));
  return t;
}

std::vector<std::string> describe(const std::vector<fingerprint::Change>& changes) {
  std::vector<std::string> out;
  for (auto& c : changes) out.push_back(c.describe());
  return out;
}

}  // namespace

Result<Report> run(const std::string& dsn, const migrate::MigrationSet& set, const Options& opt) {
  auto t_start = Clock::now();
  Report rep;
  migrate::RunOptions ro = opt.run;
  ro.observe_locks = false;
  ro.on_event = nullptr;
  ro.fingerprint = migrate::RunOptions::Fingerprint::off;
  // Locks are observed on the first up only: that is the step production will run.
  migrate::RunOptions ro_observed = ro;
  ro_observed.observe_locks = true;
  // Without a tracker, the surface comparison needs whole models at every step.
  const bool full = !opt.fresh_database || (opt.surface && !opt.track);

  Target tgt;
  tgt.dsn = dsn;
  BELAY_ASSIGN(auto first, open_prepared(dsn, ro));
  tgt.conn.emplace(std::move(first));
  BELAY_ASSIGN(auto st, migrate::status(*tgt.conn, set));
  std::vector<const migrate::Migration*> pending;
  for (auto& e : st) {
    if (e.state == "partial" || e.state == "drifted")
      return Error::refused(fmt::format("cannot rehearse on this database: {}_{} is {}", e.version, e.name, e.state))
          .with_next("rehearse on a fresh database (the default) or fix the target first");
    if (e.state == "pending") pending.push_back(set.find(e.version));
  }
  rep.total = static_cast<int>(pending.size());
  // Names what differs between the schema after step `upto` (rebuilt elsewhere, or the
  // kept model) and the current one.
  auto explain = [&](const std::optional<fingerprint::Model>& kept, int upto) -> std::vector<std::string> {
    auto now = fingerprint::capture(*tgt.conn);
    if (!now.ok()) return {"(could not capture the schema: " + now.error().message + ")"};
    if (kept) return describe(fingerprint::diff(*kept, *now));
    auto ref = rebuild(opt, ro, pending, upto);
    if (!ref.ok()) return {"(could not rebuild the reference schema: " + ref.error().message + ")"};
    auto model = fingerprint::capture(*ref->conn);
    if (!model.ok()) return {"(could not capture the reference schema: " + model.error().message + ")"};
    return describe(fingerprint::diff(*model, *now));
  };

  BELAY_ASSIGN(State cur, fingerprint_of(tgt, full, opt.track));
  for (int i = 0; i < rep.total; ++i) {
    const auto& m = *pending[static_cast<size_t>(i)];
    MigrationProof p;
    p.version = m.version;
    p.name = m.name;
    p.has_down = m.down.has_value();
    p.ran = true;
    p.before = cur.hash;
    p.mode = m.up.transactional ? "transaction" : "statement-by-statement (" + m.up.non_tx_reason + ")";
    auto finish = [&] {
      if (opt.on_progress) opt.on_progress(p, i + 1, rep.total);
      rep.migrations.push_back(std::move(p));
    };
    std::optional<Error> err;
    auto up = migrate::step(*tgt.conn, m, true, ro_observed, err);
    p.up_ms = up.duration_ms;
    p.locks = up.locks;
    if (err) {
      // Everything after depends on this migration: the proof chain stops here.
      p.error = std::move(err);
      ++rep.failed;
      finish();
      for (int j = i + 1; j < rep.total; ++j) {
        MigrationProof q;
        q.version = pending[static_cast<size_t>(j)]->version;
        q.name = pending[static_cast<size_t>(j)]->name;
        q.has_down = pending[static_cast<size_t>(j)]->down.has_value();
        rep.migrations.push_back(std::move(q));
      }
      break;
    }
    BELAY_ASSIGN(State after, fingerprint_of(tgt, full, opt.track));
    p.after = after.hash;
    if (opt.surface) {
      p.surface = tgt.tracker ? rls::surface_regressions(*tgt.tracker, *opt.surface)
                              : rls::surface_regressions(*cur.model, *after.model, *opt.surface);
      rep.surface_findings += static_cast<int>(p.surface.size());
      for (auto& f : p.surface)
        if (opt.surface_fail_at && f.severity >= *opt.surface_fail_at) ++rep.surface_failing;
    }
    if (!m.down) {
      rep.missing_down.push_back(m.version + "_" + m.name);
      cur = std::move(after);
      finish();
      continue;
    }
    ++rep.with_down;
    bool rebuild_needed = false;
    auto down = migrate::step(*tgt.conn, m, false, ro, err);
    p.down_ms = down.duration_ms;
    if (err) {
      p.error = std::move(err);
      ++rep.failed;
      rebuild_needed = !m.down->transactional;  // a failed transactional down changed nothing
    } else {
      BELAY_ASSIGN(State back, fingerprint_of(tgt, full, opt.track));
      p.restores = back.hash == p.before;
      if (*p.restores) ++rep.restored;
      else p.diff = explain(cur.model, i - 1);
      auto reup = migrate::step(*tgt.conn, m, true, ro, err);
      p.reup_ms = reup.duration_ms;
      if (err) {
        p.error = std::move(err);
        ++rep.failed;
        rebuild_needed = true;  // the schema is now neither before nor after
      } else {
        BELAY_ASSIGN(State again, fingerprint_of(tgt, full, opt.track));
        p.reapplies = again.hash == p.after;
        if (*p.reapplies) ++rep.reapplied;
        else {
          p.reapply_diff = explain(after.model, i);
          rebuild_needed = true;
        }
      }
    }
    if (rebuild_needed && opt.fresh_database) {
      // Carry on from a clean "after" state so the rest of the set is still proven.
      auto nt = rebuild(opt, ro, pending, i);
      if (!nt.ok()) return std::move(nt).error();
      tgt = std::move(*nt);  // the old database is dropped with the others by the caller
      after.model.reset();
      BELAY_ASSIGN(after, fingerprint_of(tgt, full, opt.track));
    } else if (rebuild_needed) {
      // No way to rebuild (a real target): the proofs after this one would be built on
      // a damaged schema, so stop here.
      finish();
      break;
    }
    cur = std::move(after);
    finish();
  }
  // The tracked hashes stand in for full digests; one full digest of the final state checks
  // them. Should they ever disagree, the proof is redone without tracking.
  if (opt.track && tgt.tracker && tgt.conn) {
    BELAY_ASSIGN(auto full_digest, fingerprint::digest(*tgt.conn));
    rep.tracked_updates = tgt.tracker->stats().updates;
    if (full_digest.hash != tgt.tracker->hash()) {
      std::string note = fmt::format("the tracked schema fingerprint ({}) differed from a full one ({}) at the end",
                                     tgt.tracker->hash().substr(0, 12), full_digest.hash.substr(0, 12));
      if (!opt.fresh_database) {
        rep.notes.push_back(note + ": the proofs cannot be trusted and were not redone (no fresh database)");
        rep.ok = false;
        return rep;
      }
      Options again = opt;
      again.track = false;
      BELAY_ASSIGN(auto dsn2, opt.fresh_database());
      BELAY_ASSIGN(auto redone, run(dsn2, set, again));
      redone.notes.insert(redone.notes.begin(), note + ": every proof was redone with full fingerprints");
      return redone;
    }
  }
  rep.total_ms = std::chrono::duration<double, std::milli>(Clock::now() - t_start).count();
  int reached_with_down = 0;
  for (auto& p : rep.migrations)
    if (p.ran && p.has_down) ++reached_with_down;
  rep.ok = rep.failed == 0 && rep.restored == reached_with_down && rep.reapplied == reached_with_down &&
           static_cast<int>(rep.migrations.size()) == rep.total && (!opt.require_down || rep.missing_down.empty()) &&
           rep.surface_failing == 0;
  return rep;
}

}  // namespace belay::rehearse
