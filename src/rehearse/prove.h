// Internal to rehearse: the proof of a contiguous range of pending migrations on one
// database, so several ranges can be proven at once on separate shadows.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "fingerprint/fingerprint.h"
#include "rehearse/rehearse.h"

namespace belay::rehearse::detail {

// The database being rehearsed on; replaced by a rebuilt one after a failed step. The
// tracker keeps its schema model current, re-reading only what each step changed.
struct Target {
  std::string dsn;
  std::optional<pg::Conn> conn;
  std::optional<fingerprint::Tracker> tracker;
};

struct Range {
  const std::vector<const migrate::Migration*>* pending = nullptr;
  int begin = 0, end = 0;             // indexes into *pending, [begin, end)
  migrate::RunOptions ro;             // without lock observation
  // Called (possibly from several threads) with each finished proof and its index.
  std::function<void(const MigrationProof&, int index)> on_proof;
};

struct RangeReport {
  Report rep;                          // counters and proofs of this range only
  bool stopped = false;                // the proof chain stopped (later ranges are void)
  std::optional<std::string> mismatch; // tracked and full fingerprints disagreed at the end
};

// A migration the proof chain did not reach.
MigrationProof not_reached(const migrate::Migration& m);

Result<pg::Conn> open_prepared(const std::string& dsn, const migrate::RunOptions& ro);

// Proves migrations [begin, end) on `tgt`, which holds the schema after the ups before begin.
Result<RangeReport> prove_range(Target tgt, const Options& opt, const Range& r);

}  // namespace belay::rehearse::detail
