// Tests for the libpg_query wrapper: splitting, error positions, classification,
// normalisation. No database needed.
#include "sql/sql.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using belay::ExitCode;
using belay::sql::line_col;
using belay::sql::normalize;
using belay::sql::split;
using belay::sql::Statement;

namespace {

std::vector<Statement> must_split(std::string_view src) {
  auto r = split(src, "t.sql");
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().render());
  return r.ok() ? r.value() : std::vector<Statement>{};
}

Statement one(std::string_view src) {
  auto stmts = must_split(src);
  EXPECT_EQ(stmts.size(), 1u) << src;
  return stmts.empty() ? Statement{} : stmts[0];
}

void expect_non_tx(std::string_view sql, const std::string& reason) {
  Statement s = one(sql);
  EXPECT_FALSE(s.transactional) << sql;
  EXPECT_EQ(s.non_tx_reason, reason) << sql;
  EXPECT_FALSE(s.transaction_control) << sql;
}

void expect_tx(std::string_view sql) {
  Statement s = one(sql);
  EXPECT_TRUE(s.transactional) << sql << " flagged: " << s.non_tx_reason;
  EXPECT_EQ(s.non_tx_reason, "") << sql;
}

}  // namespace

// ---------------------------------------------------------------- splitting

TEST(SqlSplit, DropsCommentsAndKeepsTextWithoutSemicolon) {
  auto stmts = must_split(
      "-- leading comment\n"
      "CREATE TABLE t (id int);  -- trailing comment\n"
      "/* block\n comment */ INSERT INTO t VALUES (1) ;\n"
      "-- comment at the end\n");
  ASSERT_EQ(stmts.size(), 2u);
  EXPECT_EQ(stmts[0].text, "CREATE TABLE t (id int)");
  EXPECT_EQ(stmts[0].kind, "CreateStmt");
  EXPECT_EQ(stmts[1].text, "INSERT INTO t VALUES (1)");
  EXPECT_EQ(stmts[1].kind, "InsertStmt");
}

TEST(SqlSplit, CommentsInsideStatementAreKeptTrailingOnesDropped) {
  auto stmts = must_split("SELECT 1 /* in */ + 2 -- tail\n;\nSELECT 3 -- no semicolon");
  ASSERT_EQ(stmts.size(), 2u);
  EXPECT_EQ(stmts[0].text, "SELECT 1 /* in */ + 2");
  EXPECT_EQ(stmts[1].text, "SELECT 3");
}

TEST(SqlSplit, DollarQuotedBodyWithSemicolons) {
  std::string src =
      "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $body$\n"
      "BEGIN\n  PERFORM 1; -- not a comment here\n  RETURN 2;\nEND\n$body$;\n"
      "SELECT f();";
  auto stmts = must_split(src);
  ASSERT_EQ(stmts.size(), 2u);
  EXPECT_EQ(stmts[0].kind, "CreateFunctionStmt");
  EXPECT_NE(stmts[0].text.find("RETURN 2;\nEND\n$body$"), std::string::npos);
  EXPECT_EQ(stmts[0].text.back(), '$');
  EXPECT_EQ(stmts[1].text, "SELECT f()");
}

TEST(SqlSplit, StringsContainingSemicolonAndDashes) {
  auto stmts = must_split("SELECT 'a;b -- c', E'x\\';y';\nSELECT \"odd;--name\" FROM t;");
  ASSERT_EQ(stmts.size(), 2u);
  EXPECT_EQ(stmts[0].text, "SELECT 'a;b -- c', E'x\\';y'");
  EXPECT_EQ(stmts[1].text, "SELECT \"odd;--name\" FROM t");
}

TEST(SqlSplit, OnlyCommentsOrEmpty) {
  EXPECT_EQ(must_split("-- nothing\n/* at all */\n  ;\n;").size(), 0u);
  EXPECT_EQ(must_split("").size(), 0u);
  EXPECT_EQ(must_split("   \n\t").size(), 0u);
}

