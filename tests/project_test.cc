// Tests for belay.toml handling (src/project/project.cpp): defaults, values, walking up
// to the project root, refusing literal passwords, resolving targets and `init`.
// No database needed: resolve_target is only called with a DSN, a named target or
// DATABASE_URL set, never in a way that would start the embedded cluster.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include "project/project.h"
#include "support.h"

using belay::Error;
using belay::ExitCode;
using belay::test::TempProject;
namespace project = belay::project;
namespace stdfs = std::filesystem;
using namespace std::chrono_literals;

namespace {

// Sets (or unsets, with nullopt) an environment variable for the life of the object.
class EnvVar {
 public:
  EnvVar(std::string name, const std::optional<std::string>& value) : name_(std::move(name)) {
    if (const char* old = std::getenv(name_.c_str())) old_ = old;
    if (value) ::setenv(name_.c_str(), value->c_str(), 1);
    else ::unsetenv(name_.c_str());
  }
  ~EnvVar() {
    if (old_) ::setenv(name_.c_str(), old_->c_str(), 1);
    else ::unsetenv(name_.c_str());
  }
  EnvVar(const EnvVar&) = delete;
  EnvVar& operator=(const EnvVar&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

project::Config must_load(const stdfs::path& dir) {
  auto r = project::load(dir);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().render());
  return r.ok() ? std::move(r).value() : project::Config{};
}

// Loading must fail with a usage error located in the project's belay.toml.
Error must_fail(const TempProject& p) {
  auto r = project::load(p.dir());
  EXPECT_FALSE(r.ok()) << "belay.toml was accepted";
  if (r.ok()) return Error{};
  Error e = r.error();
  EXPECT_EQ(e.code, ExitCode::usage) << e.render();
  EXPECT_EQ(stdfs::path(e.file), p.dir() / "belay.toml") << e.render();
  return e;
}

std::string read(const stdfs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool contains(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

}  // namespace

// ---------------------------------------------------------------- load

TEST(ProjectLoad, DefaultsWithoutBelayToml) {
  TempProject p("proj-defaults");
  project::Config cfg = must_load(p.dir());
  EXPECT_FALSE(cfg.has_file);
  EXPECT_EQ(cfg.root, p.dir());
  EXPECT_EQ(cfg.name, p.dir().filename().string());
  EXPECT_EQ(cfg.flavor, "postgres");
  EXPECT_EQ(cfg.migrations_dir, p.dir() / "migrations");
  EXPECT_TRUE(cfg.migrations_dir.is_absolute());
  EXPECT_EQ(cfg.layout, "plain");
  EXPECT_TRUE(cfg.rollback_dir.empty());
  EXPECT_EQ(cfg.lock_timeout, 2000ms);
  EXPECT_EQ(cfg.statement_timeout, 0ms);
  EXPECT_EQ(cfg.lock_wait, 30000ms);
  EXPECT_EQ(cfg.lock_retries, 5);
  EXPECT_FALSE(cfg.require_down);
  EXPECT_TRUE(cfg.targets.empty());
}

TEST(ProjectLoad, DefaultsDetectSupabaseFolders) {
  TempProject p("proj-detect-supabase");
  stdfs::create_directories(p.dir() / "supabase/migrations");
  stdfs::create_directories(p.dir() / "supabase/migrations.backup");
  project::Config cfg = must_load(p.dir());
  EXPECT_EQ(cfg.layout, "supabase");
  EXPECT_EQ(cfg.migrations_dir, p.dir() / "supabase/migrations");
  EXPECT_EQ(cfg.rollback_dir, p.dir() / "supabase/migrations.backup");
}

TEST(ProjectLoad, ValuesFromBelayToml) {
  TempProject p("proj-values");
  p.write("belay.toml",
          "[project]\n"
          "name = \"shop\"\n"
          "flavor = \"supabase\"\n"
          "\n"
          "[migrations]\n"
          "dir = \"db/migrate\"\n"
          "rollback_dir = \"db/rollback\"\n"
          "lock_timeout = \"5s\"\n"
          "statement_timeout = \"1min\"\n"
          "lock_wait = \"250ms\"\n"
          "lock_retries = 9\n"
          "require_down = true\n"
          "\n"
          "[embedded]\n"
          "pg_bin = \"/opt/pg/bin\"\n"
          "\n"
          "[targets.staging]\n"
          "dsn_env = \"STAGING_DATABASE_URL\"\n"
          "\n"
          "[targets.local]\n"
          "url = \"postgres://app@localhost:5432/app\"\n");
  project::Config cfg = must_load(p.dir());
  EXPECT_TRUE(cfg.has_file);
  EXPECT_EQ(cfg.root, p.dir());
  EXPECT_EQ(cfg.name, "shop");
  EXPECT_EQ(cfg.flavor, "supabase");
  EXPECT_EQ(cfg.migrations_dir, p.dir() / "db/migrate");
  EXPECT_EQ(cfg.rollback_dir, p.dir() / "db/rollback");
  EXPECT_EQ(cfg.layout, "plain");
  EXPECT_EQ(cfg.lock_timeout, 5000ms);
  EXPECT_EQ(cfg.statement_timeout, 60000ms);
  EXPECT_EQ(cfg.lock_wait, 250ms);
  EXPECT_EQ(cfg.lock_retries, 9);
  EXPECT_TRUE(cfg.require_down);
  EXPECT_EQ(cfg.pg_bin, "/opt/pg/bin");
  ASSERT_EQ(cfg.targets.size(), 2u);
  EXPECT_EQ(cfg.targets.at("staging").name, "staging");
  EXPECT_EQ(cfg.targets.at("staging").dsn_env, "STAGING_DATABASE_URL");
  EXPECT_EQ(cfg.targets.at("staging").url, "");
  EXPECT_EQ(cfg.targets.at("local").url, "postgres://app@localhost:5432/app");
}

TEST(ProjectLoad, DurationsAsIntegersAreMilliseconds) {
  TempProject p("proj-int-durations");
  p.write("belay.toml", "[migrations]\nlock_timeout = 750\nlock_wait = 0\n");
  project::Config cfg = must_load(p.dir());
  EXPECT_EQ(cfg.lock_timeout, 750ms);
  EXPECT_EQ(cfg.lock_wait, 0ms);
}

TEST(ProjectLoad, SupabaseMigrationsDirSetsLayout) {
  TempProject p("proj-supabase-dir");
  p.write("belay.toml", "[migrations]\ndir = \"supabase/migrations\"\n");
  project::Config cfg = must_load(p.dir());
  EXPECT_EQ(cfg.layout, "supabase");
  EXPECT_EQ(cfg.migrations_dir, p.dir() / "supabase/migrations");
}

TEST(ProjectLoad, FoundFromASubdirectory) {
  TempProject p("proj-walk-up");
  p.write("belay.toml", "[project]\nname = \"walked\"\n[migrations]\ndir = \"sql\"\n");
  stdfs::create_directories(p.dir() / "src/deep/er");
  project::Config cfg = must_load(p.dir() / "src/deep/er");
  EXPECT_TRUE(cfg.has_file);
  EXPECT_EQ(cfg.root, p.dir());
  EXPECT_EQ(cfg.name, "walked");
  EXPECT_EQ(cfg.migrations_dir, p.dir() / "sql");
}

TEST(ProjectLoad, NearestBelayTomlWins) {
  TempProject p("proj-nearest");
  p.write("belay.toml", "[project]\nname = \"outer\"\n");
  p.write("inner/belay.toml", "[project]\nname = \"inner\"\n");
  stdfs::create_directories(p.dir() / "inner/sub");
  project::Config cfg = must_load(p.dir() / "inner/sub");
  EXPECT_EQ(cfg.root, p.dir() / "inner");
  EXPECT_EQ(cfg.name, "inner");
}

// ---------------------------------------------------------------- load: bad files

TEST(ProjectLoadErrors, InvalidTomlHasALine) {
  TempProject p("proj-bad-toml");
  p.write("belay.toml",
          "[project]\n"
          "name = \"x\"\n"
          "flavor = supabase\n");
  Error e = must_fail(p);
  EXPECT_EQ(e.line, 3);
  EXPECT_GT(e.column, 0);
  EXPECT_FALSE(e.message.empty());
}

TEST(ProjectLoadErrors, BadFlavor) {
  TempProject p("proj-bad-flavor");
  p.write("belay.toml", "[project]\nflavor = \"mysql\"\n");
  Error e = must_fail(p);
  EXPECT_TRUE(contains(e.message, "project.flavor")) << e.message;
  EXPECT_TRUE(contains(e.message, "\"mysql\"")) << e.message;
}

TEST(ProjectLoad, ExposedSchemasDefaultToPublicAndCanBeSet) {
  TempProject p("proj-exposed");
  auto d = project::load(p.dir());
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->exposed_schemas, std::vector<std::string>{"public"});
  p.write("belay.toml", "[project]\nexposed_schemas = [\"public\", \"api\"]\n");
  auto c = project::load(p.dir());
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->exposed_schemas, (std::vector<std::string>{"public", "api"}));
}

TEST(ProjectLoadErrors, ExposedSchemasMustBeStrings) {
  TempProject p("proj-exposed-bad");
  p.write("belay.toml", "[project]\nexposed_schemas = \"public\"\n");
  Error e = must_fail(p);
  EXPECT_TRUE(contains(e.message, "exposed_schemas must be an array of strings")) << e.message;
}

TEST(ProjectLoadErrors, BadDuration) {
  TempProject p("proj-bad-duration");
  p.write("belay.toml", "[migrations]\nlock_retries = 3\nlock_timeout = \"fast\"\n");
  Error e = must_fail(p);
  EXPECT_TRUE(contains(e.message, "lock_timeout must be a duration")) << e.message;
  EXPECT_EQ(e.line, 3);
}

TEST(ProjectLoadErrors, BadDurationUnit) {
  TempProject p("proj-bad-duration-unit");
  p.write("belay.toml", "[migrations]\nstatement_timeout = \"5 fortnights\"\n");
  Error e = must_fail(p);
  EXPECT_TRUE(contains(e.message, "statement_timeout")) << e.message;
  EXPECT_EQ(e.line, 2);
}

TEST(ProjectLoadErrors, NegativeDuration) {
  TempProject p("proj-negative-duration");
  p.write("belay.toml", "[migrations]\nlock_wait = -5\n");
  Error e = must_fail(p);
  EXPECT_TRUE(contains(e.message, "lock_wait")) << e.message;
  EXPECT_EQ(e.line, 2);
}

TEST(ProjectLoadErrors, LiteralPasswordInTargetUrl) {
  TempProject p("proj-literal-url");
  p.write("belay.toml",
          "[project]\n"
          "name = \"x\"\n"
          "[targets.prod]\n"
          "url = \"postgres://u:Sup3rS3cretPw@h/db\"\n");
  Error e = must_fail(p);
  EXPECT_TRUE(contains(e.message, "literal password")) << e.message;
  EXPECT_TRUE(contains(e.message, "'url'")) << e.message;
  EXPECT_EQ(e.line, 4);
  EXPECT_TRUE(contains(e.next, "dsn_env")) << e.next;
  EXPECT_FALSE(contains(e.render(), "Sup3rS3cretPw")) << e.render();
}

TEST(ProjectLoadErrors, LiteralPasswordInKeyValueDsn) {
  TempProject p("proj-literal-kv");
  p.write("belay.toml", "[targets.prod]\nurl = \"host=db.example.com password=Sup3rS3cretPw\"\n");
  Error e = must_fail(p);
  EXPECT_TRUE(contains(e.message, "literal password")) << e.message;
  EXPECT_FALSE(contains(e.render(), "Sup3rS3cretPw")) << e.render();
}

TEST(ProjectLoadErrors, LiteralPasswordInUrlLibpqWouldReject) {
  // An unknown URL parameter makes libpq refuse the URL; the password is still refused.
  TempProject p("proj-literal-odd-url");
  p.write("belay.toml", "[targets.prod]\nurl = \"postgres://u:Sup3rS3cretPw@h/db?bogus=1\"\n");
  Error e = must_fail(p);
  EXPECT_TRUE(contains(e.message, "literal password")) << e.message;
  EXPECT_FALSE(contains(e.render(), "Sup3rS3cretPw")) << e.render();
}

TEST(ProjectLoadErrors, PasswordKey) {
  TempProject p("proj-password-key");
  p.write("belay.toml",
          "[targets.prod]\n"
          "dsn_env = \"PROD_URL\"\n"
          "password = \"hunter2hunter2\"\n");
  Error e = must_fail(p);
  EXPECT_TRUE(contains(e.message, "literal password")) << e.message;
  EXPECT_TRUE(contains(e.message, "'password'")) << e.message;
  EXPECT_EQ(e.line, 3);
  EXPECT_FALSE(contains(e.render(), "hunter2hunter2")) << e.render();
}

TEST(ProjectLoadErrors, TargetWithoutDsnEnvOrUrl) {
  TempProject p("proj-target-empty");
  p.write("belay.toml",
          "[project]\n"
          "name = \"x\"\n"
          "\n"
          "[targets.prod]\n"
          "description = \"forgot the variable\"\n");
  Error e = must_fail(p);
  EXPECT_TRUE(contains(e.message, "target 'prod'")) << e.message;
  EXPECT_TRUE(contains(e.message, "dsn_env")) << e.message;
  EXPECT_GT(e.line, 0);
}

TEST(ProjectLoadErrors, TargetThatIsNotATable) {
  TempProject p("proj-target-string");
  p.write("belay.toml", "[targets]\nprod = \"PROD_URL\"\n");
  Error e = must_fail(p);
  EXPECT_TRUE(contains(e.message, "targets.prod must be a table")) << e.message;
}

// ---------------------------------------------------------------- resolve_target

TEST(ResolveTarget, UrlFlagIsUsedAsIsAndDisplayedRedacted) {
  project::Config cfg;
  const std::string dsn = "postgres://app:Sup3rS3cretPw@db.example.com:5432/app";
  auto r = project::resolve_target(cfg, dsn);
  ASSERT_TRUE(r.ok()) << r.error().render();
  EXPECT_EQ(r->name, "url");
  EXPECT_EQ(r->dsn, dsn);
  EXPECT_EQ(r->display, "postgres://app:****@db.example.com:5432/app");
  EXPECT_FALSE(r->embedded);
}

TEST(ResolveTarget, KeyValueFlagIsADsn) {
  project::Config cfg;
  auto r = project::resolve_target(cfg, "host=h dbname=d password=Sup3rS3cretPw");
  ASSERT_TRUE(r.ok()) << r.error().render();
  EXPECT_EQ(r->name, "url");
  EXPECT_EQ(r->dsn, "host=h dbname=d password=Sup3rS3cretPw");
  EXPECT_FALSE(contains(r->display, "Sup3rS3cretPw")) << r->display;
}

TEST(ResolveTarget, NamedTargetReadsItsVariable) {
  project::Config cfg;
  cfg.targets["staging"] = project::Target{"staging", "BELAY_TEST_STAGING_URL", ""};
  EnvVar env("BELAY_TEST_STAGING_URL", "postgres://app:Sup3rS3cretPw@staging/app");
  EnvVar db("DATABASE_URL", "postgres://other@elsewhere/other");  // the flag wins over it
  auto r = project::resolve_target(cfg, "staging");
  ASSERT_TRUE(r.ok()) << r.error().render();
  EXPECT_EQ(r->name, "staging");
  EXPECT_EQ(r->dsn, "postgres://app:Sup3rS3cretPw@staging/app");
  EXPECT_EQ(r->display, "postgres://app:****@staging/app");
  EXPECT_FALSE(r->embedded);
}

TEST(ResolveTarget, NamedTargetFromBelayToml) {
  TempProject p("proj-resolve-named");
  p.write("belay.toml",
          "[targets.staging]\ndsn_env = \"BELAY_TEST_STAGING_URL\"\n"
          "[targets.local]\nurl = \"postgres://app@localhost/app\"\n");
  project::Config cfg = must_load(p.dir());
  EnvVar env("BELAY_TEST_STAGING_URL", "postgres://app@staging/app");
  auto staging = project::resolve_target(cfg, "staging");
  ASSERT_TRUE(staging.ok()) << staging.error().render();
  EXPECT_EQ(staging->dsn, "postgres://app@staging/app");
  auto local = project::resolve_target(cfg, "local");
  ASSERT_TRUE(local.ok()) << local.error().render();
  EXPECT_EQ(local->name, "local");
  EXPECT_EQ(local->dsn, "postgres://app@localhost/app");
  EXPECT_EQ(local->display, "postgres://app@localhost/app");
}

TEST(ResolveTarget, UnknownTargetNamesTheKnownOnes) {
  project::Config cfg;
  cfg.targets["staging"] = project::Target{"staging", "STAGING_URL", ""};
  cfg.targets["prod"] = project::Target{"prod", "PROD_URL", ""};
  auto r = project::resolve_target(cfg, "production");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ExitCode::usage);
  EXPECT_TRUE(contains(r.error().message, "unknown target 'production'")) << r.error().message;
  EXPECT_TRUE(contains(r.error().next, "prod")) << r.error().next;
  EXPECT_TRUE(contains(r.error().next, "staging")) << r.error().next;
}

