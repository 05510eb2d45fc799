// libpg_query wrapper: statement splitting, token scanning, parse-tree classification.
//
// Every libpg_query result is copied into plain C++ values and freed right where it is
// obtained, so no C resource outlives the function that asked for it.
#include "sql/sql.h"

#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <optional>
#include <utility>

#include <nlohmann/json.hpp>

namespace belay::sql {
namespace {

using nlohmann::json;

constexpr std::string_view kSpace = " \t\n\r\f\v";

struct Token {
  int start = 0;  // byte offset; the scanner's `end` is not kept, see token_end()
  PgQuery__Token token = PG_QUERY__TOKEN__NUL;
  bool keyword = false;
};

bool is_comment(const Token& t) {
  return t.token == PG_QUERY__TOKEN__SQL_COMMENT || t.token == PG_QUERY__TOKEN__C_COMMENT;
}

// A libpg_query failure: message and 1-based *character* position (0 = none).
struct PgError {
  std::string message;
  int cursorpos = 0;
};

PgError copy_error(const PgQueryError* e) {
  return PgError{e->message ? e->message : "unknown error", e->cursorpos};
}

// Scan `text` (NUL-terminated) into tokens, comments included.
std::optional<std::vector<Token>> scan(const std::string& text, PgError* err) {
  PgQueryScanResult r = pg_query_scan(text.c_str());
  std::optional<std::vector<Token>> out;
  if (r.error) {
    *err = copy_error(r.error);
  } else if (PgQuery__ScanResult* s = pg_query__scan_result__unpack(
                 nullptr, r.pbuf.len, reinterpret_cast<const uint8_t*>(r.pbuf.data))) {
    out.emplace();
    out->reserve(s->n_tokens);
    for (size_t i = 0; i < s->n_tokens; ++i) {
      const PgQuery__ScanToken* t = s->tokens[i];
      out->push_back(Token{t->start, t->token,
                           t->keyword_kind != PG_QUERY__KEYWORD_KIND__NO_KEYWORD});
    }
    pg_query__scan_result__free_unpacked(s, nullptr);
  } else {
    *err = PgError{"cannot decode the scanner's output", 0};
  }
  pg_query_free_scan_result(r);
  return out;
}

// End of token i's text: up to the next token (or `limit`), minus whitespace. The
// scanner's own `end` is wrong for some tokens (U&"..." identifiers report only "U"),
// and only whitespace can separate tokens since comments are tokens too.
int token_end(std::string_view src, const std::vector<Token>& toks, size_t i, int limit) {
  int next = i + 1 < toks.size() ? std::min(toks[i + 1].start, limit) : limit;
  std::string_view s = src.substr(0, static_cast<size_t>(next));
  size_t e = s.find_last_not_of(kSpace);
  int end = e == std::string_view::npos ? 0 : static_cast<int>(e) + 1;
  return std::max(end, toks[i].start);
}

// PostgreSQL reports positions in characters (UTF-8); turn `cursorpos` (1-based, counted
// from `from`) into a byte offset into `src`.
int cursor_to_byte(std::string_view src, int from, int cursorpos) {
  size_t i = static_cast<size_t>(from);
  for (int chars = 1; chars < cursorpos && i < src.size(); ++chars) {
    ++i;
    while (i < src.size() && (static_cast<unsigned char>(src[i]) & 0xC0) == 0x80) ++i;
  }
  return static_cast<int>(std::min(i, src.size()));
}

// Byte offset of the first malformed UTF-8 sequence in `s`, or npos.
size_t invalid_utf8_at(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || i + n > s.size()) return i;
    for (size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return i;
    i += n;
  }
  return std::string_view::npos;
}

Error error_at(std::string_view source, const std::string& file, int offset, std::string msg) {
  auto [line, col] = line_col(source, offset);
  return Error::usage(std::move(msg)).with_file(file, line, col);
}

// --- JSON parse tree helpers (absent members read as null / "" / false) ---

const json& member(const json& j, const char* key) {
  static const json null_value;
  if (!j.is_object()) return null_value;
  auto it = j.find(key);
  return it == j.end() ? null_value : *it;
}

std::string str(const json& j, const char* key) {
  const json& v = member(j, key);
  return v.is_string() ? v.get<std::string>() : std::string();
}

bool flag(const json& j, const char* key) {
  const json& v = member(j, key);
  return v.is_boolean() && v.get<bool>();
}

std::string lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

// Mirrors PostgreSQL's defGetBoolean: `(CONCURRENTLY)`, `(CONCURRENTLY true)` and
// `(CONCURRENTLY 1)` are on; `false` / `off` / `0` are off.
bool option_on(const json& params, const char* name) {
  if (!params.is_array()) return false;
  for (const json& p : params) {
    const json& d = member(p, "DefElem");
    if (str(d, "defname") != name) continue;
    const json& arg = member(d, "arg");
    if (arg.is_null()) return true;
    if (arg.contains("Boolean")) return flag(arg["Boolean"], "boolval");
    if (arg.contains("Integer")) {
      const json& v = member(arg["Integer"], "ival");
      return v.is_number() && v.get<long long>() != 0;
    }
    std::string s = lower(str(member(arg, "String"), "sval"));
    return s != "false" && s != "off";
  }
  return false;
}

// RangeVar fields are emitted bare (no {"RangeVar": ...} wrapper) where the C struct
// field is typed RangeVar*, e.g. IndexStmt.relation; recognise them by shape.
bool is_range_var(const json& j) {
  return j.is_object() && member(j, "relname").is_string() && j.contains("relpersistence");
}

std::string qualified(const json& rv) {
  std::string schema = str(rv, "schemaname");
  return schema.empty() ? str(rv, "relname") : schema + "." + str(rv, "relname");
}

struct NamedAt {
  int location;
  std::string name;
};

void collect(const json& j, std::vector<NamedAt>& rels, std::vector<std::string>& ctes) {
  if (is_range_var(j)) {
    const json& loc = member(j, "location");
    rels.push_back({loc.is_number_integer() ? loc.get<int>() : INT_MAX, qualified(j)});
  }
  if (j.is_object()) {
    if (j.contains("ctename")) ctes.push_back(str(j, "ctename"));
    for (const auto& [key, value] : j.items()) collect(value, rels, ctes);
  } else if (j.is_array()) {
    for (const json& v : j) collect(v, rels, ctes);
  }
}

// Relations named by the statement in source order. nlohmann::json keeps object keys
// sorted, so the walk order means nothing: order by the RangeVar's location instead.
// Unqualified names of the statement's own CTEs are not tables.
std::vector<std::string> relations_of(const json& stmt) {
  std::vector<NamedAt> found;
  std::vector<std::string> ctes, rels;
  collect(stmt, found, ctes);
  std::stable_sort(found.begin(), found.end(),
                   [](const NamedAt& a, const NamedAt& b) { return a.location < b.location; });
  for (NamedAt& f : found) {
    if (std::find(ctes.begin(), ctes.end(), f.name) != ctes.end()) continue;
    if (std::find(rels.begin(), rels.end(), f.name) == rels.end()) rels.push_back(std::move(f.name));
  }
  return rels;
}

void set_index_from_names(const json& names, Statement& st) {
  if (!names.is_array() || names.empty()) return;
  auto name_at = [&](size_t i) { return str(member(names[i], "String"), "sval"); };
  st.index_name = name_at(names.size() - 1);
  if (names.size() >= 2) st.index_schema = name_at(names.size() - 2);
}

// Fill transactional / transaction_control / index fields from the statement node `n`
// (the object under its kind name).
void classify(const std::string& kind, const json& n, Statement& st) {
  auto non_tx = [&](std::string why) {
    st.transactional = false;
    st.non_tx_reason = std::move(why);
  };
  const json& rel = member(n, "relation");

  if (kind == "TransactionStmt") {
    st.transaction_control = true;
  } else if (kind == "IndexStmt") {
    st.index_name = str(n, "idxname");
    st.index_schema = str(rel, "schemaname");  // an index lives in its table's schema
    st.table_schema = str(rel, "schemaname");
    st.table_name = str(rel, "relname");
    st.if_not_exists = flag(n, "if_not_exists");
    if (flag(n, "concurrent")) non_tx("CREATE INDEX CONCURRENTLY");
  } else if (kind == "DropStmt") {
    if (str(n, "removeType") != "OBJECT_INDEX") return;
    const json& objects = member(n, "objects");
    if (objects.is_array() && !objects.empty())
      set_index_from_names(member(member(objects[0], "List"), "items"), st);
    if (flag(n, "concurrent")) non_tx("DROP INDEX CONCURRENTLY");
  } else if (kind == "ReindexStmt") {
    std::string what = str(n, "kind");
    if (what == "REINDEX_OBJECT_INDEX") {
      st.index_schema = str(rel, "schemaname");
      st.index_name = str(rel, "relname");
    } else if (what == "REINDEX_OBJECT_TABLE") {
      st.table_schema = str(rel, "schemaname");
      st.table_name = str(rel, "relname");
    }
    if (option_on(member(n, "params"), "concurrently")) {
      non_tx("REINDEX CONCURRENTLY");
    } else if (what == "REINDEX_OBJECT_SCHEMA" || what == "REINDEX_OBJECT_SYSTEM" ||
               what == "REINDEX_OBJECT_DATABASE") {
      // These commit per table internally, so PostgreSQL refuses them in a block.
      non_tx("REINDEX " + what.substr(std::string_view("REINDEX_OBJECT_").size()));
    }
  } else if (kind == "VacuumStmt") {
    if (flag(n, "is_vacuumcmd")) non_tx("VACUUM");  // ANALYZE alone is transactional
  } else if (kind == "ClusterStmt") {
    if (rel.is_null()) non_tx("CLUSTER");  // CLUSTER of every clustered table
  } else if (kind == "AlterTableStmt") {
    const json& cmds = member(n, "cmds");
    if (!cmds.is_array()) return;
    for (const json& c : cmds) {
      const json& cmd = member(c, "AlterTableCmd");
      if (str(cmd, "subtype") == "AT_DetachPartition" &&
          flag(member(member(cmd, "def"), "PartitionCmd"), "concurrent"))
        non_tx("DETACH PARTITION CONCURRENTLY");
    }
  } else if (kind == "AlterDatabaseStmt") {
    const json& opts = member(n, "options");
    if (!opts.is_array()) return;
    for (const json& o : opts)
      if (str(member(o, "DefElem"), "defname") == "tablespace")
        non_tx("ALTER DATABASE SET TABLESPACE");
  } else if (kind == "DiscardStmt") {
    if (str(n, "target") == "DISCARD_ALL") non_tx("DISCARD ALL");
  } else {
    static const std::pair<std::string_view, std::string_view> kAlwaysNonTx[] = {
        {"CreatedbStmt", "CREATE DATABASE"},
        {"DropdbStmt", "DROP DATABASE"},
        {"AlterSystemStmt", "ALTER SYSTEM"},
        {"CreateTableSpaceStmt", "CREATE TABLESPACE"},
        {"DropTableSpaceStmt", "DROP TABLESPACE"},
        // Only some forms refuse a transaction block (slot creation/drop, refresh with
        // copy_data); telling them apart is not worth the risk.
        {"CreateSubscriptionStmt", "SUBSCRIPTION command"},
        {"AlterSubscriptionStmt", "SUBSCRIPTION command"},
        {"DropSubscriptionStmt", "SUBSCRIPTION command"},
    };
    for (const auto& [k, why] : kAlwaysNonTx)
      if (kind == k) non_tx(std::string(why));
  }
}

// Parse `st.text` and fill kind, classification and relations. `source` is the whole
// file, used to place errors.
Status analyze(std::string_view source, const std::string& file, Statement& st, bool keep_tree,
               int* error_at_byte = nullptr) {
  PgQueryParseResult r = pg_query_parse(st.text.c_str());
  std::optional<PgError> err;
  std::string tree;
  if (r.error) err = copy_error(r.error);
  else if (r.parse_tree) tree = r.parse_tree;
  pg_query_free_parse_result(r);
  if (err) {
    int at = cursor_to_byte(source, st.offset, std::max(err->cursorpos, 1));
    if (error_at_byte) *error_at_byte = at;
    return error_at(source, file, at, err->message);
  }

  json root = json::parse(tree, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) {
    // libpg_query copies bytes through unchecked; only malformed UTF-8 breaks its JSON.
    size_t bad = invalid_utf8_at(st.text);
    int at = st.offset + (bad == std::string_view::npos ? 0 : static_cast<int>(bad));
    return error_at(source, file, at, "invalid UTF-8 byte sequence");
  }
  const json& stmts = member(root, "stmts");
  if (!stmts.is_array() || stmts.empty()) return ok_status();
  if (stmts.size() > 1)  // defensive: the splitter and the parser disagree on boundaries
    return error_at(source, file, st.offset, "cannot tell where this statement ends");
  const json& node = member(stmts[0], "stmt");
  if (!node.is_object() || node.empty()) return ok_status();
  st.kind = node.begin().key();
  classify(st.kind, node.begin().value(), st);
  st.relations = relations_of(node);
  if (keep_tree) {
    json& owned = root["stmts"][0]["stmt"];
    st.tree = std::make_shared<const json>(std::move(owned));
  }
  return ok_status();
}

// Where to cut a file whose tail cannot be scanned (from `limit` on): after the last ';'
// before `limit` that the scanner sees, so the statements before the damage still count.
// 0 when there is none.
int last_statement_end(const std::string& src, int limit) {
  while (limit > 0) {
    PgError err;
    auto toks = scan(src.substr(0, static_cast<size_t>(limit)), &err);
    if (!toks) {
      int at = cursor_to_byte(src, 0, err.cursorpos);
      if (at >= limit) return 0;  // no progress: give up on the whole prefix
      limit = at;
      continue;
    }
    for (size_t i = toks->size(); i-- > 0;)
      if ((*toks)[i].token == PG_QUERY__TOKEN__ASCII_59) return (*toks)[i].start + 1;
    return 0;
  }
  return 0;
}

}  // namespace