TEST(SqlSplit, LineAndColumnOfEachStatement) {
  std::string src =
      "-- header\n"                   // line 1
      "CREATE TABLE a (x int);\n"     // line 2
      "\n"                            // line 3
      "  /* c */ CREATE TABLE b (y int); SELECT 1;\n"  // line 4
      "SELECT\n  2;\n";               // line 5-6
  auto stmts = must_split(src);
  ASSERT_EQ(stmts.size(), 4u);
  EXPECT_EQ(stmts[0].line, 2);
  EXPECT_EQ(stmts[0].column, 1);
  EXPECT_EQ(stmts[1].line, 4);
  EXPECT_EQ(stmts[1].column, 11);
  EXPECT_EQ(stmts[2].line, 4);
  EXPECT_EQ(stmts[2].column, 35);
  EXPECT_EQ(stmts[3].line, 5);
  EXPECT_EQ(stmts[3].column, 1);
  EXPECT_EQ(stmts[3].text, "SELECT\n  2");
  for (const auto& s : stmts) EXPECT_EQ(src.substr(s.offset, s.text.size()), s.text);
}

TEST(SqlSplit, SyntaxErrorInThirdStatementPointsAtBadToken) {
  std::string src =
      "CREATE TABLE a (x int);\n"
      "CREATE TABLE b (y int);\n"
      "-- third\n"
      "ALTER TABLE a\n"
      "  ADD COLUMN z int FOO;\n"
      "SELECT 1;\n";
  auto r = split(src, "migrations/001.sql");
  ASSERT_FALSE(r.ok());
  const auto& e = r.error();
  EXPECT_EQ(e.code, ExitCode::usage);
  EXPECT_EQ(e.file, "migrations/001.sql");
  EXPECT_EQ(e.line, 5);
  EXPECT_EQ(e.column, 20);
  EXPECT_EQ(e.message, "syntax error at or near \"FOO\"");
  EXPECT_EQ(e.render(), "migrations/001.sql:5:20: syntax error at or near \"FOO\"");
}

TEST(SqlSplit, ErrorColumnCountsBytesAfterMultibyteText) {
  // PostgreSQL reports character positions; columns are bytes.
  auto r = split("SELECT 1;\nSELECT 'éé' x FROM FROM;", "f.sql");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().line, 2);
  EXPECT_EQ(r.error().column, 22);  // "SELECT 'éé' x FROM " is 21 bytes
}

TEST(SqlSplit, ErrorAtEndOfInput) {
  auto r = split("SELECT 1;\nSELECT 1 FROM", "f.sql");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "syntax error at end of input");
  EXPECT_EQ(r.error().line, 2);
}

TEST(SqlSplit, ScannerErrorIsLocated) {
  auto r = split("SELECT 1;\n\nSELECT 'unterminated;\n", "f.sql");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ExitCode::usage);
  EXPECT_EQ(r.error().file, "f.sql");
  EXPECT_EQ(r.error().line, 3);
  EXPECT_EQ(r.error().column, 8);
  EXPECT_NE(r.error().message.find("unterminated quoted string"), std::string::npos);
}

TEST(SqlSplit, InvalidInputIsAnErrorNotACrash) {
  std::string nul("SELECT 1;\nSELECT 2\0;", 20);
  auto r = split(nul, "f.sql");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().line, 2);

  auto bad = split("SELECT 1;\nSELECT '\xff';", "f.sql");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().line, 2);
  EXPECT_EQ(bad.error().column, 9);
}

// libpg_query's scanner splitter drops keyword-less pieces and everything after an
// unbalanced ')' without an error; none of that may vanish silently.
TEST(SqlSplit, TextTheSplitterSkipsIsAnError) {
  auto r = split("SELECT 1;\nfoo;\nSELECT 2;", "f.sql");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "syntax error at or near \"foo\"");
  EXPECT_EQ(r.error().line, 2);
  EXPECT_EQ(r.error().column, 1);

  auto paren = split("SELECT 1;\nSELECT 1);\nSELECT 2;", "f.sql");
  ASSERT_FALSE(paren.ok());
  EXPECT_EQ(paren.error().message, "syntax error at or near \")\"");
  EXPECT_EQ(paren.error().line, 2);
  EXPECT_EQ(paren.error().column, 9);

  auto open = split("SELECT (1;\nSELECT 2;", "f.sql");
  ASSERT_FALSE(open.ok());
  EXPECT_EQ(open.error().line, 1);

  auto tail = split("SELECT 1;\n42", "f.sql");
  ASSERT_FALSE(tail.ok());
  EXPECT_EQ(tail.error().line, 2);
}

TEST(SqlSplit, ParenthesisedSemicolonsStayInOneStatement) {
  auto stmts = must_split(
      "CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); "
      "INSERT INTO b VALUES (2));\nSELECT 1;");
  ASSERT_EQ(stmts.size(), 2u);
  EXPECT_EQ(stmts[0].kind, "RuleStmt");
  EXPECT_EQ(stmts[0].relations, (std::vector<std::string>{"t", "a", "b"}));
  EXPECT_EQ(stmts[1].text, "SELECT 1");
}

