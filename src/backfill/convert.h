// JSON values → the text PostgreSQL's COPY reads, checked against the job's type first,
// so a wrong-typed value becomes a Problem handled by policy instead of a failed batch.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "backfill/backfill.h"
#include "backfill/json_doc.h"

namespace belay::backfill {

// Integer bounds of the target column (int2/int4/int8; int8 when unknown).
struct IntBounds {
  int64_t min = INT64_MIN, max = INT64_MAX;
};

struct Converted {
  enum class Kind { value, null, bad } kind = Kind::null;
  bool coerced = false;  // accepted only because coerce is on ("42" for an int)
  std::string why;       // for bad: what is wrong, e.g. "expected int, got object"
};

// Appends the value's COPY text (escaped) to `out` when kind == value. An absent node
// (JsonDoc::npos) or JSON null is Kind::null.
Converted convert(const JsonDoc& d, JsonDoc::Ref r, Type t, bool coerce, const IntBounds& bounds, std::string& out);

// COPY text format: backslash, newline, carriage return and tab escaped.
void copy_escape(std::string& out, std::string_view s);

// ISO 8601 date or date-time as PostgreSQL reads it: YYYY-MM-DD[(T| )HH:MM[:SS[.frac]]][Z|±HH[:MM]]
// with real calendar ranges (no 2025-02-30).
bool valid_timestamp(std::string_view s);
// At most `max` bytes of s, cut at a UTF-8 character boundary, "..." when cut: for
// messages that quote user data (a broken character would break the COPY of the reason).
std::string clip(std::string_view s, size_t max = 60);
bool valid_uuid(std::string_view s);

}  // namespace belay::backfill
