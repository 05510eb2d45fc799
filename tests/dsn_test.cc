// Tests for DSN handling (src/pg/dsn.cpp): a password must never survive redact(),
// whatever form the DSN takes. No database needed.
#include <gtest/gtest.h>

#include <string>

#include "pg/pg.h"

using belay::pg::has_password;
using belay::pg::is_url;
using belay::pg::password_of;
using belay::pg::redact;
using belay::pg::scrub;

namespace {

// redact(dsn) must equal `want`, must not contain `secret`, and the DSN must be
// recognised as carrying a password.
void expect_redacted(const std::string& dsn, const std::string& secret, const std::string& want) {
  SCOPED_TRACE(dsn);
  std::string out = redact(dsn);
  EXPECT_EQ(out, want);
  EXPECT_EQ(out.find(secret), std::string::npos) << "secret leaked: " << out;
  EXPECT_TRUE(has_password(dsn));
}

}  // namespace

// ---------------------------------------------------------------- URLs

TEST(DsnRedact, UrlUserinfoPassword) {
  expect_redacted("postgres://alice:s3cretpw@db.example.com:5432/app", "s3cretpw",
                  "postgres://alice:****@db.example.com:5432/app");
  expect_redacted("postgresql://alice:s3cretpw@db.example.com/app?sslmode=require", "s3cretpw",
                  "postgresql://alice:****@db.example.com/app?sslmode=require");
  // No path at all after the host.
  expect_redacted("postgres://alice:s3cretpw@localhost", "s3cretpw", "postgres://alice:****@localhost");
  EXPECT_EQ(password_of("postgres://alice:s3cretpw@localhost/app"), "s3cretpw");
}

TEST(DsnRedact, UrlPercentEncodedPassword) {
  // "p@ss/w:rd" percent-encoded: neither the encoded nor the decoded form may survive.
  const std::string dsn = "postgres://bob:p%40ss%2Fw%3Ard@host/db";
  EXPECT_EQ(password_of(dsn), "p@ss/w:rd");
  expect_redacted(dsn, "p%40ss%2Fw%3Ard", "postgres://bob:****@host/db");
  EXPECT_EQ(redact(dsn).find("p@ss/w:rd"), std::string::npos);
}

TEST(DsnRedact, UrlPasswordQueryParameter) {
  expect_redacted("postgres://carol@host/db?password=topsecret", "topsecret",
                  "postgres://carol@host/db?password=****");
  expect_redacted("postgres://carol@host/db?sslmode=disable&password=topsecret&connect_timeout=5",
                  "topsecret",
                  "postgres://carol@host/db?sslmode=disable&password=****&connect_timeout=5");
  // Both places at once.
  expect_redacted("postgres://carol:first1@host/db?password=second2", "first1",
                  "postgres://carol:****@host/db?password=****");
  EXPECT_EQ(redact("postgres://carol:first1@host/db?password=second2").find("second2"), std::string::npos);
}

TEST(DsnRedact, UrlWithoutPasswordIsUnchanged) {
  for (std::string dsn : {"postgres://alice@db.example.com:5432/app",
                          "postgres://db.example.com/app",
                          "postgresql://alice@[::1]:5432/app?sslmode=require",
                          "postgres:///app?host=/var/run/postgresql"}) {
    SCOPED_TRACE(dsn);
    EXPECT_EQ(redact(dsn), dsn);
    EXPECT_FALSE(has_password(dsn));
    EXPECT_EQ(password_of(dsn), "");
  }
}

// ---------------------------------------------------------------- key=value

TEST(DsnRedact, KeyValuePassword) {
  expect_redacted("host=x password=secret dbname=y", "secret", "host=x password=**** dbname=y");
  // At the start, at the end, and with spaces around '='.
  expect_redacted("password=secret host=x", "secret", "password=**** host=x");
  expect_redacted("host=x dbname=y password=secret", "secret", "host=x dbname=y password=****");
  expect_redacted("host=x password = secret dbname=y", "secret", "host=x password = **** dbname=y");
  EXPECT_EQ(password_of("host=x password=secret dbname=y"), "secret");
}

TEST(DsnRedact, KeyValueQuotedPassword) {
  // libpq's quoting: single quotes, backslash escapes the next character.
  const std::string dsn = R"(host=x password='a b\'c' dbname=y)";
  EXPECT_EQ(password_of(dsn), "a b'c");
  std::string out = redact(dsn);
  EXPECT_EQ(out, "host=x password=**** dbname=y");
  EXPECT_EQ(out.find("a b"), std::string::npos);
  EXPECT_EQ(out.find("b\\'c"), std::string::npos);
  EXPECT_TRUE(has_password(dsn));
}

