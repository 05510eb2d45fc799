// Type helpers shared by the type rules (internal to lint).
#pragma once

#include <string>
#include <vector>

#include "lint/tree.h"

namespace belay::lint::types {

struct ColType {
  std::string name;                 // without pg_catalog: int4, varchar, timestamptz, serial
  std::vector<long long> mods;      // varchar(20) -> {20}
  bool array = false;
};
ColType of(const nlohmann::json& type_name);

// "varchar(20)", "bigint", "timestamp" as a person writes it.
std::string display(const ColType& t);
// ALTER COLUMN TYPE from `old` (nullptr: unknown, the table predates the set) to `now`
// without a table rewrite: varchar(n) to varchar(m >= n), varchar to text, dropping a
// length limit, numeric(p,s) to numeric(q >= p, s). Unknown old types are given the benefit
// of the doubt only for text and unlimited varchar (the usual widening targets).
bool no_rewrite(const ColType* old, const ColType& now);
bool is_serial(const std::string& name);  // serial, bigserial, smallserial, serial4, ...

}  // namespace belay::lint::types