TEST(ResolveTarget, UnknownTargetWithoutAnyTargets) {
  project::Config cfg;
  auto r = project::resolve_target(cfg, "prod");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ExitCode::usage);
  EXPECT_TRUE(contains(r.error().next, "[targets.prod]")) << r.error().next;
}

TEST(ResolveTarget, UnsetVariableIsAUsageErrorNamingIt) {
  project::Config cfg;
  cfg.targets["staging"] = project::Target{"staging", "BELAY_TEST_UNSET_URL", ""};
  for (std::optional<std::string> value : {std::optional<std::string>(), std::optional<std::string>("")}) {
    SCOPED_TRACE(value ? "empty" : "unset");
    EnvVar env("BELAY_TEST_UNSET_URL", value);
    auto r = project::resolve_target(cfg, "staging");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ExitCode::usage);
    EXPECT_TRUE(contains(r.error().message, "BELAY_TEST_UNSET_URL")) << r.error().message;
    EXPECT_TRUE(contains(r.error().next, "export BELAY_TEST_UNSET_URL=")) << r.error().next;
  }
}

TEST(ResolveTarget, DatabaseUrlWhenNoFlag) {
  project::Config cfg;
  EnvVar db("DATABASE_URL", "postgres://app:Sup3rS3cretPw@from-env/app");
  // Guard: without DATABASE_URL this call would start the embedded cluster.
  ASSERT_NE(std::getenv("DATABASE_URL"), nullptr);
  auto r = project::resolve_target(cfg, "");
  ASSERT_TRUE(r.ok()) << r.error().render();
  EXPECT_EQ(r->name, "DATABASE_URL");
  EXPECT_EQ(r->dsn, "postgres://app:Sup3rS3cretPw@from-env/app");
  EXPECT_EQ(r->display, "postgres://app:****@from-env/app");
  EXPECT_FALSE(r->embedded);
}

