// Tests for loading a migration set from disk (src/migrate/set.cpp): file naming,
// ordering, dbmate and Supabase layouts, validation errors, directives and checksums.
// No database needed: every project is a temporary folder.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "migrate/migrate.h"
#include "project/project.h"
#include "support.h"

using belay::Error;
using belay::ExitCode;
using belay::Result;
using belay::migrate::compare_versions;
using belay::migrate::load_set;
using belay::migrate::Migration;
using belay::migrate::MigrationSet;
using belay::test::TempProject;
namespace project = belay::project;
namespace stdfs = std::filesystem;
using namespace std::chrono_literals;

namespace {

Result<MigrationSet> load(const TempProject& p) {
  auto cfg = project::load(p.dir());
  if (!cfg.ok()) return std::move(cfg).error();
  return load_set(*cfg);
}

MigrationSet must_load(const TempProject& p) {
  auto r = load(p);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().render());
  return r.ok() ? std::move(r).value() : MigrationSet{};
}

// Loading must fail with a usage error located in `file` (relative to the project).
Error must_fail(const TempProject& p, const std::string& file) {
  auto r = load(p);
  EXPECT_FALSE(r.ok()) << "loaded although " << file << " is bad";
  if (r.ok()) return Error{};
  Error e = r.error();
  EXPECT_EQ(e.code, ExitCode::usage) << e.render();
  EXPECT_EQ(stdfs::path(e.file), p.dir() / file) << e.render();
  return e;
}

std::string versions(const MigrationSet& s) {
  std::string out;
  for (auto& m : s.migrations) out += (out.empty() ? "" : " ") + m.version;
  return out;
}

bool contains(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

}  // namespace

// ---------------------------------------------------------------- plain layout

TEST(LoadSet, PlainUpDownPairs) {
  TempProject p("set-plain");
  p.write("migrations/1_create_users.sql", "CREATE TABLE users (id int);\nCREATE TABLE teams (id int);\n");
  p.write("migrations/1_create_users.down.sql", "DROP TABLE teams;\nDROP TABLE users;\n");
  p.write("migrations/2_add_email.sql", "ALTER TABLE users ADD COLUMN email text;\n");
  p.write("migrations/README.md", "not a migration\n");
  p.write("migrations/.hidden.sql", "garbage that would not parse\n");

  MigrationSet s = must_load(p);
  EXPECT_EQ(s.layout, "plain");
  EXPECT_EQ(s.dir, p.dir() / "migrations");
  ASSERT_EQ(s.migrations.size(), 2u);

  const Migration& m1 = s.migrations[0];
  EXPECT_EQ(m1.version, "1");
  EXPECT_EQ(m1.name, "create_users");
  EXPECT_EQ(m1.up.file, p.dir() / "migrations/1_create_users.sql");
  ASSERT_EQ(m1.up.statements.size(), 2u);
  EXPECT_EQ(m1.up.statements[1].text, "CREATE TABLE teams (id int)");
  EXPECT_EQ(m1.up.statements[1].line, 2);
  EXPECT_TRUE(m1.up.transactional);
  EXPECT_EQ(m1.up.non_tx_reason, "");
  EXPECT_FALSE(m1.up.lock_timeout.has_value());
  ASSERT_TRUE(m1.down.has_value());
  EXPECT_EQ(m1.down->file, p.dir() / "migrations/1_create_users.down.sql");
  ASSERT_EQ(m1.down->statements.size(), 2u);
  EXPECT_EQ(m1.down->statements[0].text, "DROP TABLE teams");

  const Migration& m2 = s.migrations[1];
  EXPECT_EQ(m2.version, "2");
  EXPECT_EQ(m2.name, "add_email");
  EXPECT_FALSE(m2.down.has_value());

  EXPECT_EQ(s.find("2"), &s.migrations[1]);
  EXPECT_EQ(s.find("002"), &s.migrations[1]);
  EXPECT_EQ(s.find("3"), nullptr);
}

TEST(LoadSet, OrderIsNumericNotLexical) {
  TempProject p("set-order");
  p.write("migrations/10_ten.sql", "SELECT 10;\n");
  p.write("migrations/9_nine.sql", "SELECT 9;\n");
  p.write("migrations/2_two.sql", "SELECT 2;\n");
  p.write("migrations/0100_hundred.sql", "SELECT 100;\n");
  p.write("migrations/20250101120000_timestamped.sql", "SELECT 1;\n");
  MigrationSet s = must_load(p);
  EXPECT_EQ(versions(s), "2 9 10 0100 20250101120000");
}

