#include "backfill/transform.h"

#include <algorithm>

#include <fmt/format.h>

#include "backfill/convert.h"

namespace belay::backfill {

using K = JsonDoc::Kind;

struct Transformer::Row {
  JsonDoc::Ref el = JsonDoc::npos;
  int index = 0;
  std::optional<std::string_view> old_id;  // into the document; nullopt = positional id
  Uuid id{};
  std::string fields;  // "\t"-prefixed COPY text of the plain columns
  std::string refs;    // the same for the reference columns
  bool skipped = false;
};

namespace {

std::string path_text(const std::vector<std::string>& p) {
  std::string s;
  for (auto& x : p) s += (s.empty() ? "" : ".") + x;
  return s;
}

std::string shown(std::string_view s) { return clip(s, 60); }

// Index of a row by old id: sorted (old id, row) pairs.
using Index = std::vector<std::pair<std::string_view, uint32_t>>;

}  // namespace

Transformer::Transformer(const Job& job, const Catalog& cat)
    : job_(job), cat_(cat), ids_(job_namespace_uuid(job.name)) {}

void Transformer::problem(UserOut& out, const Entity& e, std::string kind, int index, std::string field,
                          std::string detail, Policy p, const char* kept_action) {
  Problem pr;
  pr.user = out.user;
  pr.entity = e.name;
  pr.kind = std::move(kind);
  pr.index = index;
  pr.field = std::move(field);
  pr.detail = std::move(detail);
  pr.action = p == Policy::quarantine ? "quarantined user" : kept_action;
  if (p == Policy::quarantine && !out.quarantined) {
    out.quarantined = true;
    out.reason = fmt::format("{} {}{}: {}", e.name, pr.kind, index >= 0 ? fmt::format(" at [{}]", index) : "",
                             pr.detail);
  }
  out.problems.push_back(std::move(pr));
}

void Transformer::entity(size_t ei, JsonDoc::Ref arr, UserOut& out, std::vector<std::vector<Row>>& rows) {
  const Entity& e = job_.entities[ei];
  const Target& t = cat_.targets[ei];
  EntityOut& eo = out.entities[ei];
  auto& rs = rows[ei];
  if (arr == JsonDoc::npos) return;  // absent: nothing to move
  if (doc_.kind(arr) == K::null) {
    problem(out, e, "null_array", -1, path_text(e.path), "the array is null", Policy::null, "no rows");
    return;
  }
  if (doc_.kind(arr) != K::array) {
    problem(out, e, "not_an_array", -1, path_text(e.path),
            fmt::format("expected an array, got {}", JsonDoc::kind_name(doc_.kind(arr))), e.on_bad_type,
            e.on_bad_type == Policy::null ? "no rows" : "skipped array");
    return;
  }
  const uint32_t n = doc_.size(arr);
  eo.source_elements = static_cast<int>(n);
  rs.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    Row row;
    row.el = doc_.child(arr, i);
    row.index = static_cast<int>(i);
    if (doc_.kind(row.el) != K::object) {
      problem(out, e, "bad_element", row.index, "",
              fmt::format("expected an object, got {}", JsonDoc::kind_name(doc_.kind(row.el))), e.on_bad_type,
              "skipped row");
      continue;
    }
    auto idn = doc_.find(row.el, e.old_id);
    std::string why;
    if (idn == JsonDoc::npos) why = "absent";
    else if (auto k = doc_.kind(idn); k == K::string || k == K::integer || k == K::number) {
      auto v = doc_.text(idn);
      if (v.empty()) why = "empty";
      else if (v.find_first_of("\x1e\x1f") != std::string_view::npos) why = "holds a control character";
      else row.old_id = v;
    } else {
      why = fmt::format("a {}, not a string or number", JsonDoc::kind_name(k));
    }
    if (!row.old_id) {
      problem(out, e, "missing_id", row.index, e.old_id, "id " + why, e.on_missing_id,
              e.on_missing_id == Policy::null ? "positional id" : "skipped row");
      if (e.on_missing_id != Policy::null) continue;
    }
    for (size_t ci : t.plain) {
      const Column& c = e.columns[ci];
      auto v = doc_.at_path(row.el, c.from);
      row.fields += '\t';
      size_t mark = row.fields.size();
      auto cv = convert(doc_, v, c.type, e.coerce, t.bounds[ci], row.fields);
      if (cv.kind == Converted::Kind::value) {
        if (cv.coerced)
          problem(out, e, "coerced", row.index, path_text(c.from),
                  fmt::format("{} read as {}", shown(doc_.dump(v)), type_name(c.type)), Policy::null, "converted");
        continue;
      }
      if (cv.kind == Converted::Kind::bad) {
        row.fields.resize(mark);
        bool can_null = !t.not_null[ci] && !c.default_text;
        problem(out, e, "bad_type", row.index, path_text(c.from), cv.why, e.on_bad_type,
                e.on_bad_type == Policy::null && can_null ? "set null" : "skipped row");
        if (e.on_bad_type != Policy::null || !can_null) {
          row.skipped = true;
          break;
        }
        row.fields += "\\N";
        continue;
      }
      if (c.default_text) {
        row.fields += *c.default_text;
      } else if (t.not_null[ci]) {
        problem(out, e, "not_null", row.index, path_text(c.from),
                fmt::format("no value for NOT NULL column {} (and no default in the job)", c.name), e.on_bad_type,
                "skipped row");
        row.skipped = true;
        break;
      } else {
        row.fields += "\\N";
      }
    }
    if (row.skipped) continue;
    rs.push_back(std::move(row));
  }
  // Duplicate old ids: the first one keeps it; the others follow on_missing_id.
  std::vector<uint32_t> order(rs.size());
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    if (!rs[a].old_id || !rs[b].old_id) return rs[a].old_id.has_value() < rs[b].old_id.has_value();
    return *rs[a].old_id < *rs[b].old_id;
  });
  for (size_t k = 1; k < order.size(); ++k) {
    Row& prev = rs[order[k - 1]];
    Row& cur = rs[order[k]];
    if (!prev.old_id || !cur.old_id || *prev.old_id != *cur.old_id) continue;
    problem(out, e, "duplicate_id", cur.index, e.old_id,
            fmt::format("id '{}' already used by element [{}]", shown(*cur.old_id), prev.index), e.on_missing_id,
            e.on_missing_id == Policy::null ? "positional id" : "skipped row");
    if (e.on_missing_id == Policy::null) cur.old_id.reset();
    else cur.skipped = true;
    // Keep comparing against the first holder of the id.
    std::swap(order[k - 1], order[k]);
  }
  for (auto& r : rs)
    r.id = r.old_id ? ids_.row(out.user, e.name, *r.old_id) : ids_.positional(out.user, e.name, r.index);
}

