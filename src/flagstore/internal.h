// Internal to src/flagstore: the embedded SQL and the transaction every change runs in.
#pragma once

#include <functional>
#include <string_view>

#include "flagstore/flagstore.h"
#include "flagstore/sql_text.h"  // eval_sql()

namespace belay::flagstore::detail {

std::string_view schema_sql();   // schema.sql, tables, triggers, wrappers (generated source)

// BEGIN; who/why into belay.actor and belay.reason for the audit trigger; body; COMMIT
// (where the snapshot is rebuilt and announced). Rolls back when body or COMMIT fails.
Status in_transaction(pg::Conn& conn, const Change& who, const std::function<Status()>& body);
Status ensure_environment(pg::Conn& conn, std::string_view environment);
// not_found-style error (exit 1) naming the flag when it does not exist.
Status require_flag(pg::Conn& conn, std::string_view name);

}  // namespace belay::flagstore::detail
