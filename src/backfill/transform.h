// One user's document → the rows of every entity, as COPY text, with new ids, references
// remapped by old id, and every problem handled by the entity's policy. The same code
// serves plan and run, so a plan shows exactly what a run writes.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "backfill/backfill.h"
#include "backfill/ids.h"
#include "backfill/json_doc.h"
#include "backfill/store.h"

namespace belay::backfill {

struct SourceRow {
  std::string source_id, user, version;
  std::optional<std::string> doc;  // JSON text; nullopt = SQL NULL
};

struct EntityOut {
  std::string copy;                           // COPY text lines of the rows that land
  std::vector<std::optional<std::string>> old_ids;  // nullopt = positional id
  std::vector<Uuid> ids;
  int source_elements = 0, skipped = 0;
};

struct UserOut {
  std::string user, source_id, version;
  bool quarantined = false;
  std::string reason;                // first quarantining problem
  std::string sqlstate;              // when the server refused the rows
  std::vector<EntityOut> entities;   // aligned with job.entities
  std::vector<Problem> problems;
  long long rows = 0;
  bool empty() const { return !quarantined && rows == 0; }
};

class Transformer {
 public:
  Transformer(const Job& job, const Catalog& cat);
  UserOut transform(const SourceRow& row);

 private:
  struct Row;
  void entity(size_t ei, JsonDoc::Ref arr, UserOut& out, std::vector<std::vector<Row>>& rows);
  void resolve_refs(size_t ei, UserOut& out, std::vector<std::vector<Row>>& rows);
  void problem(UserOut& out, const Entity& e, std::string kind, int index, std::string field, std::string detail,
               Policy p, const char* kept_action);

  const Job& job_;
  const Catalog& cat_;
  IdMaker ids_;
  JsonDoc doc_;
};

}  // namespace belay::backfill
