// Backfill pieces that need no database: the JSON tree, value conversion, ids, the job
// file, and the transform of messy documents under each policy.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "backfill/backfill.h"
#include "backfill/convert.h"
#include "backfill/ids.h"
#include "backfill/json_doc.h"
#include "backfill/run_internal.h"
#include "backfill/store.h"
#include "backfill/transform.h"
#include "support.h"

namespace belay::backfill {
namespace {

using test::TempProject;

// ------------------------------------------------------------------ JSON tree

TEST(BackfillJson, KeepsNumbersExactlyAsWritten) {
  JsonDoc d;
  std::string err;
  ASSERT_TRUE(d.parse(R"({"a": 12345678901234567890.123456789, "b": 123456789012345678901234567890, "c": -7,
                          "d": 1e300, "e": 0.17})", &err)) << err;
  EXPECT_EQ(d.text(d.find(d.root(), "a")), "12345678901234567890.123456789");
  EXPECT_EQ(d.text(d.find(d.root(), "b")), "123456789012345678901234567890");
  EXPECT_EQ(d.text(d.find(d.root(), "c")), "-7");
  EXPECT_EQ(d.text(d.find(d.root(), "d")), "1e300");
  EXPECT_EQ(d.dump(d.root()), R"({"a":12345678901234567890.123456789,"b":123456789012345678901234567890,"c":-7,"d":1e300,"e":0.17})");
  // nlohmann's lexer refuses numbers beyond a double's range: an error, which quarantines
  // the user with this reason (PostgreSQL's jsonb would hold it).
  EXPECT_FALSE(d.parse(R"({"x": 1e400})", &err));
  EXPECT_NE(err.find("number overflow"), std::string::npos) << err;
}

TEST(BackfillJson, NestedPathsUnicodeAndDuplicateKeys) {
  JsonDoc d;
  std::string err;
  ASSERT_TRUE(d.parse(R"({"x": {"y": [1, {"z": "h\u00e9llo \ud83d\ude00 \"q\""}]}, "k": 1, "k": 2})", &err)) << err;
  auto arr = d.at_path(d.root(), {"x", "y"});
  ASSERT_NE(arr, JsonDoc::npos);
  EXPECT_EQ(d.kind(arr), JsonDoc::Kind::array);
  EXPECT_EQ(d.size(arr), 2u);
  auto z = d.find(d.child(arr, 1), "z");
  EXPECT_EQ(d.text(z), "h\xc3\xa9llo \xf0\x9f\x98\x80 \"q\"");
  EXPECT_EQ(d.dump(z), "\"h\xc3\xa9llo \xf0\x9f\x98\x80 \\\"q\\\"\"");
  EXPECT_EQ(d.text(d.find(d.root(), "k")), "2");  // the last duplicate wins, as in jsonb
  EXPECT_EQ(d.at_path(d.root(), {"x", "nope"}), JsonDoc::npos);
}

TEST(BackfillJson, MalformedAndHostileInputAreErrorsNotCrashes) {
  JsonDoc d;
  std::string err;
  EXPECT_FALSE(d.parse("{\"a\": [1, 2", &err));
  EXPECT_FALSE(err.empty());
  EXPECT_FALSE(d.parse("", &err));
  EXPECT_FALSE(d.parse("{\"a\": \"\xff\xfe\"}", &err));  // not UTF-8
  EXPECT_FALSE(d.parse("\"\\ud800\"", &err));             // lone surrogate
  std::string deep(5000, '[');
  deep += std::string(5000, ']');
  EXPECT_FALSE(d.parse(deep, &err));
  EXPECT_NE(err.find("nested deeper"), std::string::npos) << err;
}

// ------------------------------------------------------------------ conversion

std::pair<Converted, std::string> conv(const std::string& json, Type t, bool coerce = true, IntBounds b = {}) {
  JsonDoc d;
  std::string err, out;
  EXPECT_TRUE(d.parse(json, &err)) << err;
  auto c = convert(d, d.root(), t, coerce, b, out);
  return {c, out};
}