TEST(SqlSplit, CrLfLineEndings) {
  auto stmts = must_split("SELECT 1;\r\n  SELECT 2;\r\n");
  ASSERT_EQ(stmts.size(), 2u);
  EXPECT_EQ(stmts[1].line, 2);
  EXPECT_EQ(stmts[1].column, 3);
  EXPECT_EQ(stmts[1].text, "SELECT 2");
}

// ----------------------------------------------------------- classification

TEST(SqlClassify, NonTransactionalKinds) {
  expect_non_tx("CREATE INDEX CONCURRENTLY i ON t (a);", "CREATE INDEX CONCURRENTLY");
  expect_non_tx("CREATE UNIQUE INDEX CONCURRENTLY ON t (a)", "CREATE INDEX CONCURRENTLY");
  expect_non_tx("DROP INDEX CONCURRENTLY i", "DROP INDEX CONCURRENTLY");
  expect_non_tx("REINDEX INDEX CONCURRENTLY i", "REINDEX CONCURRENTLY");
  expect_non_tx("REINDEX TABLE CONCURRENTLY t", "REINDEX CONCURRENTLY");
  expect_non_tx("REINDEX (CONCURRENTLY) TABLE t", "REINDEX CONCURRENTLY");
  expect_non_tx("REINDEX (CONCURRENTLY true, VERBOSE) INDEX i", "REINDEX CONCURRENTLY");
  expect_non_tx("REINDEX SCHEMA s", "REINDEX SCHEMA");
  expect_non_tx("REINDEX DATABASE d", "REINDEX DATABASE");
  expect_non_tx("REINDEX SYSTEM d", "REINDEX SYSTEM");
  expect_non_tx("VACUUM", "VACUUM");
  expect_non_tx("VACUUM t", "VACUUM");
  expect_non_tx("VACUUM (ANALYZE, VERBOSE) t", "VACUUM");
  expect_non_tx("VACUUM FULL t", "VACUUM");
  expect_non_tx("CREATE DATABASE d", "CREATE DATABASE");
  expect_non_tx("DROP DATABASE IF EXISTS d", "DROP DATABASE");
  expect_non_tx("ALTER SYSTEM SET work_mem = '64MB'", "ALTER SYSTEM");
  expect_non_tx("CREATE TABLESPACE ts LOCATION '/x'", "CREATE TABLESPACE");
  expect_non_tx("DROP TABLESPACE ts", "DROP TABLESPACE");
  expect_non_tx("CLUSTER", "CLUSTER");
  expect_non_tx("CLUSTER VERBOSE", "CLUSTER");
  expect_non_tx("ALTER TABLE p DETACH PARTITION c CONCURRENTLY", "DETACH PARTITION CONCURRENTLY");
  expect_non_tx("CREATE SUBSCRIPTION s CONNECTION 'host=x' PUBLICATION p",
                "SUBSCRIPTION command");
  expect_non_tx("ALTER SUBSCRIPTION s REFRESH PUBLICATION", "SUBSCRIPTION command");
  expect_non_tx("DROP SUBSCRIPTION s", "SUBSCRIPTION command");
  expect_non_tx("ALTER DATABASE d SET TABLESPACE ts", "ALTER DATABASE SET TABLESPACE");
  expect_non_tx("DISCARD ALL", "DISCARD ALL");
}

TEST(SqlClassify, TransactionalLookAlikes) {
  expect_tx("CREATE INDEX i ON t (a)");
  expect_tx("DROP INDEX i");
  expect_tx("DROP TABLE t");
  expect_tx("REINDEX INDEX i");
  expect_tx("REINDEX (VERBOSE) TABLE t");
  expect_tx("REINDEX (CONCURRENTLY false) INDEX i");
  expect_tx("REINDEX (CONCURRENTLY off) INDEX i");
  expect_tx("ANALYZE");
  expect_tx("ANALYZE t (a)");
  expect_tx("REFRESH MATERIALIZED VIEW CONCURRENTLY mv");
  expect_tx("CLUSTER t USING i");
  expect_tx("CLUSTER t");
  expect_tx("ALTER TABLE p DETACH PARTITION c");
  expect_tx("ALTER TABLE p DETACH PARTITION c FINALIZE");
  expect_tx("ALTER TABLE p ATTACH PARTITION c FOR VALUES IN (1)");
  expect_tx("ALTER DATABASE d SET work_mem = '1MB'");
  expect_tx("DISCARD PLANS");
  expect_tx("SET lock_timeout = '1s'");
  expect_tx("ALTER TYPE e ADD VALUE 'x'");
  expect_tx("SELECT 'CREATE INDEX CONCURRENTLY i ON t (a)'");
}

