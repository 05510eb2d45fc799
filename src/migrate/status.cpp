// status: each migration as applied, pending, drifted, missing or partial.
#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "migrate/migrate.h"

namespace belay::migrate {

Result<std::vector<StatusEntry>> status(pg::Conn& conn, const MigrationSet& set) {
  BELAY_ASSIGN(auto hist, read_history(conn));
  std::vector<StatusEntry> out;
  std::vector<bool> seen(hist.size(), false);
  for (auto& m : set.migrations) {
    StatusEntry e;
    e.version = m.version;
    e.name = m.name;
    e.has_down = m.down.has_value();
    e.file = m.up.file.string();
    e.state = "pending";
    for (size_t i = 0; i < hist.size(); ++i) {
      if (compare_versions(hist[i].version, m.version) != 0) continue;
      seen[i] = true;
      auto& h = hist[i];
      e.applied_at = h.applied_at;
      if (h.state != "applied") {
        e.state = "partial";
        e.detail = fmt::format("{} interrupted: {} of {} statements done; run `belay {}` to finish",
                               h.state == "partial_up" ? "migrate" : "rollback", h.progress, h.total,
                               h.state == "partial_up" ? "migrate" : "rollback");
      } else if (h.checksum != m.up.checksum) {
        e.state = "drifted";
        e.detail = fmt::format("file changed after it was applied (checksum {} -> {})", h.checksum.substr(0, 12),
                               m.up.checksum.substr(0, 12));
      } else {
        e.state = "applied";
      }
    }
    out.push_back(std::move(e));
  }
  for (size_t i = 0; i < hist.size(); ++i) {
    if (seen[i]) continue;
    StatusEntry e;
    e.version = hist[i].version;
    e.name = hist[i].name;
    e.state = "missing";
    e.applied_at = hist[i].applied_at;
    e.detail = "applied, but its file is gone";
    out.push_back(std::move(e));
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const StatusEntry& a, const StatusEntry& b) { return compare_versions(a.version, b.version) < 0; });
  return out;
}

}  // namespace belay::migrate