Result<std::vector<Statement>> split(std::string_view source, const std::string& file_name) {
  SplitResult r = split(source, file_name, SplitOptions{});
  if (!r.errors.empty()) return std::move(r.errors.front());
  return std::move(r.statements);
}

SplitResult split(std::string_view source, const std::string& file_name, const SplitOptions& opt) {
  SplitResult out;
  if (source.size() > static_cast<size_t>(INT_MAX / 2)) {
    out.errors.push_back(Error::usage("SQL file too large").with_file(file_name));
    return out;
  }
  // Lenient: keep what comes before damage at `at` that hides the rest of the file.
  auto salvage = [&](int at, Error err) {
    if (opt.lenient) {
      int cut = last_statement_end(std::string(source), at);
      if (cut > 0 && cut < at) out = split(source.substr(0, static_cast<size_t>(cut)), file_name, opt);
    }
    out.errors.push_back(std::move(err));
    return out;
  };
  // libpg_query reads C strings: a NUL byte would silently end the file early.
  if (size_t nul = source.find('\0'); nul != std::string_view::npos)
    return salvage(static_cast<int>(nul), error_at(source, file_name, static_cast<int>(nul), "NUL byte in SQL file"));
  const std::string src(source);

  std::vector<std::pair<int, int>> pieces;  // (location, length)
  std::optional<PgError> err;
  PgQuerySplitResult r = pg_query_split_with_scanner(src.c_str());
  if (r.error) err = copy_error(r.error);
  else
    for (int i = 0; i < r.n_stmts; ++i)
      pieces.emplace_back(r.stmts[i]->stmt_location, r.stmts[i]->stmt_len);
  pg_query_free_split_result(r);
  if (err) {
    int at = cursor_to_byte(source, 0, err->cursorpos);
    return salvage(at, error_at(source, file_name, at, err->message));
  }

  PgError scan_err;
  auto tokens = scan(src, &scan_err);
  if (!tokens) {
    int at = cursor_to_byte(source, 0, scan_err.cursorpos);
    return salvage(at, error_at(source, file_name, at, scan_err.message));
  }
  const std::vector<Token>& toks = *tokens;

  // Analyse the splitter's pieces *and* whatever lies between them: the splitter silently
  // skips text it cannot place (a keyword-less "foo;", everything after an unbalanced
  // ")"), so such text is parsed too and fails loudly instead of vanishing.
  const int size = static_cast<int>(src.size());
  std::vector<std::pair<int, int>> ranges;  // [begin, end), contiguous over the file
  int covered = 0;
  for (auto [loc, len] : pieces) {
    loc = std::clamp(loc, covered, size);
    if (loc > covered) ranges.emplace_back(covered, loc);
    covered = std::clamp(loc + len, loc, size);
    ranges.emplace_back(loc, covered);
  }
  if (covered < size) ranges.emplace_back(covered, size);

  // A stack of ranges still to analyse (front of the file on top).
  std::vector<std::pair<int, int>> work(ranges.rbegin(), ranges.rend());
  while (!work.empty()) {
    auto [begin, end] = work.back();
    work.pop_back();
    size_t t = static_cast<size_t>(std::lower_bound(toks.begin(), toks.end(), begin, [](const Token& k, int b) {
                                     return k.start < b;
                                   }) - toks.begin());
    int first = -1, last_end = -1;
    for (; t < toks.size() && toks[t].start < end; ++t) {
      if (is_comment(toks[t]) || toks[t].token == PG_QUERY__TOKEN__ASCII_59) continue;
      if (first < 0) first = toks[t].start;
      last_end = token_end(src, toks, t, end);
    }
    if (first < 0) continue;  // only comments / whitespace / ';'

    Statement st;
    st.offset = first;
    st.text = src.substr(first, last_end - first);
    std::tie(st.line, st.column) = line_col(source, first);
    int bad = -1;
    Status s = analyze(source, file_name, st, opt.keep_tree, &bad);
    if (!s.ok()) {
      out.errors.push_back(std::move(s).error());
      if (!opt.lenient) return out;
      // An unbalanced '(' makes the splitter run on past the statement's end: after the
      // error, every ';' at any depth starts a new statement again.
      std::vector<std::pair<int, int>> rest;
      int from = -1;
      for (const Token& k : toks) {
        if (k.start < std::max(bad, first) || k.start >= end || k.token != PG_QUERY__TOKEN__ASCII_59) continue;
        if (from >= 0) rest.emplace_back(from, k.start + 1);
        from = k.start + 1;
      }
      if (from >= 0) rest.emplace_back(from, end);
      work.insert(work.end(), rest.rbegin(), rest.rend());
      continue;
    }
    out.statements.push_back(std::move(st));
  }
  return out;
}

