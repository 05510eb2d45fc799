#!/usr/bin/env bash
# Issue 3 benchmark: rehearse the 500-pair set with full proof (fingerprint, up,
# fingerprint, down, fingerprint, up, fingerprint for every migration, with lock
# observation) against the floor: one `psql -f` session running every up file, on the
# same embedded cluster, in the same run. Target: <= 20x the floor.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
belay="${BELAY:-$root/build/belay}"
n="${N:-500}"; rounds="${ROUNDS:-3}"
source "$root/bench/lib.sh"
bench_project "$n"

declare -a floor reh ratio
for ((r = 1; r <= rounds; r++)); do
  fresh bench_floor; url="$(db_url bench_floor)"
  t0=$(now); psql -X -q -v ON_ERROR_STOP=1 -f "$work/all_up.sql" "$url" >/dev/null; t1=$(now)
  f=$(echo "$t1 - $t0" | bc -l)
  t0=$(now); "$belay" -C "$work/proj" rehearse --no-evidence --json > "$work/rehearse.json"; t1=$(now)
  b=$(echo "$t1 - $t0" | bc -l)
  ok=$(python3 -c "import json;j=json.load(open('$work/rehearse.json'));print(j['ok'], j['summary']['restored'], j['summary']['with_down'])")
  [ "${ok%% *}" = "True" ] || { echo "rehearsal did not prove the set: $ok" >&2; exit 1; }
  floor+=("$f"); reh+=("$b"); ratio+=("$(echo "$b / $f" | bc -l)")
  printf 'round %d: floor %.3f s, belay rehearse %.3f s, %.2fx\n' "$r" "$f" "$b" "${ratio[-1]}" >&2
done
printf '%d migrations, %d rounds (median), %s, %d cores\n' "$n" "$rounds" \
  "$(psql -X -qAt "$admin" -c 'show server_version')" "$(nproc)"
printf '%-40s %8.3f s\n' "floor: psql -f (all ups, 1 session)" "$(median "${floor[@]}")"
printf '%-40s %8.3f s   %5.2fx floor (median of per-round ratios; target <= 20x)\n' \
  "belay rehearse (full proof, $ok)" "$(median "${reh[@]}")" "$(median "${ratio[@]}")"
