// Internal to src/flagstore: the SQL compiled into the library (generated sources, see
// src/CMakeLists.txt).
#pragma once

#include <string_view>

namespace belay::flagstore::detail {

// eval.sql and eval/*.sql, joined: the PL/pgSQL flag evaluator, belay.flag_evaluate and its
// helpers (idempotent).
std::string_view eval_sql();

}  // namespace belay::flagstore::detail
