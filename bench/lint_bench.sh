#!/usr/bin/env bash
# belay lint on 2,000 migration files (~10,000 statements) on one core (taskset -c 0),
# against the floor in the same run: parsing every file once with libpg_query
# (bench/parse_floor.c), which any linter using PostgreSQL's parser must do at least.
# Target: belay lint under 1 s. ROUNDS (default 5), FILES (default 2000).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
belay="${BELAY:-$root/build/belay}"
rounds="${ROUNDS:-5}"; files="${FILES:-2000}"
source "$root/bench/lib.sh"
work="$(mktemp -d /tmp/belay-lint-bench.XXXXXX)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/proj"
"$root/bench/gen_lint.sh" "$work/proj/migrations" "$files"
printf '[migrations]\ndir = "migrations"\n' > "$work/proj/belay.toml"
cc -O2 -o "$work/parse_floor" "$root/bench/parse_floor.c" -lpg_query
stmts="$("$work/parse_floor" "$work/proj/migrations"/*.sql)"
echo "files: $files, statements: $stmts"
"$belay" -C "$work/proj" lint --format json > "$work/findings.json" || true
echo "findings: $(grep -c '"rule"' "$work/findings.json" || true)"
# Wall time on a busy shared machine mostly measures waiting for core 0; CPU time
# (user + sys, from /usr/bin/time) is reported beside it.
cpu() { /usr/bin/time -f "%U %S" -o "$work/time" taskset -c 0 "$@" >/dev/null 2>&1 || true; awk '{print $1 + $2}' "$work/time"; }
floor=(); lint=(); floor_cpu=(); lint_cpu=()
for ((r = 1; r <= rounds; r++)); do
  t0=$(now); c=$(cpu "$work/parse_floor" "$work/proj/migrations"/*.sql); t1=$(now)
  floor+=("$(secs "$t0" "$t1")"); floor_cpu+=("$c")
  t0=$(now); c=$(cpu "$belay" -C "$work/proj" lint --format json); t1=$(now)
  lint+=("$(secs "$t0" "$t1")"); lint_cpu+=("$c")
  printf 'round %d: floor %.3f s (cpu %.3f s), belay lint %.3f s (cpu %.3f s)\n' "$r" "${floor[-1]}" "${floor_cpu[-1]}" "${lint[-1]}" "${lint_cpu[-1]}"
done
f=$(median "${floor[@]}"); l=$(median "${lint[@]}"); fc=$(median "${floor_cpu[@]}"); lc=$(median "${lint_cpu[@]}")
printf 'median wall: floor (parse only) %.3f s, belay lint %.3f s, ratio %.2fx\n' "$f" "$l" "$(echo "$l / $f" | bc -l)"
printf 'median cpu:  floor (parse only) %.3f s, belay lint %.3f s, ratio %.2fx\n' "$fc" "$lc" "$(echo "$lc / $fc" | bc -l)"
printf 'target < 1 s on one core: wall %s, cpu %s\n' "$( (( $(echo "$l < 1" | bc -l) )) && echo met || echo MISSED)" \
  "$( (( $(echo "$lc < 1" | bc -l) )) && echo met || echo MISSED)"