TEST(LoadSet, MissingMigrationsFolderIsAUsageError) {
  TempProject p("set-nodir");
  auto r = load(p);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ExitCode::usage);
  EXPECT_TRUE(contains(r.error().message, "does not exist")) << r.error().message;
}

// ---------------------------------------------------------------- dbmate

TEST(LoadSet, DbmateSectionsKeepFileLineNumbers) {
  TempProject p("set-dbmate");
  p.write("migrations/20240101000000_users.sql",
          "-- a header comment\n"                 // 1
          "-- migrate:up\n"                       // 2
          "CREATE TABLE users (id int);\n"        // 3
          "\n"                                    // 4
          "  CREATE INDEX users_id ON users (id);\n"  // 5
          "\n"                                    // 6
          "-- migrate:down\n"                     // 7
          "DROP INDEX users_id;\n"                // 8
          "DROP TABLE users;\n");                 // 9
  MigrationSet s = must_load(p);
  ASSERT_EQ(s.migrations.size(), 1u);
  const Migration& m = s.migrations[0];
  EXPECT_EQ(m.name, "users");
  ASSERT_EQ(m.up.statements.size(), 2u);
  EXPECT_EQ(m.up.statements[0].line, 3);
  EXPECT_EQ(m.up.statements[1].line, 5);
  EXPECT_EQ(m.up.statements[1].column, 3);
  EXPECT_TRUE(m.up.transactional);
  ASSERT_TRUE(m.down.has_value());
  EXPECT_EQ(m.down->file, m.up.file);
  ASSERT_EQ(m.down->statements.size(), 2u);
  EXPECT_EQ(m.down->statements[0].text, "DROP INDEX users_id");
  EXPECT_EQ(m.down->statements[0].line, 8);
  EXPECT_EQ(m.down->statements[1].line, 9);
}

TEST(LoadSet, DbmateWithEmptyDownHasNoRollback) {
  TempProject p("set-dbmate-nodown");
  p.write("migrations/1_a.sql", "-- migrate:up\nCREATE TABLE a (id int);\n-- migrate:down\n\n");
  MigrationSet s = must_load(p);
  ASSERT_EQ(s.migrations.size(), 1u);
  EXPECT_FALSE(s.migrations[0].down.has_value());
}

TEST(LoadSet, DbmateTransactionFalse) {
  TempProject p("set-dbmate-notx");
  p.write("migrations/1_idx.sql",
          "-- migrate:up transaction:false\n"
          "CREATE TABLE a (id int);\n"
          "-- migrate:down\n"
          "DROP TABLE a;\n");
  p.write("migrations/2_idx.sql",
          "-- migrate:up\n"
          "CREATE TABLE b (id int);\n"
          "-- migrate:down transaction:false\n"
          "DROP TABLE b;\n");
  MigrationSet s = must_load(p);
  ASSERT_EQ(s.migrations.size(), 2u);
  EXPECT_FALSE(s.migrations[0].up.transactional);
  EXPECT_EQ(s.migrations[0].up.non_tx_reason, "transaction:false");
  ASSERT_TRUE(s.migrations[0].down.has_value());
  EXPECT_TRUE(s.migrations[0].down->transactional);

  EXPECT_TRUE(s.migrations[1].up.transactional);
  ASSERT_TRUE(s.migrations[1].down.has_value());
  EXPECT_FALSE(s.migrations[1].down->transactional);
  EXPECT_EQ(s.migrations[1].down->non_tx_reason, "transaction:false");
}

TEST(LoadSet, DbmateCrlfMarkers) {
  TempProject p("set-dbmate-crlf");
  p.write("migrations/1_a.sql", "-- migrate:up\r\nCREATE TABLE a (id int);\r\n-- migrate:down\r\nDROP TABLE a;\r\n");
  MigrationSet s = must_load(p);
  ASSERT_EQ(s.migrations.size(), 1u);
  ASSERT_EQ(s.migrations[0].up.statements.size(), 1u);
  EXPECT_EQ(s.migrations[0].up.statements[0].line, 2);
  ASSERT_TRUE(s.migrations[0].down.has_value());
  EXPECT_EQ(s.migrations[0].down->statements[0].line, 4);
}

