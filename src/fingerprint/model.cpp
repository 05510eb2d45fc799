// The model's canonical serialisation and hash, differences between models, JSON.
//
// An object serialises to one line, ["kind", "id", "label", {props}], byte for byte as
// PostgreSQL prints that value as jsonb (capture.cpp builds the same text in SQL): string
// escapes as escape_json() writes them, object keys ordered by length then bytes. The hash
// is the SHA-256 of the lines, ordered by (kind, id, line) in byte order, joined by "\n".
#include <algorithm>
#include <map>
#include <set>
#include <string_view>
#include <tuple>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "fingerprint/fingerprint.h"
#include "util/sha256.h"

namespace belay::fingerprint {

namespace detail {

// A JSON string as PostgreSQL's escape_json() writes it (non-ASCII bytes as they are).
void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      default:
        if (c < 0x20) out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
        else out += ch;
    }
  }
  out += '"';
}

std::string canonical_line(const Object& o) {
  std::vector<const std::pair<const std::string, std::string>*> props;
  props.reserve(o.props.size());
  for (auto& kv : o.props) props.push_back(&kv);
  // jsonb's key order: shorter keys first, then byte order (std::map gives byte order).
  std::stable_sort(props.begin(), props.end(), [](auto* a, auto* b) { return a->first.size() < b->first.size(); });
  std::string out = "[";
  append_json_string(out, o.kind);
  out += ", ";
  append_json_string(out, o.id);
  out += ", ";
  append_json_string(out, o.label);
  out += ", {";
  for (size_t i = 0; i < props.size(); ++i) {
    if (i) out += ", ";
    append_json_string(out, props[i]->first);
    out += ": ";
    append_json_string(out, props[i]->second);
  }
  out += "}]";
  return out;
}

Result<Object> parse_line(std::string_view line) {
  auto j = nlohmann::json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
  auto bad = [&] {
    return Error::failure("schema fingerprint: unexpected catalog line").with_object(std::string(line.substr(0, 200)));
  };
  if (!j.is_array() || j.size() != 4 || !j[0].is_string() || !j[1].is_string() || !j[2].is_string() || !j[3].is_object())
    return bad();
  Object o{j[0].get<std::string>(), j[1].get<std::string>(), j[2].get<std::string>(), {}};
  for (auto& [k, v] : j[3].items()) {
    if (!v.is_string()) return bad();
    o.props.emplace(k, v.get<std::string>());
  }
  return o;
}

}  // namespace detail

namespace {

// Sorts objects into model order and returns the hash of their lines.
std::string sort_and_hash(std::vector<Object>& objects) {
  std::vector<std::pair<std::string, size_t>> lines;
  lines.reserve(objects.size());
  for (size_t i = 0; i < objects.size(); ++i) lines.emplace_back(detail::canonical_line(objects[i]), i);
  std::sort(lines.begin(), lines.end(), [&](const auto& a, const auto& b) {
    const Object& x = objects[a.second];
    const Object& y = objects[b.second];
    return std::tie(x.kind, x.id, a.first) < std::tie(y.kind, y.id, b.first);
  });
  std::string text;
  std::vector<Object> sorted;
  sorted.reserve(objects.size());
  for (auto& [line, i] : lines) {
    if (!sorted.empty()) text += '\n';
    text += line;
    sorted.push_back(std::move(objects[i]));
  }
  objects = std::move(sorted);
  return sha256_hex(text);
}

using Key = std::pair<std::string_view, std::string_view>;
Key key_of(const Object& o) { return {o.kind, o.id}; }

}  // namespace

std::string Change::describe() const {
  if (what != "changed" || fields.empty()) return fmt::format("{}: {}", label, what);
  return fmt::format("{}: {} changed", label, fmt::join(fields, ", "));
}