TEST(BackfillConvert, EachTypeAcceptsItsValuesAndRefusesOthers) {
  EXPECT_EQ(conv("\"a\\tb\\\\c\\nd\"", Type::text).second, "a\\tb\\\\c\\nd");  // COPY-escaped
  EXPECT_EQ(conv("42", Type::int_).second, "42");
  EXPECT_EQ(conv("\" 42 \"", Type::int_).second, "42");
  EXPECT_TRUE(conv("\" 42 \"", Type::int_).first.coerced);
  EXPECT_EQ(conv("\"42\"", Type::int_, false).first.kind, Converted::Kind::bad);
  EXPECT_EQ(conv("4.0", Type::int_).second, "4");
  EXPECT_EQ(conv("4.5", Type::int_).first.kind, Converted::Kind::bad);
  EXPECT_EQ(conv("3000000000", Type::int_, true, IntBounds{INT32_MIN, INT32_MAX}).first.kind, Converted::Kind::bad);
  EXPECT_EQ(conv("99999999999999999999", Type::int_).first.kind, Converted::Kind::bad);
  EXPECT_EQ(conv("\"1.5e3\"", Type::numeric).second, "1.5e3");
  EXPECT_EQ(conv("\"abc\"", Type::numeric).first.kind, Converted::Kind::bad);
  EXPECT_EQ(conv("true", Type::boolean).second, "t");
  EXPECT_EQ(conv("\"No\"", Type::boolean).second, "f");
  EXPECT_EQ(conv("\"maybe\"", Type::boolean).first.kind, Converted::Kind::bad);
  EXPECT_EQ(conv("\"2025-02-28T10:00:00.5+05:30\"", Type::timestamptz).first.kind, Converted::Kind::value);
  EXPECT_EQ(conv("\"2024-02-29\"", Type::timestamptz).first.kind, Converted::Kind::value);
  EXPECT_EQ(conv("\"2025-02-29\"", Type::timestamptz).first.kind, Converted::Kind::bad);
  EXPECT_EQ(conv("\"2025-13-01\"", Type::timestamptz).first.kind, Converted::Kind::bad);
  EXPECT_EQ(conv("\"yesterday\"", Type::timestamptz).first.kind, Converted::Kind::bad);
  EXPECT_EQ(conv("1700000000", Type::timestamptz).first.kind, Converted::Kind::bad);
  EXPECT_EQ(conv("\"6ba7b810-9dad-11d1-80b4-00c04fd430c8\"", Type::uuid).first.kind, Converted::Kind::value);
  EXPECT_EQ(conv("\"6ba7b810\"", Type::uuid).first.kind, Converted::Kind::bad);
  EXPECT_EQ(conv("{\"a\": [1, \"x\\ty\"]}", Type::jsonb).second, "{\"a\":[1,\"x\\\\ty\"]}");
  EXPECT_EQ(conv("{\"a\": 1}", Type::text).first.kind, Converted::Kind::bad);
  EXPECT_EQ(conv("null", Type::text).first.kind, Converted::Kind::null);
}

TEST(BackfillConvert, NulCharactersNeverReachTheServer) {
  EXPECT_EQ(conv("\"a\\u0000b\"", Type::text).first.kind, Converted::Kind::bad);
  EXPECT_EQ(conv("{\"k\": \"a\\u0000b\"}", Type::jsonb).first.kind, Converted::Kind::bad);
  EXPECT_EQ(clip(std::string("x\0y", 3)), "x y");
  EXPECT_EQ(clip("h\xc3\xa9h\xc3\xa9h\xc3\xa9", 6), "h\xc3\xa9...");
  EXPECT_EQ(clip("h\xc3\xa9h\xc3\xa9h\xc3\xa9", 5), "h...");  // never half a character
}

// ------------------------------------------------------------------ ids

TEST(BackfillIds, Uuidv5MatchesTheRfcAndUuidOssp) {
  Uuid dns = {0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8};
  IdMaker m(dns);
  EXPECT_EQ(to_string(m.v5("python.org")), "886313e1-3b8a-5372-9b90-0c9aee199e5d");
  // uuid_generate_v5(uuid_generate_v5(uuid_ns_url(), 'https://belay.dev/ns/backfill'), 'user_app_state')
  EXPECT_EQ(job_namespace("user_app_state"), "d118c125-ef19-54b7-8f77-b8d875168152");
  IdMaker j(job_namespace_uuid("user_app_state"));
  EXPECT_EQ(j.row("u1", "orgs", "o1"), j.row("u1", "orgs", "o1"));
  EXPECT_NE(j.row("u1", "orgs", "o1"), j.row("u2", "orgs", "o1"));
  EXPECT_NE(j.row("u1", "orgs", "o1"), j.row("u1", "personas", "o1"));
  EXPECT_NE(j.row("u1", "orgs", "3"), j.positional("u1", "orgs", 3));
}

// ------------------------------------------------------------------ job files