// ---------------------------------------------------------------- supabase

TEST(LoadSet, SupabaseLayoutWithRollbackCompanions) {
  TempProject p("set-supabase");
  p.write("supabase/migrations/20251019004500_programmatic_seo.sql", "CREATE TABLE seo_pages (id int);\n");
  p.write("supabase/migrations/20251020120000_more.sql", "CREATE TABLE more (id int);\n");
  p.write("supabase/migrations.backup/20251019004500_programmatic_seo_rollback.sql",
          "DROP TABLE seo_pages;\n");

  auto cfg = project::load(p.dir());
  ASSERT_TRUE(cfg.ok()) << cfg.error().render();
  EXPECT_EQ(cfg->layout, "supabase");
  EXPECT_EQ(cfg->migrations_dir, p.dir() / "supabase/migrations");
  EXPECT_EQ(cfg->rollback_dir, p.dir() / "supabase/migrations.backup");

  MigrationSet s = must_load(p);
  EXPECT_EQ(s.layout, "supabase");
  ASSERT_EQ(s.migrations.size(), 2u);
  const Migration& m = s.migrations[0];
  EXPECT_EQ(m.version, "20251019004500");
  EXPECT_EQ(m.name, "programmatic_seo");
  ASSERT_TRUE(m.down.has_value());
  EXPECT_EQ(m.down->file, p.dir() / "supabase/migrations.backup/20251019004500_programmatic_seo_rollback.sql");
  ASSERT_EQ(m.down->statements.size(), 1u);
  EXPECT_EQ(m.down->statements[0].text, "DROP TABLE seo_pages");
  EXPECT_FALSE(s.migrations[1].down.has_value());
}

TEST(LoadSet, RollbackDirSetByHand) {
  // A Config built without belay.toml: rollbacks in any folder.
  TempProject p("set-rollback-dir");
  p.write("up/5_a.sql", "CREATE TABLE a (id int);\n");
  p.write("undo/5-undo-a.sql", "DROP TABLE a;\n");
  project::Config cfg;
  cfg.root = p.dir();
  cfg.migrations_dir = p.dir() / "up";
  cfg.rollback_dir = p.dir() / "undo";
  cfg.layout = "plain";
  auto r = load_set(cfg);
  ASSERT_TRUE(r.ok()) << r.error().render();
  ASSERT_EQ(r->migrations.size(), 1u);
  ASSERT_TRUE(r->migrations[0].down.has_value());
  EXPECT_EQ(r->migrations[0].down->file, p.dir() / "undo/5-undo-a.sql");
}

// ---------------------------------------------------------------- bad input

TEST(LoadSetErrors, DuplicateVersion) {
  TempProject p("set-dup");
  p.write("migrations/5_a.sql", "SELECT 1;\n");
  p.write("migrations/5_b.sql", "SELECT 2;\n");
  Error e = must_fail(p, "migrations/5_b.sql");
  EXPECT_TRUE(contains(e.message, "duplicate version 5")) << e.message;
  EXPECT_TRUE(contains(e.message, "5_a.sql")) << e.message;
}

TEST(LoadSetErrors, DuplicateVersionWithLeadingZeros) {
  TempProject p("set-dup-zeros");
  p.write("migrations/001_a.sql", "SELECT 1;\n");
  p.write("migrations/1_b.sql", "SELECT 2;\n");
  Error e = must_fail(p, "migrations/1_b.sql");
  EXPECT_TRUE(contains(e.message, "duplicate version")) << e.message;
  EXPECT_TRUE(contains(e.message, "001_a.sql")) << e.message;
}

TEST(LoadSetErrors, MalformedNames) {
  for (std::string name : {"add_users.sql", "V1__x.sql", "1.sql", "12abc_x.sql"}) {
    SCOPED_TRACE(name);
    TempProject p("set-malformed");
    p.write("migrations/1_ok.sql", "SELECT 1;\n");
    p.write("migrations/" + name, "SELECT 2;\n");
    Error e = must_fail(p, "migrations/" + name);
    EXPECT_TRUE(contains(e.message, "malformed migration name '" + name + "'")) << e.message;
    EXPECT_FALSE(e.next.empty());
  }
}

TEST(LoadSetErrors, NonSqlFilesAreIgnored) {
  TempProject p("set-ignored");
  p.write("migrations/1_ok.sql", "SELECT 1;\n");
  p.write("migrations/notes.txt", "whatever\n");
  p.write("migrations/1_ok.sql.bak", "garbage\n");
  MigrationSet s = must_load(p);
  EXPECT_EQ(versions(s), "1");
}

