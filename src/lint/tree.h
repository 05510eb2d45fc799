// Reading libpg_query's JSON parse trees (internal to lint). Absent members read as
// null / "" / false, so a rule never needs to check a shape before looking.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace belay::lint::tree {

using nlohmann::json;

const json& at(const json& j, const char* key);
std::string str(const json& j, const char* key);
bool flag(const json& j, const char* key);
int location(const json& j);                 // "location" member, -1 when absent
const json& node(const json& j, const char* kind);  // j[kind] when j is {"kind": {...}}

// ["a","b"] from [{"String":{"sval":"a"}}, ...].
std::vector<std::string> strings(const json& list);
std::string joined(const json& list);        // "a.b"
// schema.name of a RangeVar; unqualified names are in `public` (the default search_path).
std::string relation(const json& rv);
std::string qualify(const std::vector<std::string>& names);  // ["t"] -> public.t

// The type's name without pg_catalog ("int4", "varchar", "timestamptz", "serial").
std::string type_name(const json& type_name_node);
bool has_typmods(const json& type_name_node);

// Calls fn on every object in j (depth first), including j.
void walk(const json& j, const std::function<void(const json&)>& fn);

// First FuncCall in j whose name (schema-qualified as written, lower case) is in `names`,
// not counting calls inside a scalar sub-select `(select ...)` when `skip_subselects`.
const json* find_call(const json& j, const std::vector<std::string>& names, bool skip_subselects);
std::string call_name(const json& func_call);  // "auth.uid"

// A boolean constant `true` (also 'true'::boolean, 1 = 1).
bool always_true(const json& expr);

// The value of option `name` in a DefElem list ("" when absent; "true" for a bare flag).
std::string option(const json& defelems, const char* name);

}  // namespace belay::lint::tree
