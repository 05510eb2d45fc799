// The lint engine: walks the inputs in run order, works out which statements share a
// transaction (as belay's runner does), runs every rule against the model before each
// statement, then applies suppressions and belay.toml's [lint] settings.
#include <fnmatch.h>

#include <algorithm>
#include <regex>

#include <fmt/format.h>

#include "lint/rule.h"
#include "util/fs.h"

namespace belay::lint {
namespace {

using namespace tree;

// Which transaction each statement runs in. A transactional script is one transaction;
// otherwise belay runs statement by statement: consecutive transactional statements
// share one, except in a file that writes its own BEGIN/COMMIT, which runs as written.
std::vector<TxInfo> transactions(const migrate::Script& s, int& next_id) {
  std::vector<TxInfo> out(s.statements.size());
  if (s.transactional) {
    int id = next_id++;
    for (auto& t : out) t = TxInfo{id, true, false, static_cast<int>(out.size())};
    return out;
  }
  bool own = std::any_of(s.statements.begin(), s.statements.end(),
                         [](const sql::Statement& st) { return st.transaction_control; });
  bool in_block = false;
  int block = -1;
  for (size_t i = 0; i < s.statements.size(); ++i) {
    const sql::Statement& st = s.statements[i];
    if (own) {
      std::string norm = sql::normalize(st.text);
      bool begins = st.transaction_control && (norm.rfind("begin", 0) == 0 || norm.rfind("start", 0) == 0);
      bool ends = st.transaction_control && (norm.rfind("commit", 0) == 0 || norm.rfind("end", 0) == 0 ||
                                             norm.rfind("rollback", 0) == 0 || norm.rfind("abort", 0) == 0) &&
                  norm.find("to savepoint") == std::string::npos && norm.find("rollback to") == std::string::npos;
      if (begins && !in_block) {
        in_block = true;
        block = next_id++;
      }
      out[i] = in_block ? TxInfo{block, true, true, 0} : TxInfo{next_id++, false, false, 1};
      if (ends) in_block = false;
    } else if (st.transactional) {
      int id = (i > 0 && s.statements[i - 1].transactional) ? out[i - 1].id : next_id++;
      out[i] = TxInfo{id, false, false, 0};
    } else {
      out[i] = TxInfo{next_id++, false, false, 1};
    }
  }
  for (auto& t : out)
    if (t.size == 0) t.size = static_cast<int>(std::count_if(out.begin(), out.end(), [&](const TxInfo& o) { return o.id == t.id; }));
  // A group of one transactional statement runs alone, in its own implicit transaction.
  for (auto& t : out)
    if (!t.explicit_block) t.in_block = false;
  return out;
}

struct Ignore {
  bool file = false;
  int line = 0, column = 0;
  std::vector<std::string> rules;
  int stmt = -1;                 // target statement (ignore), -1 for ignore-file
  std::vector<bool> used;
};

std::vector<Ignore> ignores_in(const std::string& text, const migrate::Script& s) {
  std::vector<Ignore> out;
  if (text.find("belay:ignore") == std::string::npos) return out;
  static const std::regex re(R"(--[ \t]*belay:[ \t]*(ignore-file|ignore)\b[ \t]*([^\r\n]*))");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator(); ++it) {
    Ignore ig;
    ig.file = (*it)[1].str() == "ignore-file";
    std::tie(ig.line, ig.column) = sql::line_col(text, static_cast<int>(it->position()));
    std::string list = (*it)[2].str();
    static const std::regex id(R"([A-Za-z0-9_\-]+)");
    for (auto r = std::sregex_iterator(list.begin(), list.end(), id); r != std::sregex_iterator(); ++r)
      ig.rules.push_back(r->str());
    ig.used.assign(ig.rules.size(), false);
    if (!ig.file) {
      // On the statement's line(s), or above the next statement.
      for (size_t i = 0; i < s.statements.size(); ++i) {
        const auto& st = s.statements[i];
        int end_line = st.line + static_cast<int>(std::count(st.text.begin(), st.text.end(), '\n'));
        if (st.line <= ig.line && ig.line <= end_line) ig.stmt = static_cast<int>(i);
        if (st.line > ig.line && ig.stmt < 0) {
          ig.stmt = static_cast<int>(i);
          break;
        }
      }
    }
    out.push_back(std::move(ig));
  }
  return out;
}

std::string line_of(const std::string& text, int line) {
  size_t pos = 0;
  for (int l = 1; l < line && pos != std::string::npos; ++l) {
    pos = text.find('\n', pos);
    if (pos != std::string::npos) ++pos;
  }
  if (pos == std::string::npos || pos > text.size()) return {};
  size_t end = text.find('\n', pos);
  std::string out = text.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
  if (!out.empty() && out.back() == '\r') out.pop_back();
  return out;
}

// File line:column of byte `offset` of statement `st`.
std::pair<int, int> position(const sql::Statement& st, int offset) {
  if (offset <= 0) return {st.line, st.column};
  size_t end = std::min(static_cast<size_t>(offset), st.text.size());
  int line = st.line;
  size_t last_nl = std::string::npos;
  for (size_t i = 0; i < end; ++i)
    if (st.text[i] == '\n') {
      ++line;
      last_nl = i;
    }
  if (last_nl == std::string::npos) return {line, st.column + static_cast<int>(end)};
  return {line, static_cast<int>(end - last_nl)};
}

struct Raw {
  std::string rule;
  int unit = -1, stmt = -1, line = 0, column = 0;
  std::string message, object, fix;
  std::optional<DataCheck> data;
};

bool excluded(const std::string& display, const Options& opt) {
  for (auto& pat : opt.exclude) {
    if (::fnmatch(pat.c_str(), display.c_str(), 0) == 0) return true;
    std::string dir = pat;
    while (!dir.empty() && dir.back() == '/') dir.pop_back();
    if (!dir.empty() && display.rfind(dir + "/", 0) == 0) return true;
  }
  return false;
}

}  // namespace

