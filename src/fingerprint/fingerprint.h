// Schema fingerprints: a canonical, OID-free model of everything a migration can change,
// its hash, and the difference between two models in words a reviewer reads.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pg/pg.h"
#include "util/error.h"

namespace belay::fingerprint {

// One object of the model. `kind` + `id` identify it independently of OIDs and creation
// order; `props` are its canonical properties (every value a string).
struct Object {
  std::string kind;   // schema, table, column, constraint, index, view, matview, function, trigger,
                      // rule, sequence, enum, domain, composite, range, extension, rls, policy,
                      // grant, default_acl, comment, publication, event_trigger, owner
  std::string id;     // e.g. "public.t", "public.t.owner", "public.t_owner_idx", "public.f(integer, text)"
  std::string label;  // reviewer text, e.g. "index public.t_owner_idx", "policy t_owner on public.t"
  std::map<std::string, std::string> props;  // e.g. {"definition": "CREATE INDEX ..."}, {"USING": "..."}
};

struct Model {
  std::vector<Object> objects;  // sorted by (kind, id)
  std::string hash;             // SHA-256 (hex) of the canonical serialisation
  size_t size() const { return objects.size(); }
};

struct Options {
  // Schemas left out besides the system ones (pg_catalog, information_schema, pg_toast,
  // pg_temp_*): belay's own history lives there.
  std::vector<std::string> exclude_schemas = {"belay", "supabase_migrations"};
};

// Reads the model from the connected database (a few catalog queries).
Result<Model> capture(pg::Conn& conn, const Options& opt = {});

// Only the hash and object count, computed inside the server without sending the model
// over the wire. Equal to capture(conn).hash for the same database state.
struct Digest {
  std::string hash;
  size_t objects = 0;
};
Result<Digest> digest(pg::Conn& conn, const Options& opt = {});

// Follows one database through a series of changes and keeps its model current by
// re-reading only the objects whose catalog rows changed since the last look: each update
// costs about as much as the changes, not the schema. Rehearsal uses it for its three
// fingerprints per migration.
//
// What changed is found from the catalog rows' xmin (rows written since the last look), the
// objects that depend on those (pg_depend), and row counts (deletions leave no row behind).
// Sequences are re-read when their value moved. A change that renames something printed inside many lines
// (a role, a schema, a collation, ...) re-reads everything. Reading pg_authid needs a
// superuser; without one every update is a full read. Every update's hash equals digest()'s
// for the same state.
class Tracker {
 public:
  static Result<Tracker> start(pg::Conn& conn, const Options& opt = {});
  Tracker(Tracker&&) noexcept;
  Tracker& operator=(Tracker&&) noexcept;
  ~Tracker();

  // Brings the model up to date with the database as `conn` sees it now.
  Result<Digest> update(pg::Conn& conn);
  // Forgets everything and reads the whole model again.
  Result<Digest> reset(pg::Conn& conn);

  const std::string& hash() const;
  size_t objects() const;
  Model model() const;                       // the whole current model
  // The objects the last update found changed: as they were before it, and after.
  std::pair<Model, Model> last_change() const;
  // Part of the model, now and as it was before the last update: only the objects `keep`
  // accepts are parsed (cheaper than model() when few are wanted).
  using Keep = std::function<bool(const std::string& kind, const std::string& id)>;
  Model model(const Keep& keep) const;
  Model model_before_last_update(const Keep& keep) const;

  struct Stats {
    int updates = 0;           // update() calls
    int full_reads = 0;        // of which read everything
    long objects_read = 0;     // objects read by all updates
  };
  const Stats& stats() const;

 private:
  Tracker();
  struct State;
  std::unique_ptr<State> s_;
};

struct Change {
  std::string what;     // "added", "removed", "changed"
  std::string kind, id, label;
  std::vector<std::string> fields;  // changed property names (for "changed")
  std::map<std::string, std::pair<std::string, std::string>> values;  // field -> (before, after)
  // "index public.t_owner_idx: added", "policy t_owner on public.t: USING changed"
  std::string describe() const;
};

// Differences from `from` to `to`, sorted by (kind, id).
std::vector<Change> diff(const Model& from, const Model& to);

nlohmann::json to_json(const Model& m);
Result<Model> from_json(const nlohmann::json& j);
nlohmann::json to_json(const Change& c);

}  // namespace belay::fingerprint