std::string example_job() {
  auto p = std::filesystem::path(__FILE__).parent_path().parent_path() / "examples/backfill/jobs/user_app_state.toml";
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

Result<Job> load_text(const TempProject& p, const std::string& text) {
  p.write("job.toml", text);
  return load_job(p.dir() / "job.toml");
}

TEST(BackfillJob, TheExampleLoadsParentsFirst) {
  TempProject p("bfjob");
  auto j = load_text(p, example_job());
  ASSERT_TRUE(j.ok()) << j.error().render();
  std::vector<std::string> names;
  for (auto& e : j->entities) names.push_back(e.name);
  auto pos = [&](const std::string& n) { return std::find(names.begin(), names.end(), n) - names.begin(); };
  EXPECT_LT(pos("orgs"), pos("personas"));
  EXPECT_LT(pos("personas"), pos("contents"));
  EXPECT_LT(pos("contents"), pos("references"));
  EXPECT_LT(pos("accounts"), pos("leads"));
  EXPECT_LT(pos("leads"), pos("inbox_items"));
  const Entity* inbox = j->find("inbox_items");
  ASSERT_TRUE(inbox);
  EXPECT_EQ(inbox->path, std::vector<std::string>{"inboxItems"});
  EXPECT_EQ(inbox->columns[0].name, "lead_id");  // file order
  EXPECT_EQ(inbox->columns[0].ref, "leads");
  EXPECT_EQ(j->find("orgs")->columns[2].default_text, "now");
  EXPECT_EQ(j->source.latest_by, "updated_at");
  EXPECT_EQ(j->checksum.size(), 64u);
}

TEST(BackfillJob, MistakesNameTheLineAndColumn) {
  TempProject p("bfjob2");
  struct Case {
    std::string text, want;
    int line;
  };
  const std::string head = "[job]\nname = \"j\"\n[source]\ntable = \"s\"\n";
  std::vector<Case> cases = {
      {"[job]\nname = \"j\"\n[source]\ntable = \"s\"\nuser = 5\n[entities.a]\ntable = \"t\"\ncolumns = { x = { from = \"x\" } }\n",
       "user must be a string", 5},
      {head + "[entities.a]\ntable = \"t\"\n[entities.a.columns]\nx = { from = \"x\", type = \"float\" }\n", "type must be", 8},
      {head + "[entities.a]\ntable = \"t\"\non_dangling = \"ignore\"\n[entities.a.columns]\nx = { from = \"x\" }\n",
       "on_dangling must be", 7},
      {head + "[entities.a]\ntable = \"t\"\ntabel = \"u\"\n[entities.a.columns]\nx = { from = \"x\" }\n", "unknown key 'tabel'", 7},
      {head + "[entities.a]\ntable = \"t\"\n[entities.a.columns]\nx = 'ref(\"b\", \"bId\")'\n", "unknown entity 'b'", 8},
      {head + "[entities.a]\ntable = \"t\"\n[entities.a.columns]\nx = { from = \"x\", type = \"int\", default = \"many\" }\n",
       "default does not fit type int", 8},
      {head + "[entities.a]\ntable = \"t\"\n[entities.a.columns]\nid = { from = \"x\" }\n", "filled by belay", 8},
      {head + "[entities.a]\ntable = \"t\"\n[entities.a.columns]\nb_id = 'ref(\"b\", \"bId\")'\n"
              "[entities.b]\ntable = \"u\"\n[entities.b.columns]\na_id = 'ref(\"a\", \"aId\")'\n",
       "cycle", 5},
      {head + "[entities.a]\ntable = \"t\"\n[entities.a.columns]\nx = \"name\"\n", "must be ref(", 8},
      {"[job]\nname = \"j\"\n[source\n", "", 3},
      {"[job]\nname = \"j\"\n", "missing [source]", 1},
  };
  for (auto& c : cases) {
    auto j = load_text(p, c.text);
    ASSERT_FALSE(j.ok()) << c.text;
    EXPECT_EQ(j.error().code, ExitCode::usage);
    EXPECT_NE(j.error().message.find(c.want), std::string::npos) << j.error().render();
    EXPECT_EQ(j.error().line, c.line) << j.error().render();
    EXPECT_NE(j.error().file.find("job.toml"), std::string::npos);
    if (c.line > 1) {
      EXPECT_GT(j.error().column, 0) << j.error().render();
    }
  }
}

// ------------------------------------------------------------------ transform

// A catalog as inspect() would build it, without a database: nothing NOT NULL.
Catalog catalog_of(const Job& job, const std::set<std::string>& not_null = {}) {
  Catalog c;
  for (size_t i = 0; i < job.entities.size(); ++i) {
    Target t;
    for (size_t k = 0; k < job.entities[i].columns.size(); ++k) {
      const Column& col = job.entities[i].columns[k];
      t.not_null.push_back(not_null.count(job.entities[i].name + "." + col.name) > 0);
      t.bounds.push_back({});
      (col.ref.empty() ? t.plain : t.refs).push_back(k);
    }
    c.targets.push_back(t);
    c.write_order.push_back(i);
  }
  c.doc_type = "jsonb";
  return c;
}

const char* kJob = R"(
[job]
name = "t"
[source]
table = "src"
[defaults]
on_dangling = "%s"
on_missing_id = "%s"
on_bad_type = "%s"
[entities.orgs]
table = "orgs"
[entities.orgs.columns]
name = { from = "name", type = "text" }
[entities.people]
table = "people"
[entities.people.columns]
org_id = 'ref("orgs", "orgId")'
age = { from = "age", type = "int" }
[entities.notes]
table = "notes"
[entities.notes.columns]
person_id = 'ref("people", "personId")'
parent_id = 'ref("notes", "parentId")'
)";

