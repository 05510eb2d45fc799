#include "lint/rules/types.h"

namespace belay::lint::types {
using namespace tree;

ColType of(const json& tn) {
  ColType t;
  t.name = type_name(tn);
  const json& mods = at(tn, "typmods");
  if (mods.is_array())
    for (const json& x : mods) {
      const json& v = at(at(at(x, "A_Const"), "ival"), "ival");
      t.mods.push_back(v.is_number() ? v.get<long long>() : 0);
    }
  t.array = at(tn, "arrayBounds").is_array();
  return t;
}

std::string display(const ColType& t) {
  std::string n = t.name;
  static const std::pair<const char*, const char*> names[] = {
      {"int4", "integer"}, {"int8", "bigint"}, {"int2", "smallint"}, {"bpchar", "char"},
      {"float8", "double precision"}, {"float4", "real"}, {"bool", "boolean"}};
  for (auto& [a, b] : names)
    if (n == a) n = b;
  if (!t.mods.empty()) {
    std::string m;
    for (long long x : t.mods) m += (m.empty() ? "" : ",") + std::to_string(x);
    n += "(" + m + ")";
  }
  if (t.array) n += "[]";
  return n;
}

bool no_rewrite(const ColType* old, const ColType& now) {
  bool unlimited_text = !now.array && (now.name == "text" || (now.name == "varchar" && now.mods.empty()));
  if (!old) return unlimited_text;
  if (old->array != now.array) return false;
  bool old_texty = old->name == "varchar" || old->name == "text";
  if (old_texty && unlimited_text) return true;
  if (old->name != now.name) return false;
  if (now.mods.empty()) return true;  // dropping the limit
  if (old->mods.empty()) return false;  // adding one: every row is checked (and may fail)
  if (now.name == "varchar") return now.mods[0] >= old->mods[0];
  if (now.name == "numeric")
    return now.mods[0] >= old->mods[0] && (now.mods.size() > 1 ? now.mods[1] : 0) == (old->mods.size() > 1 ? old->mods[1] : 0);
  return now.mods == old->mods;
}

bool is_serial(const std::string& n) {
  return n == "serial" || n == "bigserial" || n == "smallserial" || n == "serial4" || n == "serial8" || n == "serial2";
}

}  // namespace belay::lint::types
