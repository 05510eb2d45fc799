#include "lint/tree.h"

namespace belay::lint::tree {

const json& at(const json& j, const char* key) {
  static const json null_value;
  if (!j.is_object()) return null_value;
  auto it = j.find(key);
  return it == j.end() ? null_value : *it;
}

std::string str(const json& j, const char* key) {
  const json& v = at(j, key);
  return v.is_string() ? v.get<std::string>() : std::string();
}

bool flag(const json& j, const char* key) {
  const json& v = at(j, key);
  return v.is_boolean() && v.get<bool>();
}

int location(const json& j) {
  const json& v = at(j, "location");
  return v.is_number_integer() ? v.get<int>() : -1;
}

const json& node(const json& j, const char* kind) { return at(j, kind); }

std::vector<std::string> strings(const json& list) {
  std::vector<std::string> out;
  if (!list.is_array()) return out;
  for (const json& e : list) out.push_back(str(at(e, "String"), "sval"));
  return out;
}

std::string joined(const json& list) {
  std::string out;
  for (auto& s : strings(list)) out += (out.empty() ? "" : ".") + s;
  return out;
}

std::string relation(const json& rv) {
  std::string schema = str(rv, "schemaname");
  return (schema.empty() ? "public" : schema) + "." + str(rv, "relname");
}

std::string qualify(const std::vector<std::string>& names) {
  if (names.empty()) return {};
  if (names.size() == 1) return "public." + names[0];
  return names[names.size() - 2] + "." + names.back();
}

std::string type_name(const json& tn) {
  auto names = strings(at(tn, "names"));
  return names.empty() ? std::string() : names.back();
}

bool has_typmods(const json& tn) {
  const json& m = at(tn, "typmods");
  return m.is_array() && !m.empty();
}

void walk(const json& j, const std::function<void(const json&)>& fn) {
  if (j.is_object()) {
    fn(j);
    for (const auto& [k, v] : j.items()) walk(v, fn);
  } else if (j.is_array()) {
    for (const json& v : j) walk(v, fn);
  }
}

std::string call_name(const json& fc) {
  std::string n = joined(at(fc, "funcname"));
  for (char& c : n)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return n;
}

namespace {
const json* find_call_in(const json& j, const std::vector<std::string>& names, bool skip) {
  if (j.is_object()) {
    if (skip && j.contains("SubLink") && str(j["SubLink"], "subLinkType") == "EXPR_SUBLINK") return nullptr;
    if (const json& fc = at(j, "FuncCall"); fc.is_object()) {
      std::string n = call_name(fc);
      for (auto& want : names)
        if (n == want) return &fc;
    }
    for (const auto& [k, v] : j.items())
      if (const json* f = find_call_in(v, names, skip)) return f;
  } else if (j.is_array()) {
    for (const json& v : j)
      if (const json* f = find_call_in(v, names, skip)) return f;
  }
  return nullptr;
}
}  // namespace

const json* find_call(const json& j, const std::vector<std::string>& names, bool skip_subselects) {
  return find_call_in(j, names, skip_subselects);
}

bool always_true(const json& e) {
  const json& c = at(e, "A_Const");
  if (c.is_object()) {
    if (at(c, "boolval").is_object()) return flag(at(c, "boolval"), "boolval");
    return false;
  }
  const json& tc = at(e, "TypeCast");  // 'true'::boolean, true::bool
  if (tc.is_object()) {
    std::string t = type_name(at(tc, "typeName"));
    const json& arg = at(at(tc, "arg"), "A_Const");
    std::string s = str(at(arg, "sval"), "sval");
    if ((t == "bool" || t == "boolean") && (s == "true" || s == "t" || s == "on" || s == "1")) return true;
    return always_true(at(tc, "arg"));
  }
  const json& ax = at(e, "A_Expr");  // 1 = 1, 'a' = 'a'
  if (ax.is_object() && str(ax, "kind") == "AEXPR_OP" && joined(at(ax, "name")) == "=") {
    const json& l = at(at(ax, "lexpr"), "A_Const");
    const json& r = at(at(ax, "rexpr"), "A_Const");
    if (l.is_object() && r.is_object()) {
      json a = l, b = r;
      a.erase("location");
      b.erase("location");
      return a == b;
    }
  }
  const json& bx = at(e, "BoolExpr");  // true OR ..., (true AND true)
  if (bx.is_object()) {
    const json& args = at(bx, "args");
    if (!args.is_array()) return false;
    std::string op = str(bx, "boolop");
    bool any = false, all = true;
    for (const json& a : args) {
      bool t = always_true(a);
      any = any || t;
      all = all && t;
    }
    return op == "OR_EXPR" ? any : op == "AND_EXPR" ? all : false;
  }
  return false;
}

std::string option(const json& defelems, const char* name) {
  if (!defelems.is_array()) return {};
  for (const json& d : defelems) {
    const json& de = at(d, "DefElem");
    if (str(de, "defname") != name) continue;
    const json& arg = at(de, "arg");
    if (arg.is_null()) return "true";
    if (arg.contains("Boolean")) return flag(arg["Boolean"], "boolval") ? "true" : "false";
    if (arg.contains("String")) return str(arg["String"], "sval");
    if (arg.contains("Integer")) return std::to_string(at(arg["Integer"], "ival").is_number() ? arg["Integer"]["ival"].get<long long>() : 0);
    return "true";
  }
  return {};
}

}  // namespace belay::lint::tree