std::string blocking_lock_table(const std::string& kind, const json& n, const State& s) {
  std::string t;
  if (kind == "AlterTableStmt") {
    if (str(n, "objtype") != "OBJECT_TABLE" && !str(n, "objtype").empty()) return {};
    bool only_validate = cmds(n).is_array() && std::all_of(cmds(n).begin(), cmds(n).end(), [](const json& c) {
      return str(at(c, "AlterTableCmd"), "subtype") == "AT_ValidateConstraint";
    });
    if (only_validate) return {};  // SHARE UPDATE EXCLUSIVE: reads and writes go on
    t = alter_table_name(n);
  } else if (kind == "IndexStmt") {
    if (flag(n, "concurrent")) return {};
    t = relation(at(n, "relation"));
  } else if (kind == "RenameStmt" || kind == "CreateTrigStmt" || kind == "ClusterStmt") {
    if (at(n, "relation").is_object()) t = relation(at(n, "relation"));
  } else if (kind == "TruncateStmt" || kind == "LockStmt") {
    const json& rels = at(n, "relations");
    if (rels.is_array() && !rels.empty()) t = relation(at(rels[0], "RangeVar"));
  } else if (kind == "DropStmt" && str(n, "removeType") == "OBJECT_TABLE") {
    const json& objs = at(n, "objects");
    if (objs.is_array() && !objs.empty()) t = qualify(strings(at(at(objs[0], "List"), "items")));
  } else if (kind == "VacuumStmt" && option(at(n, "options"), "full") == "true") {
    const json& rels = at(n, "rels");
    if (rels.is_array() && !rels.empty()) t = relation(at(at(rels[0], "VacuumRelation"), "relation"));
  } else if (kind == "RefreshMatViewStmt" && !flag(n, "concurrent")) {
    t = relation(at(n, "relation"));
  }
  if (t.empty() || s.is_new(t)) return {};
  return t;
}