std::vector<Change> diff(const Model& from, const Model& to) {
  // Index both sides by (kind, id); models read from anywhere need not be sorted.
  std::map<Key, const Object*> a, b;
  for (auto& o : from.objects) a.emplace(key_of(o), &o);
  for (auto& o : to.objects) b.emplace(key_of(o), &o);
  std::vector<Change> out;
  auto ia = a.begin();
  auto ib = b.begin();
  while (ia != a.end() || ib != b.end()) {
    if (ib == b.end() || (ia != a.end() && ia->first < ib->first)) {
      const Object& o = *ia->second;
      out.push_back(Change{"removed", o.kind, o.id, o.label, {}, {}});
      ++ia;
    } else if (ia == a.end() || ib->first < ia->first) {
      const Object& o = *ib->second;
      out.push_back(Change{"added", o.kind, o.id, o.label, {}, {}});
      ++ib;
    } else {
      const Object& x = *ia->second;
      const Object& y = *ib->second;
      Change c{"changed", y.kind, y.id, y.label, {}, {}};
      // Union of the keys, in byte order; an absent property reads as "".
      std::set<std::string> keys;
      for (auto& kv : x.props) keys.insert(kv.first);
      for (auto& kv : y.props) keys.insert(kv.first);
      for (auto& k : keys) {
        auto px = x.props.find(k);
        auto py = y.props.find(k);
        bool hx = px != x.props.end(), hy = py != y.props.end();
        if (hx == hy && (!hx || px->second == py->second)) continue;
        c.fields.push_back(k);
        c.values[k] = {hx ? px->second : "", hy ? py->second : ""};
      }
      if (!c.fields.empty()) out.push_back(std::move(c));
      ++ia;
      ++ib;
    }
  }
  return out;
}

nlohmann::json to_json(const Model& m) {
  auto objects = nlohmann::json::array();
  for (auto& o : m.objects)
    objects.push_back({{"kind", o.kind}, {"id", o.id}, {"label", o.label}, {"props", o.props}});
  return {{"hash", m.hash}, {"count", m.objects.size()}, {"objects", std::move(objects)}};
}

Result<Model> from_json(const nlohmann::json& j) {
  auto bad = [](std::string what) { return Error::failure("schema fingerprint JSON: " + what); };
  if (!j.is_object() || !j.contains("objects") || !j["objects"].is_array()) return bad("expected an object with \"objects\"");
  Model m;
  for (auto& e : j["objects"]) {
    if (!e.is_object()) return bad("an object is not a JSON object");
    Object o;
    for (auto [field, dest] : {std::pair{"kind", &o.kind}, {"id", &o.id}, {"label", &o.label}}) {
      if (!e.contains(field) || !e[field].is_string()) return bad(fmt::format("an object has no string \"{}\"", field));
      *dest = e[field].get<std::string>();
    }
    if (e.contains("props")) {
      if (!e["props"].is_object()) return bad(fmt::format("props of {} is not an object", o.label));
      for (auto& [k, v] : e["props"].items()) {
        if (!v.is_string()) return bad(fmt::format("property \"{}\" of {} is not a string", k, o.label));
        o.props.emplace(k, v.get<std::string>());
      }
    }
    m.objects.push_back(std::move(o));
  }
  m.hash = sort_and_hash(m.objects);
  // A stored hash that does not match the objects means the file was edited or comes from
  // another serialisation: comparing it with a live digest would mislead.
  if (j.contains("hash") && j["hash"] != m.hash)
    return bad(fmt::format("hash {} does not match its objects ({})", j["hash"].dump(), m.hash));
  return m;
}

nlohmann::json to_json(const Change& c) {
  auto values = nlohmann::json::object();
  for (auto& [k, v] : c.values) values[k] = {{"before", v.first}, {"after", v.second}};
  return {{"what", c.what},       {"kind", c.kind},     {"id", c.id},        {"label", c.label},
          {"fields", c.fields},   {"values", values},   {"description", c.describe()}};
}

}  // namespace belay::fingerprint