TEST(DsnRedact, KeyValueEscapedUnquotedPassword) {
  // Unquoted values may also use backslash escapes: `a\ b` is the password "a b".
  const std::string dsn = R"(host=x password=open\ sesame dbname=y)";
  EXPECT_EQ(password_of(dsn), "open sesame");
  std::string out = redact(dsn);
  EXPECT_EQ(out, "host=x password=**** dbname=y");
  EXPECT_EQ(out.find("sesame"), std::string::npos) << out;
}

TEST(DsnRedact, KeyValueWithoutPasswordIsUnchanged) {
  for (std::string dsn : {"host=x dbname=y", "host=localhost port=5432 user=app dbname=app sslmode=disable",
                          "dbname='my db' user=app"}) {
    SCOPED_TRACE(dsn);
    EXPECT_EQ(redact(dsn), dsn);
    EXPECT_FALSE(has_password(dsn));
  }
  // A key that merely ends in "password" is not the password key.
  EXPECT_EQ(redact("host=x sslpassword_hint=1"), "host=x sslpassword_hint=1");
}

TEST(DsnRedact, EmptyPasswordIsNoPassword) {
  EXPECT_FALSE(has_password("host=x password='' dbname=y"));
  EXPECT_FALSE(has_password("postgres://u:@host/db"));
  EXPECT_FALSE(has_password(""));
  EXPECT_EQ(redact(""), "");
}

TEST(DsnRedact, KeyValueSpaceAfterEqualsTakesTheNextWord) {
  // libpq skips blanks after '=': here the password is the word "dbname=y".
  const std::string dsn = "host=x password= dbname=y";
  EXPECT_EQ(password_of(dsn), "dbname=y");
  EXPECT_TRUE(has_password(dsn));
  EXPECT_EQ(redact(dsn), "host=x password= ****");
}

TEST(DsnRedact, UrlThatLibpqRejectsIsStillRedacted) {
  // An unknown query parameter makes libpq refuse the URL; the password must still be
  // found, or belay.toml's literal-password check would let it through.
  const std::string dsn = "postgres://u:Zq9pw@h/db?not_a_libpq_option=1";
  EXPECT_EQ(redact(dsn), "postgres://u:****@h/db?not_a_libpq_option=1");
  EXPECT_TRUE(has_password(dsn));
  EXPECT_TRUE(has_password("postgres://u@h/db?not_a_libpq_option=1&password=Zq9pw"));
}

// ---------------------------------------------------------------- is_url

TEST(DsnIsUrl, SchemePrefixes) {
  EXPECT_TRUE(is_url("postgres://h/db"));
  EXPECT_TRUE(is_url("postgresql://h/db"));
  EXPECT_FALSE(is_url("host=h dbname=db"));
  EXPECT_FALSE(is_url("mysql://h/db"));
  EXPECT_FALSE(is_url("xpostgres://h/db"));
  EXPECT_FALSE(is_url(""));
}

// ---------------------------------------------------------------- scrub

TEST(DsnScrub, RemovesEveryOccurrence) {
  EXPECT_EQ(scrub("pw=hunter2 and again hunter2.", "hunter2"), "pw=**** and again ****.");
  EXPECT_EQ(scrub("hunter2hunter2", "hunter2"), "********");
  EXPECT_EQ(scrub("nothing here", "hunter2"), "nothing here");
}

TEST(DsnScrub, EmptySecretChangesNothing) {
  EXPECT_EQ(scrub("some text", ""), "some text");
  EXPECT_EQ(scrub("", ""), "");
}

TEST(DsnScrub, SecretContainingTheMaskTerminates) {
  // The replacement never re-matches: a secret like "**" must not loop forever.
  EXPECT_EQ(scrub("a**b", "**"), "a****b");
  EXPECT_EQ(scrub("xx", "x"), "********");
}

TEST(DsnScrub, ErrorMessageQuotingADsn) {
  const std::string dsn = "postgres://u:Tr0ub4dor@h/db";
  std::string msg = "could not connect to " + std::string(dsn) + ": password Tr0ub4dor rejected";
  std::string out = scrub(msg, password_of(dsn));
  EXPECT_EQ(out.find("Tr0ub4dor"), std::string::npos);
  EXPECT_EQ(out, "could not connect to postgres://u:****@h/db: password **** rejected");
}