Report lint(const std::vector<Input>& inputs, const Options& opt) {
  Report rep;
  State state;
  std::vector<Raw> raw;
  int next_tx = 0;
  const auto& rules = all_rules();
  std::vector<std::vector<Ignore>> ignores(inputs.size());

  for (size_t u = 0; u < inputs.size(); ++u) {
    const Input& in = inputs[u];
    if (!in.script) continue;
    const migrate::Script& s = *in.script;
    ++rep.files;
    state.unit = static_cast<int>(u);
    auto lt = s.lock_timeout ? s.lock_timeout : opt.runner_lock_timeout;
    state.lock_timeout_ms = lt ? lt->count() : 0;
    state.tx = -1;
    for (const Error& e : s.syntax_errors)
      raw.push_back(Raw{"syntax-error", static_cast<int>(u), -1, e.line, e.column,
                        "syntax error: " + e.message, "", "fix the SQL: PostgreSQL will refuse this statement", std::nullopt});
    ignores[u] = ignores_in(in.text, s);
    auto txs = transactions(s, next_tx);
    for (size_t i = 0; i < s.statements.size(); ++i) {
      const sql::Statement& st = s.statements[i];
      ++rep.statements;
      const TxInfo& tx = txs[i];
      if (tx.id != state.tx) {
        state.tx = tx.id;
        state.strong_locks_in_tx.clear();
      }
      Where w{static_cast<int>(u), static_cast<int>(i), -1};
      if (st.tree && st.tree->is_object() && !st.tree->empty()) {
        const json& node = st.tree->begin().value();
        std::vector<Hit> hits;
        for (const Rule* r : rules) {
          if (!r->check) continue;
          hits.clear();
          StmtCtx ctx{st, st.kind, node, state, tx, opt, hits};
          r->check(ctx);
          for (Hit& h : hits) {
            auto [line, col] = position(st, h.offset);
            raw.push_back(Raw{r->info.id, w.unit, w.stmt, line, col, std::move(h.message), std::move(h.object),
                              std::move(h.fix), std::move(h.data)});
          }
        }
        std::string locked = blocking_lock_table(st.kind, node, state);
        apply(state, st, w, tx);
        if (!locked.empty()) state.strong_locks_in_tx.insert(locked);
      }
    }
  }

  // Whole-set rules see where every table ended up (RLS enabled anywhere, policies).
  for (auto& [name, t] : state.tables) t.rls_anywhere = t.rls;
  for (const Rule* r : rules) {
    if (!r->finish) continue;
    std::vector<EndHit> hits;
    r->finish(state, opt, hits);
    for (EndHit& h : hits) {
      if (h.at.unit < 0 || h.at.unit >= static_cast<int>(inputs.size()) || !inputs[h.at.unit].script) continue;
      const auto& stmts = inputs[h.at.unit].script->statements;
      if (h.at.stmt < 0 || h.at.stmt >= static_cast<int>(stmts.size())) continue;
      auto [line, col] = position(stmts[h.at.stmt], h.at.offset);
      raw.push_back(Raw{r->info.id, h.at.unit, h.at.stmt, line, col, std::move(h.message), std::move(h.object),
                        std::move(h.fix), std::nullopt});
    }
  }

  // Suppressions: a finding an ignore names is dropped and the ignore counts as used.
  std::vector<Raw> kept;
  for (Raw& f : raw) {
    bool suppressed = false;
    if (f.unit >= 0)
      for (Ignore& ig : ignores[f.unit]) {
        if (!ig.file && (ig.stmt < 0 || ig.stmt != f.stmt)) continue;
        for (size_t k = 0; k < ig.rules.size(); ++k)
          if (ig.rules[k] == f.rule || ig.rules[k] == "all") {
            ig.used[k] = true;
            suppressed = true;
          }
      }
    if (!suppressed) kept.push_back(std::move(f));
  }
  for (size_t u = 0; u < inputs.size(); ++u)
    for (const Ignore& ig : ignores[u])
      for (size_t k = 0; k < ig.rules.size(); ++k) {
        if (ig.used[k]) continue;
        const std::string& id = ig.rules[k];
        bool known = id == "all" || find_rule(id);
        std::string what = ig.file ? "belay:ignore-file" : "belay:ignore";
        std::string msg = !known ? fmt::format("{} names unknown rule '{}'", what, id)
                          : ig.stmt < 0 && !ig.file ? fmt::format("{} {} is not followed by a statement", what, id)
                          : opt.disabled.count(id) ? fmt::format("{} {}: the rule is disabled in belay.toml", what, id)
                                                   : fmt::format("{} {} suppresses nothing", what, id);
        kept.push_back(Raw{"unused-ignore", static_cast<int>(u), -1, ig.line, ig.column, msg, id,
                           known ? "remove it (the hazard it silenced is gone)" : "see `belay lint --rules`",
                           std::nullopt});
      }

  // belay.toml: disabled rules, severities, excluded files; then file order.
  std::stable_sort(kept.begin(), kept.end(), [](const Raw& a, const Raw& b) {
    return std::tie(a.unit, a.line, a.column) < std::tie(b.unit, b.line, b.column);
  });
  for (Raw& f : kept) {
    if (opt.disabled.count(f.rule)) continue;
    const Input& in = inputs[static_cast<size_t>(std::max(f.unit, 0))];
    if (!in.report || excluded(in.display, opt)) continue;
    const RuleInfo* info = find_rule(f.rule);
    Finding out;
    out.rule = f.rule;
    out.severity = info ? info->severity : Severity::error;
    if (auto it = opt.severity.find(f.rule); it != opt.severity.end()) out.severity = it->second;
    out.message = std::move(f.message);
    out.object = std::move(f.object);
    out.fix = std::move(f.fix);
    out.file = in.display;
    out.line = f.line;
    out.column = f.column;
    out.source_line = line_of(in.text, f.line);
    if (f.data) {
      f.data->finding = rep.findings.size();
      rep.data_checks.push_back(std::move(*f.data));
    }
    rep.findings.push_back(std::move(out));
  }
  return rep;
}

