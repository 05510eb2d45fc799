// belay rls test: runs a contract's probes the way PostgREST runs requests.
//
// Everything happens in one transaction that is rolled back at the end:
//   1. the fixtures, each [[fixtures]] entry after a savepoint (belay_f<N>), then a savepoint
//      belay_probe;
//   2. as the connecting role (row_security off: it sees every row or gets an error, never a
//      silently filtered answer): each table's rows before any probe (key, ctid, values), and
//      the rows each "where <predicate>" expectation names, with the persona's claims set;
//   3. the probes. Each starts with ROLLBACK TO SAVEPOINT belay_probe, so it sees the fixtures
//      and nothing an earlier probe did, then acts as the persona exactly as PostgREST does
//      (set_config('role', ..., true), set_config('request.jwt.claims', ..., true), ...) and
//      runs one statement; update and delete then switch back and read which rows changed
//      (their ctid moved, or they are gone);
//   4. for "where" updates, attempts to move a permitted row out of the predicate (one column
//      at a time, to a value another row has): accepted means a missing or loose WITH CHECK;
//   5. inserts last: ROLLBACK TO SAVEPOINT belay_f<N> (before the table's fixtures) and each
//      fixture row inserted as the persona.
// Each phase is one pipeline (pg::Conn::pipeline_steps), a probe one segment of it.
#include <chrono>
#include <functional>
#include <map>
#include <set>

#include <fmt/format.h>

#include "rls/probe.h"

namespace belay::rls {

namespace {

using detail::Table;
using Step = pg::Conn::Step;
using StepResult = pg::Conn::StepResult;
using Keys = std::vector<std::string>;

const char* method_of(Command c) {
  switch (c) {
    case Command::select: return "GET";
    case Command::insert: return "POST";
    case Command::update: return "PATCH";
    case Command::delete_: return "DELETE";
  }
  return "GET";
}

const char* verb_of(Command c) {
  switch (c) {
    case Command::select: return "sees";
    case Command::insert: return "inserts";
    case Command::update: return "updates";
    case Command::delete_: return "deletes";
  }
  return "";
}

const char* infinitive(Command c) {
  switch (c) {
    case Command::select: return "see";
    case Command::insert: return "insert";
    case Command::update: return "update";
    case Command::delete_: return "delete";
  }
  return "";
}

std::string error_text(const pg::ServerError& e) { return e.sqlstate + ": " + e.message; }

// One expectation to probe, and what the probes found.
struct Item {
  size_t table = 0;
  Command cmd = Command::select;
  const Persona* persona = nullptr;
  const Expectation* expect = nullptr;
  Keys expected;                       // rows of the universe the predicate names (only)
  // Step indices in the current pipeline.
  size_t act = 0, after = 0;
  std::optional<pg::ServerError> error;
  Keys touched;                        // rows seen / updated / deleted / inserted
  std::vector<std::string> escapes;    // update: changes that left the predicate and got through
  std::string note;
  bool per_row = false;                // delete: retried row by row (a foreign key refused the set)
};

struct Escape {
  size_t item;
  std::string column;
  std::optional<std::string> value;
  std::string target;
  size_t check = 0, probe = 0;
};

class Runner {
 public:
  Runner(pg::Conn& conn, const Contract& c, const TestOptions& opt, std::vector<Table>& tables)
      : conn_(conn), c_(c), opt_(opt), tables_(tables) {}

  Result<TestReport> run();