TEST(LoadSetErrors, InvalidUtf8HasLineAndColumn) {
  TempProject p("set-utf8");
  p.write("migrations/1_bad.sql",
          "CREATE TABLE t (\n"
          "  name text DEFAULT '\xff'\n"
          ");\n");
  Error e = must_fail(p, "migrations/1_bad.sql");
  EXPECT_TRUE(contains(e.message, "UTF-8")) << e.message;
  EXPECT_TRUE(contains(e.message, "0xff")) << e.message;
  EXPECT_EQ(e.line, 2);
  EXPECT_EQ(e.column, 22);
}

TEST(LoadSetErrors, InvalidUtf8InRollbackFile) {
  TempProject p("set-utf8-down");
  p.write("migrations/1_a.sql", "CREATE TABLE a (id int);\n");
  p.write("migrations/1_a.down.sql", "-- r\xc3\n");  // truncated two-byte sequence
  Error e = must_fail(p, "migrations/1_a.down.sql");
  EXPECT_TRUE(contains(e.message, "UTF-8")) << e.message;
  EXPECT_EQ(e.line, 1);
  EXPECT_EQ(e.column, 5);
}

TEST(LoadSetErrors, EmptyFile) {
  TempProject p("set-empty");
  p.write("migrations/1_empty.sql", "");
  Error e = must_fail(p, "migrations/1_empty.sql");
  EXPECT_TRUE(contains(e.message, "empty migration")) << e.message;
}

TEST(LoadSetErrors, CommentsOnlyFile) {
  TempProject p("set-comments");
  p.write("migrations/1_todo.sql", "-- TODO: write this\n/* later */\n;\n");
  Error e = must_fail(p, "migrations/1_todo.sql");
  EXPECT_TRUE(contains(e.message, "empty migration")) << e.message;
}

TEST(LoadSetErrors, EmptyDbmateUpSection) {
  TempProject p("set-dbmate-empty");
  p.write("migrations/1_a.sql", "-- migrate:up\n-- nothing yet\n-- migrate:down\nDROP TABLE a;\n");
  Error e = must_fail(p, "migrations/1_a.sql");
  EXPECT_TRUE(contains(e.message, "migrate:up")) << e.message;
}

TEST(LoadSetErrors, EmptyRollbackFile) {
  TempProject p("set-empty-down");
  p.write("migrations/1_a.sql", "CREATE TABLE a (id int);\n");
  p.write("migrations/1_a.down.sql", "-- nothing\n");
  Error e = must_fail(p, "migrations/1_a.down.sql");
  EXPECT_TRUE(contains(e.message, "empty rollback")) << e.message;
}

TEST(LoadSetErrors, DownWithoutUp) {
  TempProject p("set-orphan-down");
  p.write("migrations/1_a.sql", "CREATE TABLE a (id int);\n");
  p.write("migrations/3_gone.down.sql", "DROP TABLE gone;\n");
  Error e = must_fail(p, "migrations/3_gone.down.sql");
  EXPECT_TRUE(contains(e.message, "rollback for version 3 has no migration")) << e.message;
}

TEST(LoadSetErrors, RollbackDirFileWithoutVersion) {
  TempProject p("set-rollback-noversion");
  p.write("supabase/migrations/20251019004500_seo.sql", "CREATE TABLE seo (id int);\n");
  p.write("supabase/migrations.backup/seo_rollback.sql", "DROP TABLE seo;\n");
  Error e = must_fail(p, "supabase/migrations.backup/seo_rollback.sql");
  EXPECT_TRUE(contains(e.message, "does not start with a migration version")) << e.message;
}

TEST(LoadSetErrors, RollbackDirFileForUnknownVersion) {
  TempProject p("set-rollback-unknown");
  p.write("supabase/migrations/20251019004500_seo.sql", "CREATE TABLE seo (id int);\n");
  p.write("supabase/migrations.backup/20240101000000_old_rollback.sql", "DROP TABLE old;\n");
  Error e = must_fail(p, "supabase/migrations.backup/20240101000000_old_rollback.sql");
  EXPECT_TRUE(contains(e.message, "has no migration")) << e.message;
}