Job job_with(const TempProject& p, const char* dangling, const char* missing, const char* bad) {
  std::string text = kJob, out;
  std::vector<const char*> vals{dangling, missing, bad};
  size_t v = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 1 < text.size() && text[i + 1] == 's') {
      out += vals[v++];
      ++i;
    } else {
      out += text[i];
    }
  }
  auto job = load_text(p, out);
  EXPECT_TRUE(job.ok()) << job.error().render();
  return *job;
}

int count(const UserOut& u, const std::string& kind) {
  return static_cast<int>(std::count_if(u.problems.begin(), u.problems.end(), [&](auto& p) { return p.kind == kind; }));
}

size_t lines(const std::string& s) { return static_cast<size_t>(std::count(s.begin(), s.end(), '\n')); }

TEST(BackfillTransform, ReferencesAreRemappedByOldIdAndIdsAreDeterministic) {
  TempProject p("bft1");
  Job job = job_with(p, "null", "skip_row", "quarantine");
  Catalog cat = catalog_of(job);
  Transformer tr(job, cat);
  SourceRow row{"7", "u1", "v", R"({"orgs": [{"id": "o1", "name": "A"}, {"id": 2, "name": "B"}],
      "people": [{"id": "p1", "orgId": 2, "age": 30}, {"id": "p2", "orgId": "o1", "age": "41"}],
      "notes": [{"id": "n1", "personId": "p2"}, {"id": "n2", "personId": "p1", "parentId": "n1"}]})"};
  auto u = tr.transform(row);
  ASSERT_FALSE(u.quarantined) << u.reason;
  EXPECT_EQ(u.rows, 6);
  IdMaker ids(job_namespace_uuid("t"));
  auto o2 = to_string(ids.row("u1", "orgs", "2"));
  auto p1 = to_string(ids.row("u1", "people", "p1"));
  auto n1 = to_string(ids.row("u1", "notes", "n1"));
  EXPECT_EQ(u.entities[1].copy.substr(0, 36), p1);
  EXPECT_NE(u.entities[1].copy.find(p1 + "\tu1\t30\t" + o2 + "\n"), std::string::npos) << u.entities[1].copy;
  EXPECT_NE(u.entities[1].copy.find("\tu1\t41\t"), std::string::npos);  // "41" coerced
  EXPECT_EQ(count(u, "coerced"), 1);
  EXPECT_NE(u.entities[2].copy.find("\t" + p1 + "\t" + n1 + "\n"), std::string::npos) << u.entities[2].copy;
  EXPECT_EQ(tr.transform(row).entities[2].copy, u.entities[2].copy);  // same input, same ids
}