TEST(SqlClassify, TransactionControl) {
  for (const char* sql : {"BEGIN", "START TRANSACTION ISOLATION LEVEL SERIALIZABLE", "COMMIT",
                          "END", "ROLLBACK", "SAVEPOINT a", "RELEASE SAVEPOINT a",
                          "ROLLBACK TO SAVEPOINT a", "PREPARE TRANSACTION 'x'",
                          "COMMIT PREPARED 'x'"}) {
    Statement s = one(sql);
    EXPECT_TRUE(s.transaction_control) << sql;
    EXPECT_EQ(s.kind, "TransactionStmt") << sql;
  }
  EXPECT_FALSE(one("SELECT 1").transaction_control);
  EXPECT_FALSE(one("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE").transaction_control);
}

TEST(SqlClassify, CreateIndexConcurrentlyNames) {
  Statement s = one("create index concurrently if not exists idx_orders_user\n"
                    "  on shop.orders (user_id);");
  EXPECT_EQ(s.kind, "IndexStmt");
  EXPECT_FALSE(s.transactional);
  EXPECT_EQ(s.index_schema, "shop");
  EXPECT_EQ(s.index_name, "idx_orders_user");
  EXPECT_EQ(s.table_schema, "shop");
  EXPECT_EQ(s.table_name, "orders");
  EXPECT_TRUE(s.if_not_exists);

  Statement q = one("CREATE INDEX CONCURRENTLY \"Idx\" ON \"Orders\" (a)");
  EXPECT_EQ(q.index_schema, "");
  EXPECT_EQ(q.index_name, "Idx");
  EXPECT_EQ(q.table_schema, "");
  EXPECT_EQ(q.table_name, "Orders");
  EXPECT_FALSE(q.if_not_exists);
}

TEST(SqlClassify, DropIndexConcurrentlyNames) {
  Statement s = one("DROP INDEX CONCURRENTLY IF EXISTS s.i");
  EXPECT_FALSE(s.transactional);
  EXPECT_EQ(s.index_schema, "s");
  EXPECT_EQ(s.index_name, "i");

  Statement plain = one("DROP INDEX CONCURRENTLY i");
  EXPECT_EQ(plain.index_schema, "");
  EXPECT_EQ(plain.index_name, "i");
}

TEST(SqlClassify, ReindexNames) {
  Statement idx = one("REINDEX INDEX CONCURRENTLY s.i");
  EXPECT_EQ(idx.index_schema, "s");
  EXPECT_EQ(idx.index_name, "i");
  EXPECT_EQ(idx.table_name, "");

  Statement tbl = one("REINDEX TABLE CONCURRENTLY s.t");
  EXPECT_EQ(tbl.table_schema, "s");
  EXPECT_EQ(tbl.table_name, "t");
  EXPECT_EQ(tbl.index_name, "");
}

TEST(SqlClassify, Relations) {
  EXPECT_EQ(one("SELECT * FROM a.b JOIN c ON true WHERE x IN (SELECT 1 FROM a.b)").relations,
            (std::vector<std::string>{"a.b", "c"}));
  EXPECT_EQ(one("CREATE TABLE s.t (id int REFERENCES s.u (id), LIKE v)").relations,
            (std::vector<std::string>{"s.t", "s.u", "v"}));
  EXPECT_EQ(one("ALTER TABLE ONLY t ADD COLUMN x int").relations,
            (std::vector<std::string>{"t"}));
  EXPECT_EQ(one("CREATE INDEX CONCURRENTLY i ON s.t (a)").relations,
            (std::vector<std::string>{"s.t"}));
  EXPECT_EQ(one("WITH x AS (SELECT * FROM src) INSERT INTO dst SELECT * FROM x").relations,
            (std::vector<std::string>{"src", "dst"}));
  EXPECT_EQ(one("UPDATE \"Mixed\" m SET a = 1 FROM other o WHERE o.id = m.id").relations,
            (std::vector<std::string>{"Mixed", "other"}));
  // Source order, whatever the parse tree's field order.
  EXPECT_EQ(one("DELETE FROM z USING y, x WHERE true").relations,
            (std::vector<std::string>{"z", "y", "x"}));
  EXPECT_TRUE(one("SELECT 1").relations.empty());
}

