#include "backfill/json_doc.h"

#include <charconv>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace belay::backfill {
namespace {

// JSON string literal; the text came out of the parser, so it is valid UTF-8 (replace
// anyway rather than throw).
std::string quoted(std::string_view s) {
  return nlohmann::json(std::string(s)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

// Builds the tree from SAX events. Children of a container are collected on a shared
// stack while it is open and copied into kids_ contiguously when it closes.
struct DocBuilder : nlohmann::json_sax<nlohmann::json> {
  static constexpr size_t kMaxDepth = 1000;  // dump() recurses; hostile nesting stops here
  JsonDoc& d;
  std::vector<JsonDoc::Ref> pending;         // children of open containers
  std::vector<std::pair<JsonDoc::Ref, size_t>> open;  // container, its first pending slot
  uint32_t key_off = 0, key_len = 0;
  bool have_key = false;
  std::string error;

  explicit DocBuilder(JsonDoc& doc) : d(doc) {}

  uint32_t put(std::string_view s) {
    auto off = static_cast<uint32_t>(d.arena_.size());
    d.arena_.append(s);
    return off;
  }
  JsonDoc::Ref add(JsonDoc::Kind k) {
    JsonDoc::Node n;
    n.kind = k;
    if (have_key) {
      n.key_off = key_off;
      n.key_len = key_len;
      have_key = false;
    }
    auto r = static_cast<JsonDoc::Ref>(d.nodes_.size());
    d.nodes_.push_back(n);
    if (open.empty()) d.root_ = r;
    else pending.push_back(r);
    return r;
  }
  bool scalar_text(JsonDoc::Kind k, std::string_view s) {
    auto r = add(k);
    auto off = put(s);
    d.nodes_[r].a = off;
    d.nodes_[r].n = static_cast<uint32_t>(s.size());
    return true;
  }
  template <typename T>
  bool integer(T v) {
    char buf[32];
    auto res = std::to_chars(buf, buf + sizeof buf, v);
    return scalar_text(JsonDoc::Kind::integer, std::string_view(buf, static_cast<size_t>(res.ptr - buf)));
  }
  bool start(JsonDoc::Kind k) {
    if (open.size() >= kMaxDepth) {
      error = fmt::format("nested deeper than {} levels", kMaxDepth);
      return false;
    }
    auto r = add(k);
    open.emplace_back(r, pending.size());
    return true;
  }
  bool end() {
    auto [r, first] = open.back();
    open.pop_back();
    d.nodes_[r].a = static_cast<uint32_t>(d.kids_.size());
    d.nodes_[r].n = static_cast<uint32_t>(pending.size() - first);
    d.kids_.insert(d.kids_.end(), pending.begin() + static_cast<std::ptrdiff_t>(first), pending.end());
    pending.resize(first);
    return true;
  }

  bool null() override { add(JsonDoc::Kind::null); return true; }
  bool boolean(bool v) override {
    d.nodes_[add(JsonDoc::Kind::boolean)].b = v;
    return true;
  }
  bool number_integer(number_integer_t v) override { return integer(v); }
  bool number_unsigned(number_unsigned_t v) override { return integer(v); }
  // nlohmann hands over the literal text: keep it, so no digit is lost.
  bool number_float(number_float_t, const string_t& raw) override { return scalar_text(JsonDoc::Kind::number, raw); }
  bool string(string_t& s) override { return scalar_text(JsonDoc::Kind::string, s); }
  bool binary(binary_t&) override { return false; }  // not produced by the JSON parser
  bool start_object(std::size_t) override { return start(JsonDoc::Kind::object); }
  bool key(string_t& k) override {
    key_off = put(k);
    key_len = static_cast<uint32_t>(k.size());
    have_key = true;
    return true;
  }
  bool end_object() override { return end(); }
  bool start_array(std::size_t) override { return start(JsonDoc::Kind::array); }
  bool end_array() override { return end(); }
  bool parse_error(std::size_t pos, const std::string&, const nlohmann::detail::exception& ex) override {
    error = fmt::format("{} (byte {})", ex.what(), pos);
    return false;
  }
};

bool JsonDoc::parse(std::string_view text, std::string* error) {
  nodes_.clear();
  kids_.clear();
  arena_.clear();
  root_ = npos;
  arena_.reserve(text.size());
  nodes_.reserve(text.size() / 16 + 4);
  DocBuilder b(*this);
  bool ok = false;
  try {
    ok = nlohmann::json::sax_parse(text, &b);
  } catch (const std::exception& e) {  // nlohmann may still throw on odd input
    b.error = e.what();
    ok = false;
  }
  if (!ok || root_ == npos) {
    if (error) *error = b.error.empty() ? "not a JSON document" : b.error;
    nodes_.clear();
    root_ = npos;
    return false;
  }
  return true;
}

uint32_t JsonDoc::size(Ref r) const {
  auto k = nodes_[r].kind;
  return (k == Kind::array || k == Kind::object) ? nodes_[r].n : 0;
}

JsonDoc::Ref JsonDoc::child(Ref c, uint32_t i) const { return kids_[nodes_[c].a + i]; }

JsonDoc::Ref JsonDoc::find(Ref obj, std::string_view k) const {
  if (obj == npos || nodes_[obj].kind != Kind::object) return npos;
  const Node& o = nodes_[obj];
  // Later duplicates win, as in PostgreSQL's jsonb.
  for (uint32_t i = o.n; i-- > 0;) {
    Ref c = kids_[o.a + i];
    if (key(c) == k) return c;
  }
  return npos;
}

JsonDoc::Ref JsonDoc::at_path(Ref from, const std::vector<std::string>& path) const {
  Ref r = from;
  for (auto& p : path) {
    r = find(r, p);
    if (r == npos) return npos;
  }
  return r;
}

const char* JsonDoc::kind_name(Kind k) {
  switch (k) {
    case Kind::null: return "null";
    case Kind::boolean: return "boolean";
    case Kind::integer: case Kind::number: return "number";
    case Kind::string: return "string";
    case Kind::array: return "array";
    case Kind::object: return "object";
  }
  return "?";
}

std::string JsonDoc::dump(Ref r) const {
  std::string out;
  dump_to(r, out);
  return out;
}

void JsonDoc::dump_to(Ref r, std::string& out) const {
  const Node& n = nodes_[r];
  switch (n.kind) {
    case Kind::null: out += "null"; return;
    case Kind::boolean: out += n.b ? "true" : "false"; return;
    case Kind::integer: case Kind::number: out += text(r); return;
    case Kind::string: out += quoted(text(r)); return;
    case Kind::array:
    case Kind::object: {
      bool obj = n.kind == Kind::object;
      out += obj ? '{' : '[';
      for (uint32_t i = 0; i < n.n; ++i) {
        if (i) out += ',';
        Ref c = kids_[n.a + i];
        if (obj) {
          out += quoted(key(c));
          out += ':';
        }
        dump_to(c, out);
      }
      out += obj ? '}' : ']';
      return;
    }
  }
}

}  // namespace belay::backfill