 private:
  size_t add(std::string sql, bool sync = false) {
    steps_.push_back({std::move(sql), sync});
    return steps_.size() - 1;
  }
  void probe_start() { add("rollback to savepoint belay_probe"); }
  std::vector<StepResult> flush() {
    if (opt_.keep_script)
      for (auto& s : steps_) script_ += s.sql + ";\n";
    statements_ += static_cast<int>(steps_.size());
    auto r = conn_.pipeline_steps(steps_);
    steps_.clear();
    return r;
  }
  // What PostgREST sets before running a request's statement.
  std::string act_as(const Persona& p, const Table& t, Command cmd) {
    ++probes_;
    std::string path;
    for (auto& s : opt_.search_path) path += (path.empty() ? "" : ", ") + pg::quote_ident(s);
    return fmt::format(
        "select set_config('role', {}, true), set_config('request.jwt.claims', {}, true), "
        "set_config('request.method', '{}', true), set_config('request.path', {}, true), "
        "set_config('search_path', {}, true), set_config('row_security', 'on', true)",
        pg::quote_literal(p.role), pg::quote_literal(p.claims.dump()), method_of(cmd), pg::quote_literal("/" + t.name),
        pg::quote_literal(path));
  }
  static std::string as_owner() { return "select set_config('role', 'none', true), set_config('row_security', 'off', true)"; }
  std::string claims(const Persona& p) {
    return fmt::format("select set_config('request.jwt.claims', {}, true)", pg::quote_literal(p.claims.dump()));
  }
  Error contract_error(std::string msg, int line, int col = 0) {
    conn_.exec("rollback").ok();
    return Error::usage(std::move(msg)).with_file(c_.file, line, col);
  }
  static Keys column0(const StepResult& r) {
    Keys k;
    for (int i = 0; i < r.rows.size(); ++i) k.push_back(r.rows.get(i, 0));
    return k;
  }

  Status fixtures();
  Status baseline();
  void probes();
  void escapes_and_inserts();
  ProbeResult judge(const Item& it) const;