void Transformer::resolve_refs(size_t ei, UserOut& out, std::vector<std::vector<Row>>& rows) {
  const Entity& e = job_.entities[ei];
  const Target& t = cat_.targets[ei];
  auto& rs = rows[ei];
  if (t.refs.empty() || rs.empty()) return;
  // Per referenced entity, its rows by old id.
  std::vector<size_t> parent(t.refs.size());
  std::vector<Index> index(t.refs.size());
  bool self = false;
  for (size_t k = 0; k < t.refs.size(); ++k) {
    const Column& c = e.columns[t.refs[k]];
    for (size_t j = 0; j < job_.entities.size(); ++j)
      if (job_.entities[j].name == c.ref) parent[k] = j;
    self |= parent[k] == ei;
    for (uint32_t r = 0; r < rows[parent[k]].size(); ++r)
      if (rows[parent[k]][r].old_id && !rows[parent[k]][r].skipped) index[k].emplace_back(*rows[parent[k]][r].old_id, r);
    std::sort(index[k].begin(), index[k].end());
  }
  // Resolves one row's references into row.refs; true when the row must be skipped.
  // Problems are recorded only when `record` (the final pass).
  auto resolve = [&](Row& row, bool record) {
    bool skip = false;
    row.refs.clear();
    for (size_t k = 0; k < t.refs.size() && !skip; ++k) {
      const Column& c = e.columns[t.refs[k]];
      auto v = doc_.at_path(row.el, c.from);
      row.refs += '\t';
      if (v == JsonDoc::npos || doc_.kind(v) == K::null) {
        row.refs += "\\N";
        continue;
      }
      auto kind = doc_.kind(v);
      if (kind != K::string && kind != K::integer && kind != K::number) {
        if (record)
          problem(out, e, "bad_type", row.index, path_text(c.from),
                  fmt::format("a reference must be an old id (string or number), got {}", JsonDoc::kind_name(kind)),
                  e.on_bad_type, e.on_bad_type == Policy::null ? "set null" : "skipped row");
        if (e.on_bad_type == Policy::null) row.refs += "\\N";
        else skip = true;
        continue;
      }
      auto key = doc_.text(v);
      auto it = std::lower_bound(index[k].begin(), index[k].end(), std::make_pair(key, uint32_t{0}));
      if (it != index[k].end() && it->first == key && !rows[parent[k]][it->second].skipped) {
        append_uuid(row.refs, rows[parent[k]][it->second].id);
        continue;
      }
      if (record)
        problem(out, e, "dangling_ref", row.index, path_text(c.from),
                fmt::format("{} '{}' matches no {} element", path_text(c.from), shown(key), c.ref), e.on_dangling,
                e.on_dangling == Policy::null ? "set null" : "skipped row");
      if (e.on_dangling == Policy::null) row.refs += "\\N";
      else skip = true;
    }
    return skip;
  };
  std::vector<bool> skipped_before(rs.size());
  for (size_t i = 0; i < rs.size(); ++i) skipped_before[i] = rs[i].skipped;
  // A row skipped for a dangling reference can leave another row of the same entity
  // dangling (self-references): find the final set of skipped rows first (it only grows),
  // then report every row's problems against it.
  if (self) {
    for (bool changed = true; changed;) {
      changed = false;
      for (auto& row : rs)
        if (!row.skipped && resolve(row, false)) row.skipped = changed = true;
    }
  }
  for (size_t i = 0; i < rs.size(); ++i)
    if (!skipped_before[i]) rs[i].skipped = resolve(rs[i], true);
}

