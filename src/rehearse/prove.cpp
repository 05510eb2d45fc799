// The proof loop of one range of migrations: fingerprint, up, fingerprint, down,
// fingerprint (= before), up again, fingerprint (= after), per migration.
#include <chrono>

#include <fmt/format.h>

#include "rehearse/prove.h"
#include "rls/rls.h"

namespace belay::rehearse::detail {
namespace {

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

MigrationProof not_reached(const migrate::Migration& m) {
  MigrationProof q;
  q.version = m.version;
  q.name = m.name;
  q.has_down = m.down.has_value();
  return q;
}

Result<pg::Conn> open_prepared(const std::string& dsn, const migrate::RunOptions& ro) {
  BELAY_ASSIGN(auto c, pg::Conn::open(dsn, "belay rehearse"));
  BELAY_TRY(migrate::prepare(c, ro));
  return c;
}

Result<RangeReport> prove_range(Target tgt, const Options& opt, const Range& r) {
  RangeReport out;
  Report& rep = out.rep;
  const auto& pending = *r.pending;
  const migrate::RunOptions& ro = r.ro;
  // Locks are observed on the first up only: that is the step production will run.
  migrate::RunOptions ro_observed = ro;
  ro_observed.observe_locks = true;
  // Without a way to rebuild a reference state, or without a tracker for the surface
  // comparison, whole models are kept at every step.
  const bool full = !opt.fresh_database || (opt.surface && !opt.track);

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
  for (int i = r.begin; i < r.end; ++i) {
    const auto& m = *pending[static_cast<size_t>(i)];
    MigrationProof p;
    p.version = m.version;
    p.name = m.name;
    p.has_down = m.down.has_value();
    p.ran = true;
    p.before = cur.hash;
    p.mode = m.up.transactional ? "transaction" : "statement-by-statement (" + m.up.non_tx_reason + ")";
    auto finish = [&] {
      if (r.on_proof) r.on_proof(p, i);
      rep.migrations.push_back(std::move(p));
    };
    auto stop = [&] {
      // Everything after depends on this migration: the proof chain stops here.
      out.stopped = true;
      for (int j = i + 1; j < r.end; ++j) rep.migrations.push_back(not_reached(*pending[static_cast<size_t>(j)]));
    };
    std::optional<Error> err;
    auto up = migrate::step(*tgt.conn, m, true, ro_observed, err);
    p.up_ms = up.duration_ms;
    p.locks = up.locks;
    if (err) {
      p.error = std::move(err);
      ++rep.failed;
      finish();
      stop();
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
      stop();
      break;
    }
    cur = std::move(after);
    finish();
  }
  // The tracked hashes stand in for full digests; one full digest of the final state checks them.
  if (opt.track && tgt.tracker && tgt.conn) {
    BELAY_ASSIGN(auto full_digest, fingerprint::digest(*tgt.conn));
    rep.tracked_updates = tgt.tracker->stats().updates;
    if (full_digest.hash != tgt.tracker->hash())
      out.mismatch = fmt::format("the tracked schema fingerprint ({}) differed from a full one ({}) at the end",
                                 tgt.tracker->hash().substr(0, 12), full_digest.hash.substr(0, 12));
  }
  return out;
}

}  // namespace belay::rehearse::detail
