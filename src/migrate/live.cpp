// Fingerprints in history, and live drift: what changed outside migrations.
#include <fmt/format.h>

#include "fingerprint/fingerprint.h"
#include "migrate/history.h"
#include "migrate/migrate.h"

namespace belay::migrate {

namespace history {

Result<std::string> record_fingerprint(pg::Conn& conn, const std::string& version, bool full) {
  std::string hash;
  if (full) {
    BELAY_ASSIGN(auto model, fingerprint::capture(conn));
    hash = model.hash;
    BELAY_TRY(conn.query(
        "insert into belay.schema_snapshot (id, version, fingerprint, model) values (1, $1, $2, $3::jsonb) "
        "on conflict (id) do update set version = excluded.version, fingerprint = excluded.fingerprint, "
        "model = excluded.model, taken_at = now()",
        {version, hash, fingerprint::to_json(model).dump()}));
  } else {
    BELAY_ASSIGN(auto d, fingerprint::digest(conn));
    hash = d.hash;
  }
  BELAY_TRY(conn.query("update belay.migrations set fingerprint = $2 where version = $1", {version, hash}));
  return hash;
}

FingerprintWarmup::FingerprintWarmup(pg::Conn& conn, bool enabled) {
  if (!enabled) return;
  auto c = conn.reopen("belay fingerprint");
  if (!c.ok()) return;  // the run records its fingerprint on the main connection instead
  conn_.emplace(std::move(*c));
  // Only reads the catalog; a short lock_timeout keeps it from ever queueing behind (or in
  // front of) a migration's DDL: if it gives up, the main connection does the work later.
  thread_ = std::thread([this] {
    ok_ = conn_->exec("set lock_timeout = '200ms'").ok() && fingerprint::capture(*conn_).ok();
  });
}

FingerprintWarmup::~FingerprintWarmup() {
  if (thread_.joinable()) thread_.join();
}

pg::Conn& FingerprintWarmup::connection(pg::Conn& fallback) {
  if (thread_.joinable()) thread_.join();
  return ok_ && conn_ ? *conn_ : fallback;
}

}  // namespace history

Result<LiveDrift> live_drift(pg::Conn& conn) {
  LiveDrift out;
  BELAY_ASSIGN(auto hist, read_history(conn));
  const Applied* last = nullptr;
  for (auto& a : hist)
    if (a.state == "applied") last = &a;  // history is in version order
  if (!last) return out;
  out.version = last->version;
  BELAY_ASSIGN(auto live, fingerprint::capture(conn));
  out.live_hash = live.hash;
  if (last->fingerprint.empty()) return out;  // applied before fingerprints were recorded
  out.recorded = true;
  out.recorded_hash = last->fingerprint;
  out.drifted = out.live_hash != out.recorded_hash;
  if (!out.drifted) return out;
  BELAY_ASSIGN(auto snap, conn.query("select model::text from belay.schema_snapshot where fingerprint = $1",
                                     {out.recorded_hash}));
  if (snap.size() == 0) return out;
  auto j = nlohmann::json::parse(snap.get(0, 0), nullptr, false);
  if (j.is_discarded()) return out;
  BELAY_ASSIGN(auto recorded, fingerprint::from_json(j));
  for (auto& c : fingerprint::diff(recorded, live)) out.changes.push_back(c.describe());
  out.detailed = true;
  return out;
}

}  // namespace belay::migrate
