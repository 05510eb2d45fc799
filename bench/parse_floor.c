/* The floor for bench/lint_bench.sh: parse every file with libpg_query once (parse tree
 * as JSON, the form lint walks), nothing else. A linter built on PostgreSQL's parser cannot
 * do less work than this. Usage: parse_floor FILE... ; prints the number of statements. */
#include <pg_query.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char** argv) {
  long stmts = 0;
  for (int i = 1; i < argc; ++i) {
    FILE* f = fopen(argv[i], "rb");
    if (!f) { perror(argv[i]); return 2; }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char* buf = malloc((size_t)n + 1);
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) { perror(argv[i]); return 2; }
    buf[n] = 0;
    fclose(f);
    PgQueryParseResult r = pg_query_parse(buf);
    if (r.error) { fprintf(stderr, "%s: %s\n", argv[i], r.error->message); return 1; }
    for (const char* p = r.parse_tree; (p = strstr(p, "\"stmt\":")); ++p) ++stmts;
    pg_query_free_parse_result(r);
    free(buf);
  }
  printf("%ld\n", stmts);
  return 0;
}
