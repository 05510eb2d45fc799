// rls-not-enabled: a table in an exposed schema that the API serves to everyone.
#include <fmt/format.h>

#include "lint/rule.h"

namespace belay::lint {

const Rule& rule_rls_not_enabled() {
  static const Rule r{
      {"rls-not-enabled", "security", Severity::error,
       "Table in an exposed schema without ENABLE ROW LEVEL SECURITY anywhere in the migrations",
       "Supabase (PostgREST) serves every table in an exposed schema (public by default) to\n"
       "anyone holding the anon key, limited only by grants and row level security. A table\n"
       "created there without ALTER TABLE ... ENABLE ROW LEVEL SECURITY is readable and writable\n"
       "by every client. Enable RLS in the migration that creates it and add policies. Exposed\n"
       "schemas: [project] exposed_schemas, or [lint] exposed_schemas, in belay.toml."},
      {{true, {"create table public.notes (id bigint primary key, body text);"}},
       {true, {"create table notes (id bigint);\nalter table notes disable row level security;"}},
       {false, {"create table notes (id bigint);", "alter table notes enable row level security;"}},
       {false, {"create table private.notes (id bigint);"}}},
      nullptr,
      [](const State& s, const Options& opt, std::vector<EndHit>& out) {
        for (auto& [name, t] : s.tables) {
          if (t.unit < 0 || t.rls_anywhere || !s.exposed(name, opt) || s.matviews.count(name)) continue;
          out.push_back(EndHit{t.created,
                               fmt::format("table {} is in exposed schema {} and row level security is never enabled: "
                                           "every API client can read and write it",
                                           name, name.substr(0, name.find('.'))),
                               name, "ALTER TABLE " + name + " ENABLE ROW LEVEL SECURITY; then add policies"});
        }
      }};
  return r;
}

}  // namespace belay::lint