const std::vector<RuleInfo>& rules() {
  static const std::vector<RuleInfo> list = [] {
    std::vector<RuleInfo> v;
    for (const Rule* r : all_rules()) v.push_back(r->info);
    std::sort(v.begin(), v.end(), [](const RuleInfo& a, const RuleInfo& b) { return a.id < b.id; });
    return v;
  }();
  return list;
}

const RuleInfo* find_rule(std::string_view id) {
  for (const RuleInfo& r : rules())
    if (r.id == id) return &r;
  return nullptr;
}

std::string explain(const RuleInfo& r) {
  return fmt::format("{} ({}, {})\n\n{}\n\n{}\n\nSuppress one statement with `-- belay:ignore {}` on or above it,\n"
                     "a whole file with `-- belay:ignore-file {}`, or everywhere with\n"
                     "[lint] disable = [\"{}\"] in belay.toml.\n",
                     r.id, r.family, findings::to_string(r.severity), r.summary, r.explanation, r.id, r.id, r.id);
}

Report lint_texts(const std::vector<std::pair<std::string, std::string>>& files, const Options& opt) {
  migrate::LoadOptions lo;
  lo.lenient = true;
  lo.keep_trees = true;
  std::vector<migrate::Migration> loaded;
  loaded.reserve(files.size());
  std::vector<Raw> failures;
  std::vector<Input> inputs;
  for (auto& [name, text] : files) {
    auto m = migrate::load_text(text, name, lo);
    if (!m.ok()) {
      // Not a migration at all (empty, SQL before a dbmate marker): one finding.
      loaded.emplace_back();
      loaded.back().up.file = name;
      Error e = m.error();
      loaded.back().up.syntax_errors.push_back(e);
    } else {
      loaded.push_back(std::move(*m));
    }
  }
  for (size_t i = 0; i < files.size(); ++i)
    inputs.push_back(Input{&loaded[i].up, files[i].first, files[i].second, true});
  return lint(inputs, opt);
}