TEST(LoadSetErrors, SecondRollbackInRollbackDir) {
  TempProject p("set-second-rollback");
  p.write("supabase/migrations/20251019004500_seo.sql", "CREATE TABLE seo (id int);\n");
  p.write("supabase/migrations.backup/20251019004500_seo_rollback.sql", "DROP TABLE seo;\n");
  p.write("supabase/migrations.backup/20251019004500_seo_rollback_v2.sql", "DROP TABLE IF EXISTS seo;\n");
  Error e = must_fail(p, "supabase/migrations.backup/20251019004500_seo_rollback_v2.sql");
  EXPECT_TRUE(contains(e.message, "second rollback for version 20251019004500")) << e.message;
  EXPECT_TRUE(contains(e.message, "20251019004500_seo_rollback.sql")) << e.message;
}

TEST(LoadSetErrors, SecondRollbackBesideDbmateDown) {
  TempProject p("set-second-rollback-dbmate");
  p.write("migrations/1_a.sql", "-- migrate:up\nCREATE TABLE a (id int);\n-- migrate:down\nDROP TABLE a;\n");
  p.write("migrations/1_a.down.sql", "DROP TABLE a;\n");
  Error e = must_fail(p, "migrations/1_a.down.sql");
  EXPECT_TRUE(contains(e.message, "second rollback for version 1")) << e.message;
  EXPECT_TRUE(contains(e.message, "migrate:down")) << e.message;
}

TEST(LoadSetErrors, SqlSyntaxErrorPointsAtTheBadToken) {
  TempProject p("set-syntax");
  p.write("migrations/1_bad.sql",
          "CREATE TABLE ok (id int);\n"
          "\n"
          "CREATE TABLEE bad (id int);\n");
  Error e = must_fail(p, "migrations/1_bad.sql");
  EXPECT_TRUE(contains(e.message, "syntax error")) << e.message;
  EXPECT_TRUE(contains(e.message, "TABLEE")) << e.message;
  EXPECT_EQ(e.line, 3);
  EXPECT_EQ(e.column, 8);
}

TEST(LoadSetErrors, SqlSyntaxErrorInDbmateDownUsesFileLines) {
  TempProject p("set-syntax-dbmate");
  p.write("migrations/1_bad.sql",
          "-- migrate:up\n"                 // 1
          "CREATE TABLE a (id int);\n"      // 2
          "-- migrate:down\n"               // 3
          "DROP TABLE a;\n"                 // 4
          "DROP TABEL b;\n");               // 5
  Error e = must_fail(p, "migrations/1_bad.sql");
  EXPECT_TRUE(contains(e.message, "TABEL")) << e.message;
  EXPECT_EQ(e.line, 5);
  EXPECT_EQ(e.column, 6);
}

TEST(LoadSetErrors, EveryProblemIsListed) {
  TempProject p("set-many");
  p.write("migrations/1_ok.sql", "SELECT 1;\n");
  p.write("migrations/2_empty.sql", "");
  p.write("migrations/3_bad.sql", "SELEC 1;\n");
  p.write("migrations/add_users.sql", "SELECT 1;\n");
  p.write("migrations/9_orphan.down.sql", "SELECT 1;\n");
  auto r = load(p);
  ASSERT_FALSE(r.ok());
  const Error& e = r.error();
  EXPECT_EQ(e.code, ExitCode::usage);
  // The first problem (in file order) locates the error; the message counts the rest.
  EXPECT_EQ(stdfs::path(e.file), p.dir() / "migrations/2_empty.sql");
  EXPECT_TRUE(contains(e.message, "and 3 more problems")) << e.message;
  for (std::string f : {"2_empty.sql", "3_bad.sql:1:1", "add_users.sql", "9_orphan.down.sql"})
    EXPECT_TRUE(contains(e.detail, f)) << f << " missing from:\n" << e.detail;
  EXPECT_TRUE(contains(e.detail, "syntax error")) << e.detail;
  EXPECT_TRUE(contains(e.detail, "malformed migration name")) << e.detail;
  EXPECT_TRUE(contains(e.detail, "has no migration")) << e.detail;
}

// ---------------------------------------------------------------- transactions