// ---------------------------------------------------------------- normalize

TEST(SqlNormalize, ReformattingDoesNotChangeIt) {
  std::string a = "CREATE TABLE Users (id INT PRIMARY KEY, name TEXT NOT NULL)";
  std::string b =
      "-- users table\n"
      "create   table users (\n"
      "    id   int primary key,  /* pk */\n"
      "    NAME text not null\n"
      ")";
  EXPECT_EQ(normalize(a), normalize(b));
  EXPECT_EQ(normalize(a), "create table users ( id int primary key , name text not null )");
  EXPECT_EQ(normalize("  SELECT\t1  "), "select 1");
}

TEST(SqlNormalize, LiteralsAndQuotedIdentifiersMatter) {
  EXPECT_NE(normalize("SELECT 'abc'"), normalize("SELECT 'ABC'"));
  EXPECT_NE(normalize("SELECT 'a  b'"), normalize("SELECT 'a b'"));
  EXPECT_NE(normalize("SELECT \"Col\" FROM t"), normalize("SELECT \"col\" FROM t"));
  EXPECT_NE(normalize("SELECT 1"), normalize("SELECT 2"));
  EXPECT_EQ(normalize("SELECT 'It''s' AS \"X\""), "select 'It''s' as \"X\"");
  EXPECT_EQ(normalize("SELECT U&\"d\\0061t\" FROM T"), "select U&\"d\\0061t\" from t");
}

TEST(SqlNormalize, DollarQuotedBodiesAreByteExact) {
  std::string f1 = "CREATE FUNCTION f() RETURNS int AS $$ SELECT  1 -- x\n $$ LANGUAGE sql";
  std::string f2 = "create function F() returns INT as $$ SELECT  1 -- x\n $$ language SQL";
  std::string f3 = "CREATE FUNCTION f() RETURNS int AS $$ select 1 -- x\n $$ LANGUAGE sql";
  EXPECT_EQ(normalize(f1), normalize(f2));
  EXPECT_NE(normalize(f1), normalize(f3));
  EXPECT_NE(normalize(f1).find("$$ SELECT  1 -- x\n $$"), std::string::npos);
}

TEST(SqlNormalize, UnscannableInputIsTrimmed) {
  EXPECT_EQ(normalize("  SELECT 'oops \n"), "SELECT 'oops");
  EXPECT_EQ(normalize(""), "");
  EXPECT_EQ(normalize(" -- just a comment\n"), "");
}

// ---------------------------------------------------------------- line_col

TEST(SqlLineCol, Basics) {
  std::string_view s = "ab\ncd\n\nef";
  EXPECT_EQ(line_col(s, 0), std::make_pair(1, 1));
  EXPECT_EQ(line_col(s, 1), std::make_pair(1, 2));
  EXPECT_EQ(line_col(s, 2), std::make_pair(1, 3));
  EXPECT_EQ(line_col(s, 3), std::make_pair(2, 1));
  EXPECT_EQ(line_col(s, 6), std::make_pair(3, 1));
  EXPECT_EQ(line_col(s, 8), std::make_pair(4, 2));
  EXPECT_EQ(line_col(s, 9), std::make_pair(4, 3));
}

TEST(SqlLineCol, ClampsOutOfRange) {
  std::string_view s = "ab\nc";
  EXPECT_EQ(line_col(s, -5), std::make_pair(1, 1));
  EXPECT_EQ(line_col(s, 100), std::make_pair(2, 2));
  EXPECT_EQ(line_col("", 3), std::make_pair(1, 1));
}

TEST(SqlLineCol, CrLf) {
  std::string_view s = "ab\r\ncd";
  EXPECT_EQ(line_col(s, 2), std::make_pair(1, 3));  // the '\r' itself
  EXPECT_EQ(line_col(s, 3), std::make_pair(1, 3));  // '\n' after '\r': not a new column
  EXPECT_EQ(line_col(s, 4), std::make_pair(2, 1));
  EXPECT_EQ(line_col(s, 5), std::make_pair(2, 2));
}

TEST(SqlLineCol, ColumnsAreBytes) {
  std::string_view s = "é = x";
  EXPECT_EQ(line_col(s, 3), std::make_pair(1, 4));
}

