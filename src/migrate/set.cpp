// Loading a migration set from disk: plain up/down pairs, dbmate-style single files and
// the Supabase CLI layout (with rollback companions kept in a separate folder).
#include <algorithm>
#include <atomic>
#include <functional>
#include <thread>
#include <tuple>
#include <map>
#include <regex>

#include <fmt/format.h>

#include "migrate/migrate.h"
#include "util/fs.h"
#include "util/sha256.h"
#include "util/text.h"

namespace belay::migrate {
namespace stdfs = std::filesystem;

namespace {

struct FileName {
  std::string version, name;
  bool down = false;
};

// <version>_<name>.sql or <version>_<name>.down.sql; nullopt when malformed.
std::optional<FileName> parse_name(const std::string& fname) {
  static const std::regex re(R"(^([0-9]+)_([^/]+?)(\.down)?\.sql$)");
  std::smatch m;
  if (!std::regex_match(fname, m, re)) return std::nullopt;
  return FileName{m[1], m[2], m[3].matched};
}

std::string strip_zeros(const std::string& v) {
  auto p = v.find_first_not_of('0');
  return p == std::string::npos ? "0" : v.substr(p);
}

// "-- belay:key=value" directives anywhere in a script; `base_line` as in make_script.
void apply_directives(const std::string& src, int base_line, Script& s, std::vector<Error>& errs) {
  if (src.find("belay:") == std::string::npos) return;  // the common case, without a regex
  static const std::regex re(R"(--\s*belay:\s*([A-Za-z_\-]+)\s*(?:=\s*([^\s;]+))?)");
  for (auto it = std::sregex_iterator(src.begin(), src.end(), re); it != std::sregex_iterator(); ++it) {
    auto key = (*it)[1].str();
    for (auto& ch : key) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    auto val = (*it)[2].str();
    // Not a structured binding: clang 14 (the fuzz build) cannot capture those in a lambda.
    std::pair<int, int> at = sql::line_col(src, static_cast<int>(it->position()));
    int line = at.first + base_line - 1, col = at.second;
    auto bad = [&](std::string msg) { errs.push_back(Error::usage(std::move(msg)).with_file(s.file.string(), line, col)); };
    if (key == "lock_timeout" || key == "statement_timeout") {
      auto d = text::parse_duration(val);
      if (!d) { bad(fmt::format("directive belay:{} needs a duration like 5s, got '{}'", key, val)); continue; }
      (key == "lock_timeout" ? s.lock_timeout : s.statement_timeout) = *d;
    } else if (key == "no-transaction" || key == "no_transaction") {
      s.transactional = false;
      if (s.non_tx_reason.empty()) s.non_tx_reason = "belay:no-transaction directive";
    } else if (key == "ignore" || key == "ignore-file") {
      // Lint suppressions (`-- belay:ignore RULE`): read by lint, nothing to do here.
    } else {
      bad(fmt::format("unknown directive belay:{} (known: lock_timeout, statement_timeout, no-transaction)", key));
    }
  }
}

// Builds a Script from a file or a section of one. `base_line` is where the text
// starts in the file, so statement positions are file positions.
std::optional<Script> make_script(const stdfs::path& file, const std::string& text, int base_line,
                                  std::vector<Error>& errs, const LoadOptions& opt) {
  Script s;
  s.file = file;
  auto split = sql::split(text, file.string(), sql::SplitOptions{opt.keep_trees, opt.lenient});
  for (auto& e : split.errors) e.line += base_line - 1;
  if (!split.errors.empty() && !opt.lenient) {
    errs.push_back(std::move(split.errors.front()));
    return std::nullopt;
  }
  s.syntax_errors = std::move(split.errors);
  s.statements = std::move(split.statements);
  std::string canon;
  for (auto& st : s.statements) {
    st.line += base_line - 1;
    // The normalised text serves the checksum and the session-state check alike.
    auto norm = sql::normalize(st.text);
    if ((st.kind == "VariableSetStmt" && norm.rfind("set local", 0) != 0) ||
        norm.find("set_config") != std::string::npos)
      s.changes_session = true;
    canon += norm;
    canon += ";\n";
    if (!st.transactional && s.transactional) {
      s.transactional = false;
      s.non_tx_reason = st.non_tx_reason;
    }
    if (st.transaction_control && s.transactional) {
      // The file manages its own transaction: run it as written, statement by statement.
      s.transactional = false;
      s.non_tx_reason = "the file contains its own BEGIN/COMMIT";
    }
  }
  s.checksum = sha256_hex(canon);
  apply_directives(text, base_line, s, errs);
  return s;
}

struct Sections {
  bool dbmate = false;
  std::string up, down;
  int up_line = 1, down_line = 1;
  bool up_no_tx = false, down_no_tx = false;
  std::string preamble;  // text before the first marker (comments only, or it is an error)
};

// dbmate: "-- migrate:up [transaction:false]" ... "-- migrate:down [transaction:false]".
Sections split_sections(const std::string& src) {
  Sections s;
  static const std::regex marker(R"(^--\s*migrate:(up|down)\b(.*)$)");
  std::vector<std::tuple<std::string, size_t, size_t, int, bool>> marks;  // kind, start, body, line, no_tx
  size_t pos = 0;
  int line = 1;
  while (pos <= src.size()) {
    auto eol = src.find('\n', pos);
    if (eol == std::string::npos) eol = src.size();
    std::string l = src.substr(pos, eol - pos);
    if (!l.empty() && l.back() == '\r') l.pop_back();
    std::smatch m;
    if (l.rfind("--", 0) == 0 && std::regex_match(l, m, marker))
      marks.emplace_back(m[1], pos, std::min(eol + 1, src.size()), line + 1,
                         m[2].str().find("transaction:false") != std::string::npos);
    if (eol == src.size()) break;
    pos = eol + 1;
    ++line;
  }
  if (marks.empty()) { s.up = src; return s; }
  s.dbmate = true;
  s.preamble = src.substr(0, std::get<1>(marks.front()));
  for (size_t i = 0; i < marks.size(); ++i) {
    auto& [kind, start, body, ln, no_tx] = marks[i];
    size_t end = i + 1 < marks.size() ? std::get<1>(marks[i + 1]) : src.size();
    auto text = src.substr(body, end - body);
    if (kind == "up") { s.up = text; s.up_line = ln; s.up_no_tx = no_tx; }
    else { s.down = text; s.down_line = ln; s.down_no_tx = no_tx; }
  }
  return s;
}

Result<std::string> read_checked(const stdfs::path& p) {
  BELAY_ASSIGN(auto src, fs::read_file(p));
  if (auto bad = text::first_invalid_utf8(src)) {
    auto [l, c] = sql::line_col(src, static_cast<int>(*bad));
    return Error::usage(fmt::format("not valid UTF-8 (byte 0x{:02x} at offset {})",
                                    static_cast<unsigned char>(src[*bad]), *bad))
        .with_file(p.string(), l, c)
        .with_next("save the file as UTF-8");
  }
  return src;
}

std::vector<stdfs::path> sql_files(const stdfs::path& dir) {
  std::vector<stdfs::path> out;
  std::error_code ec;
  for (auto& e : stdfs::directory_iterator(dir, ec)) {
    auto n = e.path().filename().string();
    if (n.empty() || n[0] == '.' || !e.is_regular_file()) continue;
    if (e.path().extension() == ".sql") out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Runs fn(0..n-1) on up to one thread per core; each index is handled exactly once.
void parallel_for(size_t n, const std::function<void(size_t)>& fn) {
  size_t threads = std::min<size_t>(std::max(1u, std::thread::hardware_concurrency()), 8);
  if (n < 16 || threads == 1) {
    for (size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next.fetch_add(1)) < n;) fn(i);
  };
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
}

// One up file (plain or dbmate-style with its down section); errors go to `errs`.
std::optional<Migration> up_from_text(const std::string& text, const stdfs::path& p, const FileName& fn,
                                      std::vector<Error>& errs, const LoadOptions& opt) {
  auto sec = split_sections(text);
  Migration m;
  m.version = fn.version;
  m.name = fn.name;
  if (sec.dbmate) {
    auto pre = sql::split(sec.preamble, p.string());
    if (!pre.ok() || !pre->empty()) {
      int l = pre.ok() ? pre->front().line : 1;
      errs.push_back(Error::usage("SQL before '-- migrate:up' would never run")
                         .with_file(p.string(), l, 1)
                         .with_next("move it below '-- migrate:up' (or '-- migrate:down')"));
      return std::nullopt;
    }
  }
  auto up = make_script(p, sec.up, sec.up_line, errs, opt);
  if (!up) return std::nullopt;
  if (up->statements.empty() && up->syntax_errors.empty()) {
    errs.push_back(Error::usage(sec.dbmate ? "empty '-- migrate:up' section" : "empty migration (no SQL statements)")
                       .with_file(p.string())
                       .with_next("write the migration or delete the file"));
    return std::nullopt;
  }
  if (sec.up_no_tx && up->transactional) { up->transactional = false; up->non_tx_reason = "transaction:false"; }
  m.up = std::move(*up);
  if (sec.dbmate) {
    auto down = make_script(p, sec.down, sec.down_line, errs, opt);
    if (down && (!down->statements.empty() || !down->syntax_errors.empty())) {
      if (sec.down_no_tx && down->transactional) { down->transactional = false; down->non_tx_reason = "transaction:false"; }
      m.down = std::move(*down);
    }
  }
  return m;
}

std::optional<Migration> load_up(const stdfs::path& p, const FileName& fn, std::vector<Error>& errs,
                                 const LoadOptions& opt) {
  auto src = read_checked(p);
  if (!src.ok()) { errs.push_back(std::move(src).error()); return std::nullopt; }
  return up_from_text(*src, p, fn, errs, opt);
}

// A separate rollback file.
std::optional<Script> load_down(const stdfs::path& p, std::vector<Error>& errs, const LoadOptions& opt) {
  auto src = read_checked(p);
  if (!src.ok()) { errs.push_back(std::move(src).error()); return std::nullopt; }
  auto down = make_script(p, *src, 1, errs, opt);
  if (!down) return std::nullopt;
  if (down->statements.empty() && down->syntax_errors.empty()) {
    errs.push_back(Error::usage("empty rollback (no SQL statements)")
                       .with_file(p.string())
                       .with_next("write the rollback or delete the file"));
    return std::nullopt;
  }
  return down;
}

}  // namespace

int compare_versions(const std::string& a, const std::string& b) {
  auto x = strip_zeros(a), y = strip_zeros(b);
  if (x.size() != y.size()) return x.size() < y.size() ? -1 : 1;
  return x.compare(y) < 0 ? -1 : (x == y ? 0 : 1);
}

const Migration* MigrationSet::find(const std::string& version) const {
  for (auto& m : migrations)
    if (compare_versions(m.version, version) == 0) return &m;
  return nullptr;
}

Result<MigrationSet> load_set(const project::Config& cfg) { return load_set(cfg, LoadOptions{}); }

namespace {
// All problems of a load in file order: the first as the error, every one in detail.
Error combine(std::vector<Error> errs) {
  std::stable_sort(errs.begin(), errs.end(), [](const Error& a, const Error& b) {
    return std::tie(a.file, a.line, a.column) < std::tie(b.file, b.line, b.column);
  });
  Error first = errs.front();
  if (errs.size() > 1) {
    first.message = fmt::format("{} (and {} more problem{})", first.message, errs.size() - 1,
                                errs.size() == 2 ? "" : "s");
    std::string all;
    for (auto& e : errs) all += "\n    " + e.location() + ": " + e.message;
    first.detail = "every problem:" + all;
  }
  return first;
}
}  // namespace

Result<Migration> load_text(const std::string& text, const stdfs::path& file, const LoadOptions& opt) {
  std::vector<Error> errs;
  FileName fn = parse_name(file.filename().string()).value_or(FileName{});
  auto m = up_from_text(text, file, fn, errs, opt);
  if (!errs.empty() || !m) return errs.empty() ? Error::usage("cannot read migration").with_file(file.string())
                                               : combine(std::move(errs));
  return std::move(*m);
}

Result<Migration> load_file(const stdfs::path& file, const LoadOptions& opt) {
  BELAY_ASSIGN(auto text, read_checked(file));
  return load_text(text, file, opt);
}

Result<MigrationSet> load_set(const project::Config& cfg, const LoadOptions& opt) {
  MigrationSet set;
  set.layout = cfg.layout;
  set.dir = cfg.migrations_dir;
  if (!stdfs::is_directory(cfg.migrations_dir))
    return Error::usage(fmt::format("migrations folder {} does not exist", cfg.migrations_dir.string()))
        .with_next("create it, run `belay init`, or set [migrations] dir in belay.toml");
  std::vector<Error> errs;
  std::map<std::string, Migration> ups;          // key: version without leading zeros
  std::map<std::string, std::string> up_files;
  struct Down { stdfs::path file; std::string version; };
  std::vector<Down> downs;

  struct UpJob { stdfs::path file; FileName name; std::string key; };
  std::vector<UpJob> up_jobs;
  for (auto& p : sql_files(cfg.migrations_dir)) {
    auto fname = p.filename().string();
    auto fn = parse_name(fname);
    if (!fn) {
      errs.push_back(Error::usage(fmt::format("malformed migration name '{}'", fname))
                         .with_file(p.string())
                         .with_next("name it <version>_<name>.sql (version = digits), e.g. 20250101120000_add_users.sql"));
      continue;
    }
    if (fn->down) { downs.push_back({p, fn->version}); continue; }
    auto key = strip_zeros(fn->version);
    if (auto it = up_files.find(key); it != up_files.end()) {
      errs.push_back(Error::usage(fmt::format("duplicate version {}: also used by {}", fn->version, it->second))
                         .with_file(p.string())
                         .with_next("give one of them a new version number"));
      continue;
    }
    up_files[key] = p.string();
    up_jobs.push_back({p, *fn, key});
  }
  // Reading, scanning and parsing is most of the work: spread it over the cores.
  std::vector<std::optional<Migration>> loaded(up_jobs.size());
  std::vector<std::vector<Error>> up_errs(up_jobs.size());
  parallel_for(up_jobs.size(), [&](size_t i) {
    loaded[i] = load_up(up_jobs[i].file, up_jobs[i].name, up_errs[i], opt);
  });
  for (size_t i = 0; i < up_jobs.size(); ++i) {
    for (auto& e : up_errs[i]) errs.push_back(std::move(e));
    if (loaded[i]) ups[up_jobs[i].key] = std::move(*loaded[i]);
  }

  // Rollback companions kept apart (seed 002: supabase/migrations.backup/*rollback*.sql):
  // any .sql file whose leading digits name a migration's version.
  if (!cfg.rollback_dir.empty() && stdfs::is_directory(cfg.rollback_dir)) {
    static const std::regex lead(R"(^([0-9]+)[_\.\-].*\.sql$)");
    for (auto& p : sql_files(cfg.rollback_dir)) {
      std::smatch mm;
      auto fname = p.filename().string();
      if (!std::regex_match(fname, mm, lead)) {
        errs.push_back(Error::usage(fmt::format("rollback file '{}' does not start with a migration version", fname))
                           .with_file(p.string())
                           .with_next("name it <version>_<name>.down.sql after the migration it undoes"));
        continue;
      }
      downs.push_back({p, mm[1]});
    }
  }
  std::map<std::string, std::string> down_files;
  std::vector<std::pair<const Down*, Migration*>> down_jobs;
  for (auto& d : downs) {
    auto key = strip_zeros(d.version);
    auto it = ups.find(key);
    if (it == ups.end()) {
      errs.push_back(Error::usage(fmt::format("rollback for version {} has no migration", d.version))
                         .with_file(d.file.string())
                         .with_next("restore the up migration or delete this rollback"));
      continue;
    }
    if (it->second.down || down_files.count(key)) {
      auto other = down_files.count(key) ? down_files[key] : it->second.up.file.string() + " (-- migrate:down)";
      errs.push_back(Error::usage(fmt::format("second rollback for version {}: also {}", d.version, other))
                         .with_file(d.file.string()));
      continue;
    }
    down_files[key] = d.file.string();
    down_jobs.emplace_back(&d, &it->second);
  }
  std::vector<std::optional<Script>> down_scripts(down_jobs.size());
  std::vector<std::vector<Error>> down_errs(down_jobs.size());
  parallel_for(down_jobs.size(), [&](size_t i) {
    down_scripts[i] = load_down(down_jobs[i].first->file, down_errs[i], opt);
  });
  for (size_t i = 0; i < down_jobs.size(); ++i) {
    for (auto& e : down_errs[i]) errs.push_back(std::move(e));
    if (down_scripts[i]) down_jobs[i].second->down = std::move(*down_scripts[i]);
  }

  // Reported in file order, whichever phase found them.
  if (!errs.empty()) return combine(std::move(errs));
  for (auto& [_, m] : ups) set.migrations.push_back(std::move(m));
  std::sort(set.migrations.begin(), set.migrations.end(),
            [](const Migration& a, const Migration& b) { return compare_versions(a.version, b.version) < 0; });
  return set;
}

}  // namespace belay::migrate