  pg::Conn& conn_;
  const Contract& c_;
  const TestOptions& opt_;
  std::vector<Table>& tables_;
  std::vector<Step> steps_;
  std::vector<Item> items_;
  std::vector<Escape> escapes_;
  std::map<std::pair<size_t, std::string>, std::string> update_column_;  // (table, role) -> column
  std::string script_;
  int statements_ = 0, probes_ = 0;
};

size_t table_index(const std::vector<Table>& ts, const std::string& name) {
  for (size_t i = 0; i < ts.size(); ++i)
    if (ts[i].name == name) return i;
  return 0;  // describe() covered every name
}

Status Runner::fixtures() {
  add("begin");
  // The connecting role sees every row or fails; policies never filter what it reads.
  add("select set_config('row_security', 'off', true)");
  std::vector<std::tuple<size_t, size_t, size_t>> inserted;  // (step, group, row)
  for (size_t g = 0; g < c_.fixtures.size(); ++g) {
    auto& fx = c_.fixtures[g];
    auto& t = tables_[table_index(tables_, fx.table)];
    add(fmt::format("savepoint belay_f{}", g));
    for (size_t r = 0; r < fx.rows.size(); ++r) {
      std::string cols, vals;
      for (auto& [k, v] : fx.rows[r].items()) {
        auto* col = t.column(k);
        cols += (cols.empty() ? "" : ", ") + col->q;
        vals += (vals.empty() ? "" : ", ") + detail::fixture_literal(v, *col);
      }
      inserted.emplace_back(add(fmt::format("insert into {} as x ({}) values ({}) returning {}", t.q, cols, vals,
                                            t.key_text("x"))),
                            g, r);
    }
  }
  add("savepoint belay_probe", true);
  auto res = flush();
  for (size_t i = 0; i < res.size(); ++i) {
    if (res[i].state != StepResult::failed) continue;
    for (auto& [step, g, r] : inserted)
      if (step == i)
        return contract_error(fmt::format("fixture row for {} does not insert: {}", c_.fixtures[g].table,
                                          error_text(*res[i].error)),
                              c_.fixtures[g].lines[r]);
    conn_.exec("rollback").ok();
    return pg::to_error(*res[i].error);
  }
  for (auto& [step, g, r] : inserted)
    tables_[table_index(tables_, c_.fixtures[g].table)].fixture_keys.push_back(res[step].rows.get(0, 0));
  return ok_status();
}

Status Runner::baseline() {
  // Every persona's role can be taken on by the connecting role.
  std::vector<size_t> role_steps;
  for (auto& p : c_.personas) {
    probe_start();
    role_steps.push_back(add(fmt::format("select set_config('role', {}, true)", pg::quote_literal(p.role)), true));
  }
  // Tables only filled by fixtures (auth.users, parents) are not read.
  std::vector<bool> probed(tables_.size(), false);
  for (auto& it : items_) probed[it.table] = true;
  std::vector<size_t> base(tables_.size());
  for (size_t i = 0; i < tables_.size(); ++i) {
    if (!probed[i]) continue;
    auto& t = tables_[i];
    std::string cols;
    for (auto& col : t.cols) cols += ", x." + col.q + "::text";
    probe_start();
    base[i] = add(fmt::format("select {}, {}{} from {} x{}", t.key_text("x"), t.is_view() ? "''" : "x.ctid::text", cols,
                              t.q, t.fixture_keys.empty() ? "" : " where " + t.key_in("x", t.fixture_keys)),
                  true);
  }
  // The rows each predicate names, per persona (claims set; the owner's role).
  std::map<std::tuple<size_t, std::string, std::string>, size_t> pred;
  for (auto& it : items_) {
    if (it.expect->kind != Expectation::only) continue;
    auto key = std::make_tuple(it.table, it.persona->name, it.expect->predicate);
    if (pred.count(key)) continue;
    auto& t = tables_[it.table];
    probe_start();
    add(claims(*it.persona));
    pred[key] = add(fmt::format("select {} from {} where ({})", t.key_text(t.q), t.q, it.expect->predicate), true);
  }
  // The columns each persona's role may update.
  std::map<std::pair<size_t, std::string>, size_t> upd;
  for (auto& it : items_) {
    if (it.cmd != Command::update || upd.count({it.table, it.persona->role})) continue;
    upd[{it.table, it.persona->role}] =
        add(fmt::format("select a.attname from pg_attribute a where a.attrelid = {}::regclass and a.attnum > 0 "
                        "and not a.attisdropped and has_column_privilege({}, a.attrelid, a.attnum, 'UPDATE') order by a.attnum",
                        pg::quote_literal(tables_[it.table].q), pg::quote_literal(it.persona->role)),
            true);
  }
  auto res = flush();
  for (size_t i = 0; i < c_.personas.size(); ++i)
    if (res[role_steps[i]].state != StepResult::ok) {
      auto& p = c_.personas[i];
      auto msg = res[role_steps[i]].error ? res[role_steps[i]].error->message : "skipped";
      return contract_error(fmt::format("persona '{}': the connecting role cannot act as role '{}': {}", p.name, p.role, msg),
                            p.line);
    }
  for (size_t i = 0; i < tables_.size(); ++i) {
    if (!probed[i]) continue;
    auto& r = res[base[i]];
    if (r.state != StepResult::ok) {
      conn_.exec("rollback").ok();
      Error e = r.error ? pg::to_error(*r.error) : Error::failure("reading the table was skipped");
      e.message = fmt::format("reading {} as the connecting role failed: {}", tables_[i].q, e.message);
      return e;
    }
    auto& t = tables_[i];
    for (int row = 0; row < r.rows.size(); ++row) {
      t.universe.push_back(r.rows.get(row, 0));
      t.ctids.push_back(r.rows.get(row, 1));
      std::vector<std::optional<std::string>> vals;
      for (size_t k = 0; k < t.cols.size(); ++k) vals.push_back(r.rows.opt(row, static_cast<int>(k) + 2));
      t.values.push_back(std::move(vals));
    }
  }
  for (auto& it : items_) {
    auto& t = tables_[it.table];
    if (it.cmd == Command::update) {
      auto& r = res[upd[{it.table, it.persona->role}]];
      std::string pick;
      for (int i = 0; r.state == StepResult::ok && i < r.rows.size() && pick.empty(); ++i) {
        auto* col = t.column(r.rows.get(i, 0));
        if (col && !col->key && !col->generated && !col->identity_always) pick = col->q;
      }
      // No column it may update: the statement shows how PostgreSQL refuses it.
      for (auto& col : t.cols)
        if (pick.empty() && !col.generated && !col.identity_always && !col.key) pick = col.q;
      if (pick.empty() && !t.key.empty()) pick = t.cols[t.key[0]].q;
      update_column_[{it.table, it.persona->role}] = pick;
    }
    if (it.expect->kind != Expectation::only) continue;
    auto& r = res[pred[std::make_tuple(it.table, it.persona->name, it.expect->predicate)]];
    if (r.state != StepResult::ok)
      return contract_error(fmt::format("the predicate for {} {} as {} does not run: {}", to_string(it.cmd), t.name,
                                        it.persona->name, r.error ? error_text(*r.error) : "skipped"),
                            it.expect->line, it.expect->column);
    std::set<std::string> in(t.universe.begin(), t.universe.end());
    for (auto& k : column0(r))
      if (in.count(k)) it.expected.push_back(k);
  }
  return ok_status();
}

void Runner::probes() {
  for (auto& it : items_) {
    auto& t = tables_[it.table];
    if (t.universe.empty() || it.cmd == Command::insert) continue;
    const Persona& p = *it.persona;
    probe_start();
    if (it.cmd == Command::select) {
      add(act_as(p, t, it.cmd));
      it.act = add(fmt::format("select {} from {} x{}", t.key_text("x"), t.q,
                               t.fixture_keys.empty() ? "" : " where " + t.key_in("x", t.universe)),
                   true);
      continue;
    }
    std::string stmt;
    if (it.cmd == Command::update) {
      // Each row set to the value it has: the change PostgREST's PATCH would make, minus the
      // change itself; WITH CHECK still judges the row.
      const auto& col = update_column_[{it.table, p.role}];
      size_t ci = 0;
      while (ci < t.cols.size() && t.cols[ci].q != col) ++ci;
      std::string vals;
      for (size_t r = 0; r < t.universe.size(); ++r)
        vals += fmt::format("{}({}, {})", r ? ", " : "", pg::quote_literal(t.universe[r]),
                            t.values[r][ci] ? pg::quote_literal(*t.values[r][ci]) : "null");
      stmt = fmt::format("update {} x set {} = v.value::{} from (values {}) v (key, value) where {} = v.key", t.q, col,
                         t.cols[ci].type, vals, t.key_text("x"));
    } else {
      stmt = fmt::format("delete from {} x where {}", t.q, t.key_in("x", t.universe));
    }
    add(act_as(p, t, it.cmd));
    it.act = add(stmt);
    add(as_owner());
    it.after = add(fmt::format("select {} from {} x where x.ctid = any ({}::tid[])", t.key_text("x"), t.q,
                               detail::text_array(t.ctids)),
                   true);
  }
  // Update escapes, checked first as the owner: the change must take the row out of the
  // persona's predicate to be worth trying as the persona.
  for (size_t i = 0; i < items_.size(); ++i) {
    auto& it = items_[i];
    auto& t = tables_[it.table];
    if (it.cmd != Command::update || it.expect->kind != Expectation::only || it.expected.empty()) continue;
    std::set<std::string> in(it.expected.begin(), it.expected.end());
    size_t target = 0;
    while (target < t.universe.size() && !in.count(t.universe[target])) ++target;
    bool any_donor = false;
    for (size_t ci = 0; ci < t.cols.size(); ++ci) {
      auto& col = t.cols[ci];
      if (col.key || col.generated || col.identity_always) continue;
      for (size_t d = 0; d < t.universe.size(); ++d) {
        if (in.count(t.universe[d])) continue;
        any_donor = true;
        if (t.values[d][ci] == t.values[target][ci]) continue;
        Escape e{i, col.name, t.values[d][ci], t.universe[target]};
        probe_start();
        add(claims(*it.persona));
        e.check = add(fmt::format("update {} set {} = {} where {} = {} returning ({})", t.q, col.q,
                                  detail::literal(t.values[d][ci], col.type), t.key_text(t.q),
                                  pg::quote_literal(t.universe[target]), it.expect->predicate),
                      true);
        escapes_.push_back(std::move(e));
        break;
      }
    }
    if (!any_donor) it.note = "no row outside the predicate: a change leaving it cannot be tried";
  }
  auto res = flush();
  for (auto& it : items_) {
    if (tables_[it.table].universe.empty() || it.cmd == Command::insert) continue;
    auto& r = res[it.act];
    if (r.state == StepResult::failed) {
      it.error = r.error;
      continue;
    }
    if (it.cmd == Command::select) {
      it.touched = column0(r);
      continue;
    }
    std::set<std::string> stayed;
    for (auto& k : column0(res[it.after])) stayed.insert(k);
    for (auto& k : tables_[it.table].universe)
      if (!stayed.count(k)) it.touched.push_back(k);
  }
  // Keep the escapes whose change leaves the predicate (false or null afterwards).
  std::vector<Escape> keep;
  for (auto& e : escapes_) {
    auto& r = res[e.check];
    if (r.state == StepResult::ok && r.rows.size() == 1 && r.rows.get(0, 0) != "t") keep.push_back(e);
  }
  escapes_ = std::move(keep);
}

void Runner::escapes_and_inserts() {
  for (auto& e : escapes_) {
    auto& it = items_[e.item];
    auto& t = tables_[it.table];
    auto* col = t.column(e.column);
    probe_start();
    add(act_as(*it.persona, t, Command::update));
    e.probe = add(fmt::format("update {} x set {} = {} where {} = {}", t.q, col->q, detail::literal(e.value, col->type),
                              t.key_text("x"), pg::quote_literal(e.target)),
                  true);
  }
  // Deletes a foreign key refused as a whole: row by row.
  std::map<size_t, std::vector<size_t>> row_deletes;
  for (size_t i = 0; i < items_.size(); ++i) {
    auto& it = items_[i];
    if (it.cmd != Command::delete_ || !it.error || it.error->sqlstate == "42501") continue;
    it.per_row = true;
    it.error.reset();
    auto& t = tables_[it.table];
    for (auto& k : t.universe) {
      probe_start();
      add(act_as(*it.persona, t, it.cmd));
      row_deletes[i].push_back(add(fmt::format("delete from {} x where {} = {}", t.q, t.key_text("x"), pg::quote_literal(k)), true));
    }
  }
  // Inserts, from the state before each table's fixtures, latest fixtures first.
  std::map<int, std::vector<size_t>, std::greater<>> by_group;
  for (size_t i = 0; i < items_.size(); ++i)
    if (items_[i].cmd == Command::insert && tables_[items_[i].table].first_group >= 0)
      by_group[tables_[items_[i].table].first_group].push_back(i);
  std::map<size_t, std::vector<size_t>> inserts;
  for (auto& [g, list] : by_group) {
    add(fmt::format("rollback to savepoint belay_f{}", g));
    add("savepoint belay_probe", true);
    for (auto i : list) {
      auto& it = items_[i];
      auto& t = tables_[it.table];
      for (auto* row : t.fixture_rows) {
        std::string cols, vals;
        for (auto& [k, v] : row->items()) {
          auto* col = t.column(k);
          cols += (cols.empty() ? "" : ", ") + col->q;
          vals += (vals.empty() ? "" : ", ") + detail::fixture_literal(v, *col);
        }
        probe_start();
        add(act_as(*it.persona, t, it.cmd));
        inserts[i].push_back(add(fmt::format("insert into {} ({}) values ({})", t.q, cols, vals), true));
      }
    }
  }
  add("rollback", true);
  auto res = flush();
  for (auto& e : escapes_) {
    auto& r = res[e.probe];
    if (r.state == StepResult::ok && r.rows.affected() > 0) {
      auto& t = tables_[items_[e.item].table];
      items_[e.item].escapes.push_back(fmt::format("set {} of {} to {} (outside the predicate) and it was accepted", e.column,
                                                   t.show(e.target), e.value ? pg::quote_literal(*e.value) : "NULL"));
    }
  }
  for (auto& [i, list] : row_deletes) {
    auto& it = items_[i];
    auto& t = tables_[it.table];
    for (size_t k = 0; k < list.size(); ++k) {
      auto& r = res[list[k]];
      if (r.state == StepResult::ok && r.rows.affected() > 0) it.touched.push_back(t.universe[k]);
      // A foreign key checks after the row is gone: row level security let it be deleted.
      else if (r.state == StepResult::failed && r.error->sqlstate == "23503") it.touched.push_back(t.universe[k]);
      else if (r.state == StepResult::failed && r.error->sqlstate != "42501" && !it.error) it.error = r.error;
    }
  }
  for (auto& [i, list] : inserts) {
    auto& it = items_[i];
    auto& t = tables_[it.table];
    int refused = 0;
    for (size_t k = 0; k < list.size(); ++k) {
      auto& r = res[list[k]];
      if (r.state == StepResult::ok) it.touched.push_back(t.fixture_keys[k]);
      else if (r.state == StepResult::failed && r.error->sqlstate == "42501") ++refused;
      else if (!it.error && r.error) it.error = r.error;
    }
    // Every insert refused for want of privilege: report it as PostgreSQL did.
    if (!it.error && refused == static_cast<int>(list.size()) && refused > 0) {
      auto& r = res[list[0]];
      if (r.error) it.note = "refused: " + error_text(*r.error);
    }
  }
}

std::string show_rows(const Table& t, const Keys& keys) {
  std::string s;
  for (size_t i = 0; i < keys.size() && i < 5; ++i) s += (i ? ", " : "") + t.show(keys[i]);
  if (keys.size() > 5) s += fmt::format(" (and {} more)", keys.size() - 5);
  return s;
}

Keys minus(const Keys& a, const Keys& b) {
  std::set<std::string> bs(b.begin(), b.end());
  Keys out;
  for (auto& k : a)
    if (!bs.count(k)) out.push_back(k);
  return out;
}

ProbeResult Runner::judge(const Item& it) const {
  const Table& t = tables_[it.table];
  ProbeResult r;
  r.table = t.name;
  r.persona = it.persona->name;
  r.command = it.cmd;
  r.expected = *it.expect;
  r.note = it.note;
  const char* verb = verb_of(it.cmd);
  // The rows this command is tried on: inserts try the fixture rows, others the universe.
  const Keys& all = it.cmd == Command::insert ? t.fixture_keys : t.universe;
  if (all.empty()) {
    r.actual = "cannot tell";
    r.detail = it.cmd == Command::insert ? fmt::format("no fixture rows for {} to insert: add [[fixtures]] for it", t.name)
                                         : fmt::format("{} has no rows: add [[fixtures]] for it", t.name);
    return r;
  }
  Keys expected = it.expect->kind == Expectation::allowed ? all
                  : it.expect->kind == Expectation::denied ? Keys{}
                                                            : it.expected;
  if (it.expect->kind == Expectation::only && it.cmd == Command::insert) {
    // The fixture rows the predicate holds for (evaluated on them in place).
    std::set<std::string> in(it.expected.begin(), it.expected.end());
    expected.clear();
    for (auto& k : t.fixture_keys)
      if (in.count(k)) expected.push_back(k);
  }
  if (it.error) {
    bool denial = it.error->sqlstate == "42501";
    r.actual = denial ? "denied (" + error_text(*it.error) + ")" : "error " + error_text(*it.error);
    r.ok = denial && expected.empty();
    if (!r.ok)
      r.detail = denial ? fmt::format("PostgreSQL refused it; it should {} {}", infinitive(it.cmd), show_rows(t, expected))
                        : fmt::format("the statement failed: {}", error_text(*it.error));
    return r;
  }
  size_t n = all.size(), k = it.touched.size();
  std::string noun = it.cmd == Command::insert ? "fixture rows" : "rows";
  if (k == 0) r.actual = fmt::format("denied ({} 0 of {} {})", verb, n, noun);
  else if (k == n) r.actual = fmt::format("allowed ({} all {} {})", verb, n, noun);
  else r.actual = fmt::format("{} {} of {} {}: {}", verb, k, n, noun, show_rows(t, it.touched));
  if (!it.note.empty() && k == 0 && it.note.rfind("refused: ", 0) == 0) r.actual = "denied (" + it.note.substr(9) + ")";
  if (it.note.rfind("refused: ", 0) == 0) r.note.clear();
  auto extra = minus(it.touched, expected), missing = minus(expected, it.touched);
  r.ok = extra.empty() && missing.empty() && it.escapes.empty();
  if (!extra.empty()) r.detail = fmt::format("{} rows it must not: {}", verb, show_rows(t, extra));
  if (!missing.empty())
    r.detail += fmt::format("{}cannot {} rows it should: {}", r.detail.empty() ? "" : "; ", infinitive(it.cmd),
                            show_rows(t, missing));
  for (auto& e : it.escapes)
    r.detail += (r.detail.empty() ? "" : "; ") + e + " — a missing or too loose WITH CHECK";
  if (r.ok && it.expect->kind == Expectation::only && r.note.empty()) {
    if (expected.size() == n) r.note = "every row satisfies the predicate: add one the persona must not reach";
    else if (expected.empty()) r.note = "no row satisfies the predicate: add one the persona may reach";
  }
  if (it.per_row && r.note.empty())
    r.note = "tried row by row: a foreign key refused deleting them all at once (a row it refused counts as deletable: "
             "row level security allowed it)";
  return r;
}

Result<TestReport> Runner::run() {
  auto t0 = std::chrono::steady_clock::now();
  std::map<std::string, const Persona*> personas;
  for (auto& p : c_.personas) personas[p.name] = &p;
  for (auto& tc : c_.tables) {
    size_t ti = table_index(tables_, tc.table);
    for (auto& [cmd, per] : tc.expect)
      for (auto& [name, ex] : per) {
        if (tables_[ti].is_view() && cmd != Command::select)
          return Error::usage(fmt::format("{} is a view: only select is probed on views", tc.table))
              .with_file(c_.file, ex.line, ex.column);
        Item it;
        it.table = ti;
        it.cmd = cmd;
        it.persona = personas.at(name);
        it.expect = &ex;
        items_.push_back(std::move(it));
      }
  }
  BELAY_TRY(fixtures());
  BELAY_TRY(baseline());
  probes();
  escapes_and_inserts();
  TestReport rep;
  for (auto& it : items_) rep.results.push_back(judge(it));
  // Mismatches first; otherwise the contract's order (tables, then personas, then commands).
  std::map<std::string, int> persona_order;
  for (size_t i = 0; i < c_.personas.size(); ++i) persona_order[c_.personas[i].name] = static_cast<int>(i);
  std::stable_sort(rep.results.begin(), rep.results.end(), [&](const ProbeResult& a, const ProbeResult& b) {
    if (a.ok != b.ok) return !a.ok;
    auto ta = table_index(tables_, a.table), tb = table_index(tables_, b.table);
    if (ta != tb) return ta < tb;
    if (a.persona != b.persona) return persona_order[a.persona] < persona_order[b.persona];
    return a.command < b.command;
  });
  for (auto& r : rep.results) rep.mismatches += r.ok ? 0 : 1;
  rep.probes = probes_;
  rep.statements = statements_;
  rep.script = std::move(script_);
  rep.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return rep;
}

}  // namespace

Result<TestReport> run_contract(pg::Conn& conn, const Contract& c, const TestOptions& opt) {
  BELAY_ASSIGN(auto tables, detail::describe(conn, c));
  Runner r(conn, c, opt, tables);
  return r.run();
}

}  // namespace belay::rls