TEST(LoadSet, ConcurrentIndexMakesTheScriptNonTransactional) {
  TempProject p("set-concurrently");
  p.write("migrations/1_a.sql", "CREATE TABLE a (id int);\nINSERT INTO a VALUES (1);\n");
  p.write("migrations/2_idx.sql",
          "ALTER TABLE a ADD COLUMN b int;\n"
          "CREATE INDEX CONCURRENTLY a_b ON a (b);\n"
          "ANALYZE a;\n");
  MigrationSet s = must_load(p);
  ASSERT_EQ(s.migrations.size(), 2u);
  EXPECT_TRUE(s.migrations[0].up.transactional);
  const auto& up = s.migrations[1].up;
  EXPECT_FALSE(up.transactional);
  EXPECT_TRUE(contains(up.non_tx_reason, "CONCURRENTLY")) << up.non_tx_reason;
  ASSERT_EQ(up.statements.size(), 3u);
  EXPECT_TRUE(up.statements[0].transactional);
  EXPECT_FALSE(up.statements[1].transactional);
}

TEST(LoadSet, ExplicitBeginCommitRunsAsWritten) {
  TempProject p("set-begin");
  p.write("migrations/1_a.sql", "BEGIN;\nCREATE TABLE a (id int);\nCOMMIT;\n");
  MigrationSet s = must_load(p);
  ASSERT_EQ(s.migrations.size(), 1u);
  EXPECT_FALSE(s.migrations[0].up.transactional);
  EXPECT_TRUE(contains(s.migrations[0].up.non_tx_reason, "BEGIN/COMMIT"));
}

// ---------------------------------------------------------------- directives

TEST(LoadSetDirectives, Timeouts) {
  TempProject p("set-directives");
  p.write("migrations/1_a.sql",
          "-- belay:lock_timeout=5s\n"
          "-- belay:statement_timeout=1min\n"
          "CREATE TABLE a (id int);\n");
  MigrationSet s = must_load(p);
  ASSERT_EQ(s.migrations.size(), 1u);
  const auto& up = s.migrations[0].up;
  ASSERT_TRUE(up.lock_timeout.has_value());
  EXPECT_EQ(*up.lock_timeout, 5000ms);
  ASSERT_TRUE(up.statement_timeout.has_value());
  EXPECT_EQ(*up.statement_timeout, 60000ms);
  EXPECT_TRUE(up.transactional);
}

TEST(LoadSetDirectives, SpacesAroundTheValue) {
  TempProject p("set-directives-spaces");
  p.write("migrations/1_a.sql", "--belay:statement_timeout = 1.5s\r\nCREATE TABLE a (id int);\r\n");
  MigrationSet s = must_load(p);
  ASSERT_EQ(s.migrations.size(), 1u);
  ASSERT_TRUE(s.migrations[0].up.statement_timeout.has_value());
  EXPECT_EQ(*s.migrations[0].up.statement_timeout, 1500ms);
}

TEST(LoadSetDirectives, TimeoutsInARollback) {
  TempProject p("set-directives-down");
  p.write("migrations/1_a.sql", "CREATE TABLE a (id int);\n");
  p.write("migrations/1_a.down.sql", "-- belay:lock_timeout=250ms\nDROP TABLE a;\n");
  MigrationSet s = must_load(p);
  ASSERT_EQ(s.migrations.size(), 1u);
  EXPECT_FALSE(s.migrations[0].up.lock_timeout.has_value());
  ASSERT_TRUE(s.migrations[0].down.has_value());
  ASSERT_TRUE(s.migrations[0].down->lock_timeout.has_value());
  EXPECT_EQ(*s.migrations[0].down->lock_timeout, 250ms);
}

TEST(LoadSetDirectives, NoTransaction) {
  TempProject p("set-notx");
  p.write("migrations/1_a.sql", "-- belay:no-transaction\nCREATE TABLE a (id int);\n");
  p.write("migrations/2_b.sql", "CREATE TABLE b (id int); -- belay:no_transaction\n");
  MigrationSet s = must_load(p);
  ASSERT_EQ(s.migrations.size(), 2u);
  for (auto& m : s.migrations) {
    SCOPED_TRACE(m.version);
    EXPECT_FALSE(m.up.transactional);
    EXPECT_TRUE(contains(m.up.non_tx_reason, "no-transaction")) << m.up.non_tx_reason;
  }
}

TEST(LoadSetDirectives, UnknownDirectiveIsAnError) {
  TempProject p("set-unknown-directive");
  p.write("migrations/1_a.sql", "CREATE TABLE a (id int);\n  -- belay:lock_timout=5s\n");
  Error e = must_fail(p, "migrations/1_a.sql");
  EXPECT_TRUE(contains(e.message, "unknown directive belay:lock_timout")) << e.message;
  EXPECT_EQ(e.line, 2);
  EXPECT_EQ(e.column, 3);
}

