// Tracker: the model of one database kept current by re-reading only what changed.
// capture.cpp generates the statement (see kTrackScopes there for how changes are found);
// this file keeps the lines by anchor, follows deletions through row counts, and hashes
// the lines exactly as digest() does.
#include <algorithm>
#include <iterator>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "fingerprint/fingerprint.h"
#include "util/sha256.h"

namespace belay::fingerprint {

namespace detail {  // capture.cpp, model.cpp
Result<pg::Rows> run_tracked(pg::Conn& conn, const Options& opt, bool scoped, const std::string& mark,
                             const std::string& extra, const std::string& sequences);
Result<Object> parse_line(std::string_view line);
}  // namespace detail

namespace {

struct Line {
  std::string kind, id, text;  // text: the canonical line
  uint32_t objid = 0;          // the catalog row the object comes from (0: none)
  bool operator<(const Line& o) const {
    if (kind != o.kind) return kind < o.kind;
    if (id != o.id) return id < o.id;
    return text < o.text;
  }
};

std::string unhex(const std::string& hex) {
  std::string out(hex.size() / 2, '\0');
  auto v = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<char>(v(hex[2 * i]) << 4 | v(hex[2 * i + 1]));
  return out;
}

uint32_t to_oid(const std::string& s) { return s.empty() ? 0 : static_cast<uint32_t>(std::stoul(s)); }

std::vector<std::string> split_list(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at < s.size()) {
    auto next = s.find(sep, at);
    if (next == std::string::npos) next = s.size();
    if (next > at) out.push_back(s.substr(at, next - at));
    at = next + 1;
  }
  return out;
}

// What one run of the tracking statement returned.
struct Read {
  std::unordered_map<uint32_t, std::vector<Line>> lines;  // by anchor
  std::vector<uint32_t> anchors;                          // re-read (scoped reads)
  std::map<std::string, std::vector<std::string>> fresh;  // catalog -> keys of rows written since the mark
  std::map<std::string, long> counts;                     // catalog -> rows now
  std::string next_mark;
  std::string sequences;                                  // oid:value,... of every sequence
  long other = 0;                                         // rows changed outside the anchors
  long objects = 0;
};

Read parse(const pg::Rows& rows) {
  Read r;
  for (auto& item : split_list(rows.get(0, 0), ';')) {
    auto f = split_list(item, ',');  // anchor, objid (may be empty), kind, hex id, hex line
    if (f.size() == 4) f.insert(f.begin() + 1, "");
    if (f.size() != 5) continue;
    r.lines[to_oid(f[0])].push_back(Line{f[2], unhex(f[3]), unhex(f[4]), to_oid(f[1])});
    ++r.objects;
  }
  for (auto& item : split_list(rows.get(0, 1), ';')) {
    auto colon = item.find(':');
    r.fresh[item.substr(0, colon)] = split_list(item.substr(colon + 1), ',');
  }
  for (auto& item : split_list(rows.get(0, 2), ';')) {
    auto colon = item.find(':');
    r.counts[item.substr(0, colon)] = std::stol(item.substr(colon + 1));
  }
  r.next_mark = rows.get(0, 3);
  r.sequences = rows.get(0, 6);
  r.other = std::stol(rows.get(0, 4));
  std::string d = rows.get(0, 5);  // {1,2,3}
  if (d.size() >= 2)
    for (auto& o : split_list(d.substr(1, d.size() - 2), ',')) r.anchors.push_back(to_oid(o));
  // The caller's extra anchors may repeat ones found fresh: each is re-read once.
  std::sort(r.anchors.begin(), r.anchors.end());
  r.anchors.erase(std::unique(r.anchors.begin(), r.anchors.end()), r.anchors.end());
  return r;
}

// SQL listing every key of a counted catalog, as the tracking statement forms them.
std::string keys_sql(const std::string& cat) {
  if (cat == "pg_description")
    return "select string_agg(objoid || '/' || classoid || '/' || objsubid, ',') from pg_description "
           "where objoid >= 16384 or classoid = 'pg_namespace'::regclass";
  if (cat == "pg_namespace") return "select string_agg(oid::text, ',') from pg_namespace";
  return fmt::format("select string_agg(oid::text, ',') from {} where oid >= 16384", cat);
}

const std::set<std::string> kCounted = {"pg_class", "pg_constraint", "pg_trigger", "pg_rewrite", "pg_policy",
                                         "pg_proc",  "pg_type",       "pg_namespace", "pg_description"};

}  // namespace

