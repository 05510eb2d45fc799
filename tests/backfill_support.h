// Shared by the backfill tests: a database with examples/backfill's schema, its job
// file, and helpers to add documents and read results.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "backfill/backfill.h"
#include "support.h"

namespace belay::test {

inline std::filesystem::path repo_root() { return std::filesystem::path(__FILE__).parent_path().parent_path(); }

inline std::string slurp_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The seven normalized tables, in write order.
inline const std::vector<std::string>& example_tables() {
  static const std::vector<std::string> t = {"orgs", "personas", "contents", "accounts", "leads", "\"references\"",
                                             "inbox_items"};
  return t;
}

class BackfillDb {
 public:
  explicit BackfillDb(const std::string& tag, const std::string& job_text = "") : project_(tag) {
    auto c = db_.connect();
    for (auto* m : {"20251225000000_user_app_state.sql", "20251225010000_normalized_schema.sql"}) {
      auto st = c.exec(slurp_file(repo_root() / "examples/backfill/migrations" / m));
      EXPECT_TRUE(st.ok()) << st.error().render();
    }
    project_.write("belay.toml", "[project]\nname = \"bf\"\n");
    set_job(job_text.empty() ? example_job() : job_text);
  }
  static std::string example_job() { return slurp_file(repo_root() / "examples/backfill/jobs/user_app_state.toml"); }

  void set_job(const std::string& text) {
    project_.write("jobs/job.toml", text);
    auto j = backfill::load_job(job_path());
    EXPECT_TRUE(j.ok()) << j.error().render();
    if (j.ok()) job_ = *j;
  }
  std::filesystem::path job_path() const { return project_.dir() / "jobs/job.toml"; }
  const backfill::Job& job() const { return job_; }
  const TestDb& db() const { return db_; }
  const TempProject& project() const { return project_; }
  std::string url() const { return db_.url(); }
  pg::Conn conn() const { return db_.connect(); }
  std::string scalar(const std::string& sql) const { return db_.scalar(sql); }
  void exec(const std::string& sql) const {
    auto c = db_.connect();
    auto st = c.exec(sql);
    EXPECT_TRUE(st.ok()) << sql << ": " << st.error().render();
  }
  // bench/backfill_gen.sql with :users users.
  void generate(int users) const {
    auto sql = slurp_file(repo_root() / "bench/backfill_gen.sql");
    for (size_t p; (p = sql.find(":users")) != std::string::npos;) sql.replace(p, 6, std::to_string(users));
    exec(sql);
  }
  void doc(const std::string& user, const std::string& json, const std::string& at = "2025-12-01") const {
    auto c = db_.connect();
    auto r = c.query("insert into user_app_state (user_id, updated_at, state) values ($1, $2::timestamptz, $3::jsonb)",
                     {user, at, json});
    EXPECT_TRUE(r.ok()) << json.substr(0, 200) << ": " << r.error().render();
  }
  backfill::RunReport run(backfill::RunOptions o = {}) const {
    auto c = db_.connect("belay-test backfill");
    return backfill::run(c, job_, o);
  }
  long long count(const std::string& table) const { return std::stoll(scalar("select count(*) from " + table)); }
  // Every row of every target table (created_at aside), in a stable order.
  std::string snapshot() const {
    std::string out;
    for (auto& t : example_tables())
      out += scalar(fmt::format("select coalesce(md5(string_agg(x::text, '|' order by x::text)), 'empty') from "
                                "(select (to_jsonb(t) - 'created_at')::text as x from {} t) s",
                                t)) + ";";
    return out;
  }

 private:
  TestDb db_;
  TempProject project_;
  backfill::Job job_;
};

}  // namespace belay::test
