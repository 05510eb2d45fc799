// Writing a batch of users: one transaction, one COPY per target table (parents first),
// then the audit, the progress rows and the quarantine rows. All of a batch lands, or
// none of it; run.cpp splits a failed batch until the failing user is alone.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "backfill/store.h"
#include "backfill/transform.h"
#include "pg/pg.h"

namespace belay::backfill {

struct BatchData {
  std::vector<std::string> targets;  // COPY text per entity (job order)
  std::string audit, progress, quarantine;
  long long rows = 0, users = 0;
};

BatchData build_batch(const Job& job, const std::string& run_id, const std::vector<const UserOut*>& users);

// The statements of a batch, in order, without their data (what plan shows).
std::vector<std::string> batch_statements(const Catalog& cat);

// Sends the batch in one transaction; the server's error when it did not land.
std::optional<pg::ServerError> write_batch(pg::Conn& conn, const Catalog& cat, const BatchData& b);

// The batch as a psql script (COPY ... FROM stdin; data; \.), the exact SQL a run sends.
std::string batch_script(const Catalog& cat, const BatchData& b);

// A user the server refused: quarantined with the server's reason.
UserOut refused(const UserOut& u, const pg::ServerError& e);

// Problems as JSON (for the quarantine table and reports).
nlohmann::json problems_json(const std::vector<Problem>& ps);

}  // namespace belay::backfill