struct Tracker::State {
  Options opt;
  bool incremental = true;
  std::string mark;
  std::string sequences;  // the sequence values the model holds
  std::unordered_map<uint32_t, std::vector<Line>> by_anchor;
  std::multiset<Line> ordered;
  std::unordered_map<uint32_t, uint32_t> anchor_of;                   // objid -> anchor
  std::map<std::string, std::unordered_set<std::string>> keys;        // counted catalog -> keys
  long extension_members = -1;
  std::unordered_map<std::string, std::string> role_names;         // role oid -> md5 of its name

  void remember_roles(Read& r) {
    for (auto& key : r.fresh["pg_authid"]) {
      auto eq = key.find('=');
      if (eq != std::string::npos) role_names[key.substr(0, eq)] = key.substr(eq + 1);
    }
  }
  std::vector<std::string> changed_before, changed_after;
  std::string hash;
  Stats stats;

  void clear() {
    by_anchor.clear();
    ordered.clear();
    anchor_of.clear();
    keys.clear();
  }

  // Replaces the lines of `anchor`; records what changed.
  void put(uint32_t anchor, std::vector<Line> now) {
    auto& cur = by_anchor[anchor];
    std::multiset<std::string> a, b;
    for (auto& l : cur) a.insert(l.text);
    for (auto& l : now) b.insert(l.text);
    if (a == b) return;
    for (auto& l : cur) {
      changed_before.push_back(l.text);
      if (auto it = ordered.find(l); it != ordered.end()) ordered.erase(it);
    }
    for (auto& l : now) {
      changed_after.push_back(l.text);
      ordered.insert(l);
      if (l.objid) anchor_of[l.objid] = anchor;
    }
    if (now.empty()) by_anchor.erase(anchor);
    else cur = std::move(now);
  }

  void rehash() {
    std::string all;
    for (auto& l : ordered) {
      if (!all.empty()) all += '\n';
      all += l.text;
    }
    hash = sha256_hex(all);
  }
};

Tracker::Tracker() : s_(std::make_unique<State>()) {}
Tracker::Tracker(Tracker&&) noexcept = default;
Tracker& Tracker::operator=(Tracker&&) noexcept = default;
Tracker::~Tracker() = default;

Result<Tracker> Tracker::start(pg::Conn& conn, const Options& opt) {
  Tracker t;
  t.s_->opt = opt;
  BELAY_ASSIGN(auto su, conn.query("select rolsuper from pg_roles where rolname = current_user"));
  t.s_->incremental = su.size() == 1 && su.get(0, 0) == "t";
  BELAY_TRY(t.reset(conn));
  t.s_->stats = Stats{};
  return t;
}

Result<Digest> Tracker::reset(pg::Conn& conn) {
  State& s = *s_;
  BELAY_ASSIGN(auto rows, detail::run_tracked(conn, s.opt, false, "", "", ""));
  Read r = parse(rows);
  std::vector<std::string> was;  // sorted, like `ordered`
  was.reserve(s.ordered.size());
  for (auto& l : s.ordered) was.push_back(l.text);
  std::sort(was.begin(), was.end());
  s.clear();
  for (auto& [anchor, lines] : r.lines) s.put(anchor, std::move(lines));
  // What changed is what differs from before the read, not everything read.
  std::vector<std::string> now;
  now.reserve(s.ordered.size());
  for (auto& l : s.ordered) now.push_back(l.text);
  std::sort(now.begin(), now.end());
  s.changed_before.clear();
  s.changed_after.clear();
  std::set_difference(was.begin(), was.end(), now.begin(), now.end(), std::back_inserter(s.changed_before));
  std::set_difference(now.begin(), now.end(), was.begin(), was.end(), std::back_inserter(s.changed_after));
  for (auto& cat : kCounted) {
    auto& k = s.keys[cat];
    for (auto& key : r.fresh[cat]) k.insert(key);
  }
  s.extension_members = r.counts["extension members"];
  s.role_names.clear();
  s.remember_roles(r);
  s.mark = r.next_mark;
  s.sequences = r.sequences;
  s.rehash();
  ++s.stats.updates;
  ++s.stats.full_reads;
  s.stats.objects_read += r.objects;
  return Digest{s.hash, s.ordered.size()};
}

