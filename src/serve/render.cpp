// Response bodies on the hot path, written into one reserved string: a frontend answer
// for ten flags is a few hundred bytes, and building it as a JSON tree would cost more
// than evaluating the flags.
#include <cstdio>

#include "serve/internal.h"

namespace belay::serve {
// Length of the valid UTF-8 sequence at s[i], 0 if invalid.
size_t utf8_len(std::string_view s, size_t i) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  size_t n = c < 0xC2 ? 0 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : c < 0xF5 ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k)
    if ((b(i + k) & 0xC0) != 0x80) return 0;
  // Overlong 3/4-byte forms, surrogates and values past U+10FFFF.
  if (c == 0xE0 && b(i + 1) < 0xA0) return 0;
  if (c == 0xED && b(i + 1) >= 0xA0) return 0;
  if (c == 0xF0 && b(i + 1) < 0x90) return 0;
  if (c == 0xF4 && b(i + 1) >= 0x90) return 0;
  return n;
}

namespace {

void append_bool(std::string& out, bool b) { out += b ? "true" : "false"; }

void append_variant(std::string& out, const flags::Variant& v, bool with_feature_enabled) {
  out += "{\"name\":";
  append_json_string(out, v.name);
  out += ",\"enabled\":";
  append_bool(out, v.enabled);
  if (v.payload) {
    out += ",\"payload\":{\"type\":";
    append_json_string(out, v.payload->type);
    out += ",\"value\":";
    append_json_string(out, v.payload->value);
    out += '}';
  }
  if (with_feature_enabled) {
    out += ",\"feature_enabled\":";
    append_bool(out, v.feature_enabled);
  }
  out += '}';
}

}  // namespace

void append_json_string(std::string& out, std::string_view s) {
  static const char hex[] = "0123456789abcdef";
  out += '"';
  size_t i = 0;
  while (i < s.size()) {
    // Runs of plain ASCII in one append.
    size_t j = i;
    while (j < s.size()) {
      unsigned char c = static_cast<unsigned char>(s[j]);
      if (c < 0x20 || c == '"' || c == '\\' || c >= 0x80) break;
      ++j;
    }
    out.append(s.data() + i, j - i);
    if (j == s.size()) break;
    unsigned char c = static_cast<unsigned char>(s[j]);
    if (c >= 0x80) {
      size_t n = utf8_len(s, j);
      if (n) out.append(s.data() + j, n);
      else out += "\xEF\xBF\xBD";   // U+FFFD for a byte that starts no valid sequence
      i = j + (n ? n : 1);
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        out += "\\u00";
        out += hex[c >> 4];
        out += hex[c & 15];
    }
    i = j + 1;
  }
  out += '"';
}

void append_toggle(std::string& out, std::string_view name, const flags::Evaluation& e, bool impression_data) {
  out += "{\"name\":";
  append_json_string(out, name);
  out += ",\"enabled\":";
  append_bool(out, e.enabled);
  out += ",\"variant\":";
  append_variant(out, e.variant, true);
  out += ",\"impressionData\":";
  append_bool(out, impression_data);
  out += '}';
}

void frontend_into(std::string& out, const flags::Snapshot& s, const flags::Context& ctx,
                   FlagCounters* const* counters) {
  const auto& features = s.document().features;
  out.reserve(out.size() + 32 + features.size() * 128);
  out += "{\"toggles\":[";
  bool first = true;
  for (size_t i = 0; i < features.size(); ++i) {
    const auto& f = features[i];
    flags::Evaluation e = flags::variant(s, f.name, ctx);
    if (counters && counters[i]) counters[i]->count(e.enabled);
    if (!e.enabled) continue;
    if (!first) out += ',';
    first = false;
    append_toggle(out, f.name, e, f.impression_data);
  }
  out += "]}";
}

std::string frontend_json(const flags::Snapshot& s, const flags::Context& ctx) {
  std::string out;
  frontend_into(out, s, ctx, nullptr);
  return out;
}

void ofrep_into(std::string& out, std::string_view key, const flags::Evaluation& e, bool impression_data) {
  out += "{\"key\":";
  append_json_string(out, key);
  out += ",\"value\":";
  append_bool(out, e.enabled);
  out += ",\"reason\":";
  append_json_string(out, flags::reason_name(e.reason));
  out += ",\"variant\":";
  append_json_string(out, e.variant.name);
  out += ",\"metadata\":{\"variantEnabled\":";
  append_bool(out, e.variant.enabled);
  if (e.variant.payload) {
    out += ",\"payloadType\":";
    append_json_string(out, e.variant.payload->type);
    out += ",\"payload\":";
    append_json_string(out, e.variant.payload->value);
  }
  if (impression_data) out += ",\"impressionData\":true";
  out += "}}";
}

std::string ofrep_json(std::string_view key, const flags::Evaluation& e) {
  std::string out;
  ofrep_into(out, key, e, false);
  return out;
}

std::string error_body(std::string_view error, std::string_view message) {
  std::string out;
  out.reserve(32 + error.size() + message.size());
  out += "{\"error\":";
  append_json_string(out, error);
  out += ",\"message\":";
  append_json_string(out, message);
  out += '}';
  return out;
}

}  // namespace belay::serve
