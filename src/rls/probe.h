// Internal to rls/: what `belay rls test` knows about a table it probes, and the SQL it
// writes for it.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pg/pg.h"
#include "rls/rls.h"

namespace belay::rls::detail {

struct Column {
  std::string name, q, type;  // q: quoted; type: format_type()
  bool generated = false, identity_always = false, is_array = false, key = false;
};

struct Table {
  std::string name;            // as the contract writes it
  std::string q;               // "schema"."table", quoted where needed
  char relkind = 'r';
  std::vector<Column> cols;
  std::vector<size_t> key;     // primary key columns; none: rows are told apart by ctid
  bool is_view() const { return relkind == 'v' || relkind == 'm'; }

  // The text that names a row of `alias` (the key's text, ctid, or the whole row for views).
  std::string key_text(const std::string& alias) const;
  // How a row is shown in messages, from its key text: "id=3", "ctid (0,2)".
  std::string show(const std::string& key) const;
  // SQL: alias's row is one of `keys`.
  std::string key_in(const std::string& alias, const std::vector<std::string>& keys) const;
  const Column* column(const std::string& name) const;

  // Filled as the run goes.
  std::vector<const nlohmann::json*> fixture_rows;
  std::vector<int> fixture_lines;
  int first_group = -1;                 // index of its first [[fixtures]] entry
  std::vector<std::string> fixture_keys;
  std::vector<std::string> universe;    // rows the probes look at (fixtures, or every row)
  std::vector<std::string> ctids;       // their ctid before any probe
  std::vector<std::vector<std::optional<std::string>>> values;  // their column values as text
};

// Reads each table's columns and key, and checks every persona's role exists. Errors name
// the contract line.
Result<std::vector<Table>> describe(pg::Conn& conn, const Contract& c);

// A typed SQL literal: 'text'::type, NULL::type.
std::string literal(const std::optional<std::string>& v, const std::string& type);
// A fixture value (JSON from the contract) as a literal of the column's type.
std::string fixture_literal(const nlohmann::json& v, const Column& col);
// The text array literal '{"a","b"}' (for = any(...)).
std::string text_array(const std::vector<std::string>& v);

}  // namespace belay::rls::detail