TEST(LoadSetDirectives, UnknownDirectiveInDbmateDownUsesFileLines) {
  TempProject p("set-unknown-directive-dbmate");
  p.write("migrations/1_a.sql",
          "-- migrate:up\n"                // 1
          "CREATE TABLE a (id int);\n"     // 2
          "-- migrate:down\n"              // 3
          "-- belay:frobnicate\n"          // 4
          "DROP TABLE a;\n");              // 5
  Error e = must_fail(p, "migrations/1_a.sql");
  EXPECT_TRUE(contains(e.message, "belay:frobnicate")) << e.message;
  EXPECT_EQ(e.line, 4);
  EXPECT_EQ(e.column, 1);
}

TEST(LoadSetDirectives, BadDurationIsAnError) {
  TempProject p("set-bad-duration");
  p.write("migrations/1_a.sql", "-- belay:lock_timeout=soon\nCREATE TABLE a (id int);\n");
  Error e = must_fail(p, "migrations/1_a.sql");
  EXPECT_TRUE(contains(e.message, "belay:lock_timeout")) << e.message;
  EXPECT_TRUE(contains(e.message, "'soon'")) << e.message;
  EXPECT_EQ(e.line, 1);
}

// ---------------------------------------------------------------- checksums

TEST(LoadSetChecksum, StableUnderReformatting) {
  TempProject p("set-checksum");
  p.write("migrations/1_a.sql",
          "CREATE TABLE users (id int PRIMARY KEY, name text DEFAULT 'Ann');\n"
          "INSERT INTO users VALUES (1, 'Bob');\n");
  // Keyword case, identifier case, whitespace, comments, CRLF line endings.
  p.write("migrations/2_a.sql",
          "-- the users table\r\n"
          "create   table Users (\r\n"
          "  id INT primary key,  /* surrogate */\r\n"
          "  NAME text default 'Ann'\r\n"
          ");\r\n"
          "\r\n"
          "insert into USERS\r\n"
          "  values (1,'Bob') ;\r\n");
  // Same statements, one literal changed.
  p.write("migrations/3_a.sql",
          "CREATE TABLE users (id int PRIMARY KEY, name text DEFAULT 'Ann');\n"
          "INSERT INTO users VALUES (1, 'bob');\n");
  // Same statements, one number changed.
  p.write("migrations/4_a.sql",
          "CREATE TABLE users (id int PRIMARY KEY, name text DEFAULT 'Ann');\n"
          "INSERT INTO users VALUES (2, 'Bob');\n");
  MigrationSet s = must_load(p);
  ASSERT_EQ(s.migrations.size(), 4u);
  const std::string& c1 = s.migrations[0].up.checksum;
  EXPECT_EQ(c1.size(), 64u);
  EXPECT_EQ(c1.find_first_not_of("0123456789abcdef"), std::string::npos) << c1;
  EXPECT_EQ(s.migrations[1].up.checksum, c1);
  EXPECT_NE(s.migrations[2].up.checksum, c1);
  EXPECT_NE(s.migrations[3].up.checksum, c1);
}

TEST(LoadSetChecksum, StatementBoundariesMatter) {
  TempProject p("set-checksum-order");
  p.write("migrations/1_a.sql", "CREATE TABLE a (id int);\nCREATE TABLE b (id int);\n");
  p.write("migrations/2_a.sql", "CREATE TABLE b (id int);\nCREATE TABLE a (id int);\n");
  p.write("migrations/3_a.sql", "CREATE TABLE a (id int);\n");
  MigrationSet s = must_load(p);
  ASSERT_EQ(s.migrations.size(), 3u);
  EXPECT_NE(s.migrations[0].up.checksum, s.migrations[1].up.checksum);
  EXPECT_NE(s.migrations[0].up.checksum, s.migrations[2].up.checksum);
}

// ---------------------------------------------------------------- compare_versions

TEST(CompareVersions, Numeric) {
  EXPECT_LT(compare_versions("9", "10"), 0);
  EXPECT_GT(compare_versions("10", "9"), 0);
  EXPECT_LT(compare_versions("2", "10"), 0);
  EXPECT_GT(compare_versions("10", "2"), 0);
  EXPECT_LT(compare_versions("1", "2"), 0);
  EXPECT_EQ(compare_versions("42", "42"), 0);
}