// ---------------------------------------------------------------- init

TEST(ProjectInit, CreatesFilesAndIsIdempotent) {
  TempProject p("proj-init");
  auto r = project::init(p.dir(), false);
  ASSERT_TRUE(r.ok()) << r.error().render();
  EXPECT_EQ(r->size(), 3u);
  EXPECT_TRUE(stdfs::is_regular_file(p.dir() / "belay.toml"));
  EXPECT_TRUE(stdfs::is_directory(p.dir() / "migrations"));
  EXPECT_FALSE(stdfs::exists(p.dir() / "supabase"));
  EXPECT_TRUE(contains(read(p.dir() / ".gitignore"), ".belay/"));

  // What init writes, load reads back as the defaults.
  project::Config cfg = must_load(p.dir());
  EXPECT_TRUE(cfg.has_file);
  EXPECT_EQ(cfg.name, p.dir().filename().string());
  EXPECT_EQ(cfg.flavor, "postgres");
  EXPECT_EQ(cfg.migrations_dir, p.dir() / "migrations");
  EXPECT_EQ(cfg.layout, "plain");
  EXPECT_EQ(cfg.lock_timeout, 2000ms);
  EXPECT_EQ(cfg.statement_timeout, 0ms);
  EXPECT_EQ(cfg.lock_wait, 30000ms);
  EXPECT_EQ(cfg.lock_retries, 5);
  EXPECT_TRUE(cfg.targets.empty());

  // A second run creates nothing and changes nothing.
  std::string toml = read(p.dir() / "belay.toml");
  std::string gitignore = read(p.dir() / ".gitignore");
  auto again = project::init(p.dir(), false);
  ASSERT_TRUE(again.ok()) << again.error().render();
  EXPECT_TRUE(again->empty());
  EXPECT_EQ(read(p.dir() / "belay.toml"), toml);
  EXPECT_EQ(read(p.dir() / ".gitignore"), gitignore);
}