Result<Digest> Tracker::update(pg::Conn& conn) {
  State& s = *s_;
  if (!s.incremental) return reset(conn);
  BELAY_ASSIGN(auto rows, detail::run_tracked(conn, s.opt, true, s.mark, "", s.sequences));
  Read r = parse(rows);
  // Renames of what many lines print, extension membership, or a schema altered in place
  // (its name is in every qualified name): read everything.
  bool full = r.other > 0 || r.counts["extension members"] != s.extension_members;
  for (auto& key : r.fresh["pg_namespace"])
    if (s.keys["pg_namespace"].count(key)) full = true;
  // A renamed role changes owners, grants and policies everywhere; new or dropped roles
  // change nothing printed here (a role still referenced in this database cannot be dropped).
  for (auto& key : r.fresh["pg_authid"]) {
    auto eq = key.find('=');
    auto it = s.role_names.find(key.substr(0, eq));
    if (it != s.role_names.end() && eq != std::string::npos && it->second != key.substr(eq + 1)) full = true;
  }
  if (full) return reset(conn);
  s.remember_roles(r);

  s.changed_before.clear();
  s.changed_after.clear();
  for (uint32_t a : r.anchors) {
    auto it = r.lines.find(a);
    s.put(a, it == r.lines.end() ? std::vector<Line>{} : std::move(it->second));
  }
  long read = r.objects;
  // Deletions: a counted catalog with fewer rows than the keys known plus the fresh ones.
  std::vector<uint32_t> extra;
  for (auto& cat : kCounted) {
    auto& known = s.keys[cat];
    for (auto& key : r.fresh[cat]) known.insert(key);
    long now = r.counts[cat];
    if (now == static_cast<long>(known.size())) continue;
    if (now > static_cast<long>(known.size())) return reset(conn);  // rows we never saw: start over
    BELAY_ASSIGN(auto list, conn.query(keys_sql(cat)));
    std::unordered_set<std::string> present;
    for (auto& key : split_list(list.get(0, 0), ',')) present.insert(key);
    for (auto& key : known) {
      if (present.count(key)) continue;
      uint32_t oid = to_oid(key.substr(0, key.find('/')));
      extra.push_back(oid);
      if (auto a = s.anchor_of.find(oid); a != s.anchor_of.end()) extra.push_back(a->second);
    }
    known = std::move(present);
  }
  s.mark = r.next_mark;
  s.sequences = r.sequences;
  if (!extra.empty()) {
    std::string arr = "{";
    for (size_t i = 0; i < extra.size(); ++i) arr += (i ? "," : "") + std::to_string(extra[i]);
    arr += "}";
    BELAY_ASSIGN(auto rows2, detail::run_tracked(conn, s.opt, true, "", arr, s.sequences));
    Read r2 = parse(rows2);
    for (uint32_t a : r2.anchors) {
      auto it = r2.lines.find(a);
      s.put(a, it == r2.lines.end() ? std::vector<Line>{} : std::move(it->second));
    }
    read += r2.objects;
  }
  s.rehash();
  ++s.stats.updates;
  s.stats.objects_read += read;
  return Digest{s.hash, s.ordered.size()};
}

const std::string& Tracker::hash() const { return s_->hash; }
size_t Tracker::objects() const { return s_->ordered.size(); }
const Tracker::Stats& Tracker::stats() const { return s_->stats; }

namespace {
Model model_of(const std::vector<std::string>& lines) {
  Model m;
  for (auto& l : lines)
    if (auto o = detail::parse_line(l); o.ok()) m.objects.push_back(std::move(*o));
  std::sort(m.objects.begin(), m.objects.end(),
            [](const Object& a, const Object& b) { return std::tie(a.kind, a.id) < std::tie(b.kind, b.id); });
  return m;
}
}  // namespace

Model Tracker::model() const {
  std::vector<std::string> lines;
  lines.reserve(s_->ordered.size());
  for (auto& l : s_->ordered) lines.push_back(l.text);
  Model m = model_of(lines);
  m.hash = s_->hash;
  return m;
}

std::pair<Model, Model> Tracker::last_change() const {
  return {model_of(s_->changed_before), model_of(s_->changed_after)};
}

Model Tracker::model(const Keep& keep) const {
  std::vector<std::string> lines;
  for (auto& l : s_->ordered)
    if (keep(l.kind, l.id)) lines.push_back(l.text);
  Model m = model_of(lines);
  m.hash = s_->hash;
  return m;
}

Model Tracker::model_before_last_update(const Keep& keep) const {
  // Now, minus what the update brought in, plus what it took out.
  std::multiset<std::string> brought(s_->changed_after.begin(), s_->changed_after.end());
  std::vector<std::string> lines;
  for (auto& l : s_->ordered) {
    if (!keep(l.kind, l.id)) continue;
    if (auto it = brought.find(l.text); it != brought.end()) {
      brought.erase(it);
      continue;
    }
    lines.push_back(l.text);
  }
  Model m = model_of(lines);
  for (auto& l : s_->changed_before)
    if (auto o = detail::parse_line(l); o.ok() && keep(o->kind, o->id)) m.objects.push_back(std::move(*o));
  std::sort(m.objects.begin(), m.objects.end(),
            [](const Object& a, const Object& b) { return std::tie(a.kind, a.id) < std::tie(b.kind, b.id); });
  return m;
}

}  // namespace belay::fingerprint