TEST(BackfillTransform, DanglingReferencesFollowThePolicy) {
  TempProject p("bft2");
  const char* doc = R"({"orgs": [{"id": "o1", "name": "A"}],
      "people": [{"id": "p1", "orgId": "o9"}, {"id": "p2", "orgId": "o1"}],
      "notes": [{"id": "n1", "personId": "p1"}, {"id": "n2", "personId": "p2"}]})";
  {
    Job job = job_with(p, "null", "skip_row", "quarantine");
    auto cat = catalog_of(job);
    auto u = Transformer(job, cat).transform({"1", "u", "", doc});
    EXPECT_EQ(u.rows, 5);
    EXPECT_EQ(count(u, "dangling_ref"), 1);
    EXPECT_NE(u.entities[1].copy.find("\tu\t\\N\t\\N\n"), std::string::npos) << u.entities[1].copy;  // age, org_id NULL
  }
  {
    // Skipping p1 leaves n1 dangling too: the skip cascades.
    Job job = job_with(p, "skip_row", "skip_row", "quarantine");
    auto cat = catalog_of(job);
    auto u = Transformer(job, cat).transform({"1", "u", "", doc});
    EXPECT_FALSE(u.quarantined);
    EXPECT_EQ(u.rows, 3);
    EXPECT_EQ(u.entities[1].skipped, 1);
    EXPECT_EQ(u.entities[2].skipped, 1);
    EXPECT_EQ(count(u, "dangling_ref"), 2);
  }
  {
    Job job = job_with(p, "quarantine", "skip_row", "quarantine");
    auto cat = catalog_of(job);
    auto u = Transformer(job, cat).transform({"1", "u", "", doc});
    EXPECT_TRUE(u.quarantined);
    EXPECT_EQ(u.rows, 0);
    EXPECT_TRUE(u.entities[0].copy.empty());
    EXPECT_NE(u.reason.find("dangling_ref"), std::string::npos) << u.reason;
  }
}

TEST(BackfillTransform, SelfReferencesCascadeWithinAnEntity) {
  TempProject p("bft3");
  Job job = job_with(p, "skip_row", "skip_row", "quarantine");
  auto cat = catalog_of(job);
  // n3 → n2 → n1 → (missing n0): skipping n1 must skip n2 and then n3.
  auto u = Transformer(job, cat).transform({"1", "u", "", R"({"notes": [
      {"id": "n3", "parentId": "n2"}, {"id": "n2", "parentId": "n1"}, {"id": "n1", "parentId": "n0"}, {"id": "n4"}]})"});
  EXPECT_EQ(u.entities[2].skipped, 3);
  EXPECT_EQ(u.rows, 1);
  EXPECT_EQ(count(u, "dangling_ref"), 3);
}

TEST(BackfillTransform, MissingAndDuplicateIds) {
  TempProject p("bft4");
  const char* doc = R"({"orgs": [{"name": "no id"}, {"id": "o1", "name": "A"}, {"id": "o1", "name": "dup"}, {"id": "", "name": "empty"}]})";
  {
    Job job = job_with(p, "null", "skip_row", "quarantine");
    auto cat = catalog_of(job);
    auto u = Transformer(job, cat).transform({"1", "u", "", doc});
    EXPECT_EQ(u.rows, 1);
    EXPECT_EQ(count(u, "missing_id"), 2);
    EXPECT_EQ(count(u, "duplicate_id"), 1);
    EXPECT_NE(u.entities[0].copy.find("\tA\n"), std::string::npos);  // the first o1 wins
  }
  {
    Job job = job_with(p, "null", "null", "quarantine");
    auto cat = catalog_of(job);
    auto u = Transformer(job, cat).transform({"1", "u", "", doc});
    EXPECT_EQ(u.rows, 4);  // positional ids for the rest
    IdMaker ids(job_namespace_uuid("t"));
    EXPECT_NE(u.entities[0].copy.find(to_string(ids.positional("u", "orgs", 0))), std::string::npos);
    EXPECT_NE(u.entities[0].copy.find(to_string(ids.positional("u", "orgs", 2))), std::string::npos);
    EXPECT_FALSE(u.entities[0].old_ids[0].has_value());
  }
  {
    Job job = job_with(p, "null", "quarantine", "quarantine");
    auto cat = catalog_of(job);
    EXPECT_TRUE(Transformer(job, cat).transform({"1", "u", "", doc}).quarantined);
  }
}