UserOut Transformer::transform(const SourceRow& src) {
  UserOut out;
  out.user = src.user;
  out.source_id = src.source_id;
  out.version = src.version;
  out.entities.resize(job_.entities.size());
  static const Entity whole_doc = [] {
    Entity e;
    e.name = "(document)";
    return e;
  }();
  if (src.user.find_first_of("\x1e\x1f") != std::string::npos) {
    problem(out, whole_doc, "bad_document", -1, "", "the user key holds a control character (U+001E/U+001F)",
            Policy::quarantine, "");
    return out;
  }
  if (!src.doc) return out;  // NULL document: an empty user
  std::string err;
  if (!doc_.parse(*src.doc, &err)) {
    problem(out, whole_doc, "bad_document", -1, "", "not valid JSON: " + err, Policy::quarantine, "");
    return out;
  }
  if (doc_.kind(doc_.root()) != K::object) {
    problem(out, whole_doc, "bad_document", -1, "",
            fmt::format("the document is {}, not an object", JsonDoc::kind_name(doc_.kind(doc_.root()))),
            Policy::quarantine, "");
    return out;
  }
  std::vector<std::vector<Row>> rows(job_.entities.size());
  for (size_t ei = 0; ei < job_.entities.size(); ++ei)
    entity(ei, doc_.at_path(doc_.root(), job_.entities[ei].path), out, rows);
  // Entities are ordered parents first, so a parent's rows are final before its children look.
  for (size_t ei = 0; ei < job_.entities.size(); ++ei) resolve_refs(ei, out, rows);
  std::string user_field;
  copy_escape(user_field, src.user);
  for (size_t ei = 0; ei < job_.entities.size(); ++ei) {
    const Entity& e = job_.entities[ei];
    EntityOut& eo = out.entities[ei];
    int landed = 0;
    for (auto& r : rows[ei]) {
      if (r.skipped) continue;
      ++landed;
      if (out.quarantined) continue;
      append_uuid(eo.copy, r.id);
      if (!e.user_column.empty()) {
        eo.copy += '\t';
        eo.copy += user_field;
      }
      eo.copy += r.fields;
      eo.copy += r.refs;
      eo.copy += '\n';
      eo.old_ids.emplace_back(r.old_id ? std::optional<std::string>(std::string(*r.old_id)) : std::nullopt);
      eo.ids.push_back(r.id);
    }
    eo.skipped = eo.source_elements - landed;
    if (!out.quarantined) out.rows += landed;
  }
  return out;
}

}  // namespace belay::backfill
