#include "rehearse/rehearse.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "rehearse/prove.h"

namespace belay::rehearse {
namespace {

using Clock = std::chrono::steady_clock;
using detail::RangeReport;
using detail::Target;

// Statements that change what every database of the cluster shares (roles, tablespaces,
// databases), or may (DO blocks): two shadows proving at once would see each other's.
bool touches_cluster(const migrate::Migration& m) {
  static const char* kinds[] = {"CreateRoleStmt", "AlterRoleStmt", "AlterRoleSetStmt", "DropRoleStmt",
                                "GrantRoleStmt", "CreateTableSpaceStmt", "DropTableSpaceStmt",
                                "AlterTableSpaceOptionsStmt", "CreatedbStmt", "DropdbStmt", "AlterDatabaseStmt",
                                "AlterDatabaseSetStmt", "DoStmt", "RenameStmt", "CommentStmt", "AlterOwnerStmt"};
  auto check = [&](const migrate::Script& s) {
    for (auto& st : s.statements)
      for (auto* k : kinds)
        if (st.kind == k) {
          // Renames, comments and owner changes are shared only for roles, databases, tablespaces.
          if (st.kind == "RenameStmt" || st.kind == "CommentStmt" || st.kind == "AlterOwnerStmt") {
            std::string head = st.text.substr(0, 40);
            std::transform(head.begin(), head.end(), head.begin(), [](unsigned char c) { return std::tolower(c); });
            for (auto* w : {" role ", " user ", " group ", " database ", " tablespace "})
              if (head.find(w) != std::string::npos) return true;
            continue;
          }
          return true;
        }
    return false;
  };
  return check(m.up) || (m.down && check(*m.down));
}

// How many shadows prove at once: one per core (at most 4), each with at least
// kMinPerShadow migrations; one when there is no way to make shadows or the set touches
// what the shadows share.
constexpr int kMinPerShadow = 25;
int shadows_for(const Options& opt, const std::vector<const migrate::Migration*>& pending) {
  if (!opt.fresh_database) return 1;
  int jobs = opt.jobs > 0 ? opt.jobs : std::min(4, static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  jobs = std::min(jobs, static_cast<int>(pending.size()) / kMinPerShadow);
  if (jobs <= 1) return 1;
  for (auto* m : pending)
    if (touches_cluster(*m)) return 1;
  return jobs;
}

// Proof lines reach on_progress in migration order, whichever shadow finished first.
class InOrder {
 public:
  InOrder(const Options& opt, int total) : opt_(opt), total_(total) {}
  void operator()(const MigrationProof& p, int index) {
    if (!opt_.on_progress) return;
    std::lock_guard lock(mu_);
    done_.emplace(index, p);
    for (auto it = done_.find(next_); it != done_.end(); it = done_.find(next_)) {
      opt_.on_progress(it->second, next_ + 1, total_);
      done_.erase(it);
      ++next_;
    }
  }

 private:
  const Options& opt_;
  int total_, next_ = 0;
  std::mutex mu_;
  std::map<int, MigrationProof> done_;
};

}  // namespace

Result<Report> run(const std::string& dsn, const migrate::MigrationSet& set, const Options& opt_in) {
  auto t_start = Clock::now();
  Options opt = opt_in;
  // Shadows may be asked for from several threads.
  auto fresh_mu = std::make_shared<std::mutex>();
  if (opt_in.fresh_database)
    opt.fresh_database = [fresh_mu, f = opt_in.fresh_database] {
      std::lock_guard lock(*fresh_mu);
      return f();
    };
  migrate::RunOptions ro = opt.run;
  ro.observe_locks = false;
  ro.on_event = nullptr;
  ro.fingerprint = migrate::RunOptions::Fingerprint::off;

  Target first;
  first.dsn = dsn;
  BELAY_ASSIGN(auto conn, detail::open_prepared(dsn, ro));
  first.conn.emplace(std::move(conn));
  BELAY_ASSIGN(auto st, migrate::status(*first.conn, set));
  std::vector<const migrate::Migration*> pending;
  for (auto& e : st) {
    if (e.state == "partial" || e.state == "drifted")
      return Error::refused(fmt::format("cannot rehearse on this database: {}_{} is {}", e.version, e.name, e.state))
          .with_next("rehearse on a fresh database (the default) or fix the target first");
    if (e.state == "pending") pending.push_back(set.find(e.version));
  }
  const int total = static_cast<int>(pending.size());
  const int shadows = shadows_for(opt, pending);
  InOrder progress(opt, total);

  // Range k is proven on its own shadow, which first gets the ups before the range (no
  // proof, no fingerprint: those are the earlier ranges' business).
  std::vector<detail::Range> ranges(static_cast<size_t>(shadows));
  for (int k = 0; k < shadows; ++k) {
    auto& r = ranges[static_cast<size_t>(k)];
    r.pending = &pending;
    r.begin = total * k / shadows;
    r.end = total * (k + 1) / shadows;
    r.ro = ro;
    r.on_proof = std::ref(progress);
  }
  std::vector<std::optional<Result<RangeReport>>> results(static_cast<size_t>(shadows));
  auto prove = [&](int k, Target t) -> Result<RangeReport> {
    auto& r = ranges[static_cast<size_t>(k)];
    if (k > 0) {
      BELAY_ASSIGN(t.dsn, opt.fresh_database());
      BELAY_ASSIGN(auto c, detail::open_prepared(t.dsn, ro));
      for (int i = 0; i < r.begin; ++i) {
        std::optional<Error> err;
        migrate::step(c, *pending[static_cast<size_t>(i)], true, ro, err);
        // An earlier range proves (and reports) this failure; this range is void.
        if (err) return RangeReport{.rep = {}, .stopped = true, .mismatch = {}};
      }
      t.conn.emplace(std::move(c));
    }
    return detail::prove_range(std::move(t), opt, r);
  };
  {
    std::vector<std::thread> threads;
    for (int k = 1; k < shadows; ++k)
      threads.emplace_back([&, k] { results[static_cast<size_t>(k)].emplace(prove(k, Target{})); });
    results[0].emplace(prove(0, std::move(first)));
    for (auto& t : threads) t.join();
  }

  // Merge in order; after a range whose proof chain stopped, the later ranges are void.
  Report rep;
  rep.total = total;
  std::vector<std::string> mismatches;
  bool stopped = false;
  for (int k = 0; k < shadows; ++k) {
    auto& res = *results[static_cast<size_t>(k)];
    const auto& r = ranges[static_cast<size_t>(k)];
    if (stopped) {
      for (int i = r.begin; i < r.end; ++i) rep.migrations.push_back(detail::not_reached(*pending[static_cast<size_t>(i)]));
      continue;
    }
    if (!res.ok()) return res.error();
    auto& part = res->rep;
    for (auto& p : part.migrations) rep.migrations.push_back(std::move(p));
    rep.with_down += part.with_down;
    rep.restored += part.restored;
    rep.reapplied += part.reapplied;
    rep.failed += part.failed;
    rep.tracked_updates += part.tracked_updates;
    rep.surface_findings += part.surface_findings;
    rep.surface_failing += part.surface_failing;
    rep.missing_down.insert(rep.missing_down.end(), part.missing_down.begin(), part.missing_down.end());
    if (res->mismatch) mismatches.push_back(*res->mismatch);
    stopped = res->stopped;
  }
  if (shadows > 1) rep.notes.push_back(fmt::format("proven on {} shadow databases at once", shadows));
  // Should a tracked fingerprint ever disagree with the full one, the proof is redone without tracking.
  if (!mismatches.empty()) {
    if (!opt.fresh_database) {
      rep.notes.push_back(mismatches[0] + ": the proofs cannot be trusted and were not redone (no fresh database)");
      rep.ok = false;
      return rep;
    }
    Options again = opt_in;
    again.track = false;
    again.jobs = 1;
    BELAY_ASSIGN(auto dsn2, opt.fresh_database());
    BELAY_ASSIGN(auto redone, run(dsn2, set, again));
    redone.notes.insert(redone.notes.begin(), mismatches[0] + ": every proof was redone with full fingerprints");
    return redone;
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