TEST(BackfillTransform, WrongTypesNullArraysObjectsAndEmptyUsers) {
  TempProject p("bft5");
  const char* doc = R"({"orgs": {"id": "o1"}, "people": [{"id": "p1", "age": "old"}, 5, {"id": "p2", "age": 7}],
                        "notes": null})";
  {
    Job job = job_with(p, "null", "skip_row", "null");
    auto cat = catalog_of(job);
    auto u = Transformer(job, cat).transform({"1", "u", "", doc});
    EXPECT_FALSE(u.quarantined);
    EXPECT_EQ(count(u, "not_an_array"), 1);
    EXPECT_EQ(count(u, "bad_type"), 1);
    EXPECT_EQ(count(u, "bad_element"), 1);
    EXPECT_EQ(count(u, "null_array"), 1);
    EXPECT_EQ(u.rows, 2);  // p1 with age NULL, p2
    EXPECT_EQ(u.entities[1].skipped, 1);
    EXPECT_EQ(u.entities[0].source_elements, 0);
  }
  {
    Job job = job_with(p, "null", "skip_row", "skip_row");
    auto cat = catalog_of(job);
    auto u = Transformer(job, cat).transform({"1", "u", "", doc});
    EXPECT_EQ(u.rows, 1);
  }
  {
    Job job = job_with(p, "null", "skip_row", "quarantine");
    auto cat = catalog_of(job);
    auto u = Transformer(job, cat).transform({"1", "u", "", doc});
    EXPECT_TRUE(u.quarantined);
    EXPECT_NE(u.reason.find("not_an_array"), std::string::npos) << u.reason;
  }
  {
    Job job = job_with(p, "null", "skip_row", "null");
    auto cat = catalog_of(job, {"people.age"});
    auto u = Transformer(job, cat).transform({"1", "u", "", doc});
    EXPECT_EQ(u.rows, 1);  // p1 cannot take NULL in a NOT NULL column: skipped
  }
  Job job = job_with(p, "null", "skip_row", "quarantine");
  auto cat = catalog_of(job);
  Transformer tr(job, cat);
  EXPECT_TRUE(tr.transform({"1", "u", "", std::nullopt}).empty());
  EXPECT_TRUE(tr.transform({"1", "u", "", "{}"}).empty());
  EXPECT_TRUE(tr.transform({"1", "u", "", "[1, 2]"}).quarantined);
  EXPECT_TRUE(tr.transform({"1", "u", "", "{not json"}).quarantined);
  EXPECT_TRUE(tr.transform({"1", "u\x1f", "", "{}"}).quarantined);
}

TEST(BackfillTransform, LargeDocumentsAndTextThatNeedsEscaping) {
  TempProject p("bft6");
  Job job = job_with(p, "null", "skip_row", "quarantine");
  auto cat = catalog_of(job);
  std::string doc = "{\"orgs\": [";
  for (int i = 0; i < 20000; ++i)
    doc += fmt::format("{}{{\"id\": \"o{}\", \"name\": \"line\\nbreak\\ttab\\\\ {} \\u00e9\"}}", i ? "," : "", i, i);
  doc += "], \"people\": [";
  for (int i = 0; i < 20000; ++i) doc += fmt::format("{}{{\"id\": {}, \"orgId\": \"o{}\"}}", i ? "," : "", i, 19999 - i);
  doc += "]}";
  auto u = Transformer(job, cat).transform({"1", "u", "", doc});
  ASSERT_FALSE(u.quarantined) << u.reason;
  EXPECT_EQ(u.rows, 40000);
  EXPECT_EQ(lines(u.entities[0].copy), 20000u);
  EXPECT_NE(u.entities[0].copy.find("line\\nbreak\\ttab\\\\ 7 \xc3\xa9\n"), std::string::npos);
  EXPECT_EQ(count(u, "dangling_ref"), 0);
}

TEST(BackfillRun, TransientErrorsRetryDataErrorsQuarantineOthersStop) {
  EXPECT_TRUE(transient("55P03"));
  EXPECT_TRUE(transient("40P01"));
  EXPECT_FALSE(transient("23505"));
  EXPECT_TRUE(user_data_error("23505"));
  EXPECT_TRUE(user_data_error("22P02"));
  EXPECT_TRUE(user_data_error("P0001"));
  EXPECT_FALSE(user_data_error("42501"));  // permission denied: every user would fail
  EXPECT_FALSE(user_data_error("42P01"));
  EXPECT_FALSE(user_data_error("08006"));
}

TEST(BackfillRun, ThrottleDecisions) {
  Job j;
  j.max_replication_lag = milliseconds(5000);
  j.max_lock_waiters = 0;
  EXPECT_FALSE(throttle_decision(100, 0, j));
  auto lag = throttle_decision(6000, 0, j);
  ASSERT_TRUE(lag);
  EXPECT_NE(lag->find("replication lag 6.0s"), std::string::npos) << *lag;
  auto waits = throttle_decision(0, 2, j);
  ASSERT_TRUE(waits);
  EXPECT_NE(waits->find("2 sessions are waiting"), std::string::npos) << *waits;
  j.max_lock_waiters = 3;
  EXPECT_FALSE(throttle_decision(0, 2, j));
}

}  // namespace
}  // namespace belay::backfill