TEST(ProjectInit, KeepsExistingFiles) {
  TempProject p("proj-init-existing");
  p.write("belay.toml", "[project]\nname = \"mine\"\n");
  p.write(".gitignore", "node_modules");  // no trailing newline
  auto r = project::init(p.dir(), false);
  ASSERT_TRUE(r.ok()) << r.error().render();
  EXPECT_EQ(read(p.dir() / "belay.toml"), "[project]\nname = \"mine\"\n");
  EXPECT_EQ(read(p.dir() / ".gitignore"), "node_modules\n.belay/\n");
  EXPECT_TRUE(stdfs::is_directory(p.dir() / "migrations"));
}

TEST(ProjectInit, NameOfTheFolderEvenWithDotOrTrailingSlash) {
  for (std::string suffix : {"/.", "/"}) {
    SCOPED_TRACE(suffix);
    TempProject p("proj-init-dot");
    auto r = project::init(p.dir().string() + suffix, false);
    ASSERT_TRUE(r.ok()) << r.error().render();
    EXPECT_EQ(must_load(p.dir()).name, p.dir().filename().string());
  }
}

TEST(ProjectInit, Supabase) {
  TempProject p("proj-init-supabase");
  auto r = project::init(p.dir(), true);
  ASSERT_TRUE(r.ok()) << r.error().render();
  EXPECT_TRUE(stdfs::is_directory(p.dir() / "supabase/migrations"));
  EXPECT_FALSE(stdfs::exists(p.dir() / "migrations"));
  EXPECT_TRUE(contains(read(p.dir() / ".gitignore"), ".belay/"));

  project::Config cfg = must_load(p.dir());
  EXPECT_EQ(cfg.flavor, "supabase");
  EXPECT_EQ(cfg.layout, "supabase");
  EXPECT_EQ(cfg.migrations_dir, p.dir() / "supabase/migrations");
  EXPECT_EQ(cfg.rollback_dir, p.dir() / "supabase/migrations.backup");

  auto again = project::init(p.dir(), true);
  ASSERT_TRUE(again.ok()) << again.error().render();
  EXPECT_TRUE(again->empty());
}