// --- lenient splitting and parse trees (lint) ---

TEST(SqlSplitLenient, EverySyntaxErrorIsLocatedAndTheRestIsKept) {
  belay::sql::SplitOptions opt;
  opt.lenient = true;
  auto r = split("select 1;\nselect from from t;\ncreate table a (id int);\n  selec 2;\nselect 3;", "t.sql", opt);
  ASSERT_EQ(r.errors.size(), 2u);
  EXPECT_EQ(r.errors[0].line, 2);
  EXPECT_EQ(r.errors[0].column, 13);  // the second "from"
  EXPECT_EQ(r.errors[0].file, "t.sql");
  EXPECT_EQ(r.errors[1].line, 4);
  EXPECT_EQ(r.errors[1].column, 3);
  ASSERT_EQ(r.statements.size(), 3u);
  EXPECT_EQ(r.statements[1].kind, "CreateStmt");
  EXPECT_EQ(r.statements[2].text, "select 3");
  // Not lenient: the first error only, as split() has always done.
  auto strict = split("select 1;\nselect from from t;\nselect 3;", "t.sql", belay::sql::SplitOptions{});
  ASSERT_EQ(strict.errors.size(), 1u);
  EXPECT_EQ(strict.statements.size(), 1u);
}

TEST(SqlSplitLenient, UnterminatedQuoteKeepsTheStatementsBeforeIt) {
  belay::sql::SplitOptions opt;
  opt.lenient = true;
  auto r = split("create table a (id int);\nselect 'x;\ny';\ninsert into a values ('oops);\n", "t.sql", opt);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].line, 4);
  EXPECT_EQ(r.errors[0].column, 23);
  ASSERT_EQ(r.statements.size(), 2u);
  EXPECT_EQ(r.statements[1].text, "select 'x;\ny'");
  auto nul = split(std::string("select 1;\nselect 2\0;", 21), "t.sql", opt);
  ASSERT_EQ(nul.errors.size(), 1u);
  EXPECT_EQ(nul.errors[0].message, "NUL byte in SQL file");
  EXPECT_EQ(nul.statements.size(), 1u);
}

TEST(SqlSplitLenient, TreeIsKeptOnlyWhenAsked) {
  auto plain = must_split("create index i on t (a)");
  EXPECT_EQ(plain[0].tree, nullptr);
  belay::sql::SplitOptions opt;
  opt.keep_tree = true;
  auto r = split("select 1;\n  create index i on s.t (a)", "t.sql", opt);
  ASSERT_EQ(r.statements.size(), 2u);
  ASSERT_NE(r.statements[1].tree, nullptr);
  const auto& idx = (*r.statements[1].tree)["IndexStmt"];
  EXPECT_EQ(idx["relation"]["relname"], "t");
  EXPECT_EQ(idx["relation"]["schemaname"], "s");
  // Locations are byte offsets into the statement's text.
  EXPECT_EQ(idx["relation"]["location"], 18);
}

TEST(SqlParenGroup, FindsTheBalancedGroup) {
  using belay::sql::paren_group;
  std::string s = "alter table t add constraint c check ( (a > 0) and b <> ')' /* ) */ )";
  EXPECT_EQ(paren_group(s, static_cast<int>(s.find("check"))), "(a > 0) and b <> ')' /* ) */");
  EXPECT_EQ(paren_group("select 1", 0), "");
  EXPECT_EQ(paren_group("check ((a)", 0), "");
  EXPECT_EQ(paren_group("f(x) g(y)", 4), "y");
}

TEST(SqlSplitLenient, AnUnbalancedParenthesisDoesNotHideTheNextStatements) {
  belay::sql::SplitOptions opt;
  opt.lenient = true;
  auto r = split("create table a (id int;\ndrop table b;\nselec 1;\ntruncate c;\n", "t.sql", opt);
  ASSERT_EQ(r.errors.size(), 2u);
  EXPECT_EQ(r.errors[0].line, 1);
  EXPECT_EQ(r.errors[1].line, 3);
  ASSERT_EQ(r.statements.size(), 2u);
  EXPECT_EQ(r.statements[0].kind, "DropStmt");
  EXPECT_EQ(r.statements[1].kind, "TruncateStmt");
  // Not lenient: unchanged, the first error only.
  auto strict = split("create table a (id int;\ndrop table b;\n", "t.sql", belay::sql::SplitOptions{});
  EXPECT_EQ(strict.errors.size(), 1u);
}