Result<Options> options_for(const project::Config& cfg) {
  Options o;
  o.root = cfg.root;
  o.exposed_schemas = cfg.exposed_schemas;
  if (cfg.lock_timeout.count() > 0) o.runner_lock_timeout = cfg.lock_timeout;
  const auto& l = cfg.lint;
  std::string file = (cfg.root / "belay.toml").string();
  auto check = [&](const std::string& id, const char* key) -> Status {
    if (find_rule(id)) return ok_status();
    return Error::usage(fmt::format("[lint] {}: unknown rule '{}'", key, id))
        .with_file(file)
        .with_next("`belay lint --rules` lists them");
  };
  for (auto& id : l.disable) {
    BELAY_TRY(check(id, "disable"));
    o.disabled.insert(id);
  }
  for (auto& [id, sev] : l.severity) {
    BELAY_TRY(check(id, "severity"));
    auto s = findings::parse_severity(sev);
    if (!s) return Error::usage(fmt::format("[lint.severity] {} must be \"info\", \"warning\" or \"error\", not \"{}\"", id, sev)).with_file(file);
    o.severity[id] = *s;
  }
  if (l.exposed_schemas) o.exposed_schemas = *l.exposed_schemas;
  o.exclude = l.exclude;
  if (l.pg_version) o.pg_version = l.pg_version;
  return o;
}

Result<Report> lint_project(const project::Config& cfg, const std::vector<std::filesystem::path>& paths,
                            const Options& opt) {
  namespace stdfs = std::filesystem;
  migrate::LoadOptions lo;
  lo.lenient = true;
  lo.keep_trees = true;
  auto display = [&](const stdfs::path& p) {
    auto rel = p.lexically_relative(cfg.root);
    return rel.empty() || rel.native().rfind("..", 0) == 0 ? p.string() : rel.string();
  };
  // Requested files, absolute; folders expand to their .sql files (sorted).
  std::vector<stdfs::path> wanted;
  for (auto& p : paths) {
    auto abs = stdfs::weakly_canonical(stdfs::absolute(p));
    std::error_code ec;
    if (stdfs::is_directory(abs, ec)) {
      std::vector<stdfs::path> in_dir;
      for (auto& e : stdfs::recursive_directory_iterator(abs, ec))
        if (e.is_regular_file() && e.path().extension() == ".sql") in_dir.push_back(e.path());
      std::sort(in_dir.begin(), in_dir.end());
      wanted.insert(wanted.end(), in_dir.begin(), in_dir.end());
    } else if (stdfs::exists(abs, ec)) {
      wanted.push_back(abs);
    } else {
      return Error::usage(fmt::format("{}: no such file or folder", p.string()));
    }
  }
  bool have_set = stdfs::is_directory(cfg.migrations_dir);
  migrate::MigrationSet set;
  if (have_set || paths.empty()) {
    BELAY_ASSIGN(set, migrate::load_set(cfg, lo));
  }
  std::vector<Input> inputs;
  std::vector<stdfs::path> in_set;
  for (auto& m : set.migrations) {
    auto f = stdfs::weakly_canonical(m.up.file);
    in_set.push_back(f);
    bool report = paths.empty() || std::find(wanted.begin(), wanted.end(), f) != wanted.end();
    inputs.push_back(Input{&m.up, display(f), "", report});
  }
  // Files that are not up migrations of the set (ad-hoc SQL, rollbacks) are linted alone.
  std::vector<migrate::Migration> extra;
  extra.reserve(wanted.size());
  std::vector<std::string> extra_errors;
  for (auto& f : wanted) {
    if (std::find(in_set.begin(), in_set.end(), f) != in_set.end()) continue;
    auto m = migrate::load_file(f, lo);
    if (!m.ok()) return std::move(m).error();
    extra.push_back(std::move(*m));
    inputs.push_back(Input{&extra.back().up, display(f), "", true});
  }
  // Texts for suppression comments and source lines (only files that may report).
  for (auto& in : inputs) {
    if (!in.report) continue;
    auto text = fs::read_file(in.script->file);
    if (text.ok()) in.text = std::move(*text);
  }
  return lint(inputs, opt);
}

}  // namespace belay::lint