std::string paren_group(std::string_view statement, int offset) {
  const std::string src(statement.substr(0, statement.find('\0')));
  PgError err;
  auto toks = scan(src, &err);
  if (!toks) return {};
  int depth = 0, open_end = -1;
  for (size_t i = 0; i < toks->size(); ++i) {
    const Token& t = (*toks)[i];
    if (t.start < offset || is_comment(t)) continue;
    if (t.token == PG_QUERY__TOKEN__ASCII_40) {
      if (depth++ == 0) open_end = t.start + 1;
    } else if (t.token == PG_QUERY__TOKEN__ASCII_41 && depth > 0) {
      if (--depth == 0) {
        std::string_view inner = std::string_view(src).substr(open_end, t.start - open_end);
        size_t b = inner.find_first_not_of(kSpace);
        if (b == std::string_view::npos) return {};
        return std::string(inner.substr(b, inner.find_last_not_of(kSpace) - b + 1));
      }
    }
  }
  return {};
}

std::string normalize(std::string_view statement) {
  const std::string src(statement);
  PgError err;
  auto tokens = scan(src, &err);
  if (!tokens || statement.find('\0') != std::string_view::npos) {
    size_t b = statement.find_first_not_of(kSpace);
    if (b == std::string_view::npos) return {};
    return std::string(statement.substr(b, statement.find_last_not_of(kSpace) - b + 1));
  }
  const std::vector<Token>& toks = *tokens;
  std::string out;
  for (size_t i = 0; i < toks.size(); ++i) {
    const Token& t = toks[i];
    if (is_comment(t)) continue;
    std::string text = src.substr(t.start, token_end(src, toks, i, static_cast<int>(src.size())) - t.start);
    // Keywords and unquoted identifiers are case-insensitive to PostgreSQL.
    if (t.keyword || (t.token == PG_QUERY__TOKEN__IDENT && text[0] != '"')) text = lower(text);
    if (!out.empty()) out += ' ';
    out += text;
  }
  return out;
}

std::pair<int, int> line_col(std::string_view source, int offset) {
  size_t end = static_cast<size_t>(std::clamp(offset, 0, static_cast<int>(std::min<size_t>(
                                                             source.size(), INT_MAX))));
  int line = 1;
  size_t line_start = 0;
  for (size_t i = 0; i < end; ++i) {
    if (source[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  int column = static_cast<int>(end - line_start) + 1;
  // The '\r' of a "\r\n" line break is part of the break, not a column.
  if (end > line_start && end < source.size() && source[end] == '\n' && source[end - 1] == '\r')
    --column;
  return {line, column};
}

}  // namespace belay::sql