namespace belay {
namespace {

Error load_error(const std::string& toml) {
  test::TempProject p("proj-schema");
  p.write("belay.toml", toml);
  auto r = project::load(p.dir());
  EXPECT_FALSE(r.ok()) << toml;
  return r.ok() ? Error{} : r.error();
}

TEST(ProjectSchema, WrongTypesAndUnknownKeysAreErrorsWithALine) {
  auto e1 = load_error("[migrations]\nlock_retries = \"3\"\n");
  EXPECT_NE(e1.message.find("lock_retries must be an integer"), std::string::npos) << e1.message;
  EXPECT_EQ(e1.line, 2);
  auto e2 = load_error("[project]\nflavor = 3\n");
  EXPECT_NE(e2.message.find("flavor must be a string"), std::string::npos) << e2.message;
  auto e3 = load_error("[migrations]\nrequire_down = \"yes\"\n");
  EXPECT_NE(e3.message.find("true or false"), std::string::npos) << e3.message;
  auto e4 = load_error("[migrations]\nlock_timout = \"2s\"\n");
  EXPECT_NE(e4.message.find("unknown key 'lock_timout'"), std::string::npos) << e4.message;
  EXPECT_NE(e4.message.find("lock_timeout"), std::string::npos) << e4.message;  // lists the known keys
  auto e5 = load_error("[migrations]\nlock_retries = -1\n");
  EXPECT_NE(e5.message.find("between 0 and 1000"), std::string::npos) << e5.message;
}

}  // namespace
}  // namespace belay