TEST(CompareVersions, LeadingZerosDoNotCount) {
  EXPECT_EQ(compare_versions("007", "7"), 0);
  EXPECT_EQ(compare_versions("7", "007"), 0);
  EXPECT_EQ(compare_versions("0", "000"), 0);
  EXPECT_LT(compare_versions("0009", "10"), 0);
  EXPECT_GT(compare_versions("010", "9"), 0);
}

TEST(CompareVersions, BeyondSixtyFourBits) {
  EXPECT_LT(compare_versions("99999999999999999999", "100000000000000000000"), 0);
  EXPECT_GT(compare_versions("20251019004500000000001", "20251019004500000000000"), 0);
  EXPECT_LT(compare_versions("20240101000000", "20251019004500"), 0);
}

namespace belay {
namespace {

TEST(SetExtra, SqlBeforeTheDbmateUpMarkerIsAnError) {
  test::TempProject p("setpre");
  p.write("migrations/1_a.sql", "-- a comment is fine\ncreate table lost (id int);\n-- migrate:up\ncreate table a (id int);\n");
  auto cfg = project::load(p.dir());
  ASSERT_TRUE(cfg.ok());
  auto s = migrate::load_set(*cfg);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("before '-- migrate:up'"), std::string::npos);
  EXPECT_EQ(s.error().line, 2);
}

TEST(SetExtra, DirectivesToleratesCaseSpacesAndSemicolon) {
  test::TempProject p("setdir");
  p.write("migrations/1_a.sql", "-- belay: Lock_Timeout=7s;\ncreate table a (id int);\n");
  auto cfg = project::load(p.dir());
  auto s = migrate::load_set(*cfg);
  ASSERT_TRUE(s.ok()) << s.error().render();
  ASSERT_TRUE(s->migrations[0].up.lock_timeout.has_value());
  EXPECT_EQ(s->migrations[0].up.lock_timeout->count(), 7000);
}

}  // namespace
}  // namespace belay

// ---------------------------------------------------------------- lenient loads (lint)

TEST(LoadSetLenient, SyntaxErrorsAreKeptPerScriptWithTreesAndIgnoreDirectives) {
  TempProject p("set-lenient");
  p.write("migrations/1_a.sql", "-- belay:ignore drop-table\ncreate table a (id int);\nselect from from a;\n");
  p.write("migrations/2_b.sql", "-- belay:ignore-file prefer-text\ncreate table b (id int);\n");
  must_fail(p, "migrations/1_a.sql");  // the migration engine still refuses it
  auto cfg = project::load(p.dir());
  ASSERT_TRUE(cfg.ok());
  belay::migrate::LoadOptions opt;
  opt.lenient = true;
  opt.keep_trees = true;
  auto set = load_set(*cfg, opt);
  ASSERT_TRUE(set.ok()) << set.error().render();
  ASSERT_EQ(set->migrations.size(), 2u);
  const auto& a = set->migrations[0].up;
  ASSERT_EQ(a.syntax_errors.size(), 1u);
  EXPECT_EQ(a.syntax_errors[0].line, 3);
  ASSERT_EQ(a.statements.size(), 1u);
  ASSERT_NE(a.statements[0].tree, nullptr);
  EXPECT_TRUE(a.statements[0].tree->contains("CreateStmt"));
}

TEST(LoadSetLenient, LoadTextReadsLikeTheSet) {
  belay::migrate::LoadOptions opt;
  opt.lenient = true;
  auto m = belay::migrate::load_text("-- migrate:up transaction:false\ncreate index i on t (a);\n-- migrate:down\ndrop index i;\n",
                                     "x/7_idx.sql", opt);
  ASSERT_TRUE(m.ok()) << m.error().render();
  EXPECT_EQ(m->version, "7");
  EXPECT_FALSE(m->up.transactional);
  EXPECT_EQ(m->up.statements[0].line, 2);
  ASSERT_TRUE(m->down);
  auto odd = belay::migrate::load_text("select 1", "adhoc.sql", opt);
  ASSERT_TRUE(odd.ok());
  EXPECT_EQ(odd->version, "");
  EXPECT_FALSE(belay::migrate::load_text("-- nothing\n", "e.sql", opt).ok());
}
