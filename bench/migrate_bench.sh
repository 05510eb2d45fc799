#!/usr/bin/env bash
# Issue 2 benchmark: 500 small up/down pairs, on one embedded cluster, in one run.
#   floor            one `psql -f` session running every up file (then every down file)
#   belay migrate    all 500, each in its own transaction with its history row
#   belay rollback   all 500 down scripts in reverse
#   psql per file    seed 002's loop: one psql process per file (for scale)
# Prints median seconds over ROUNDS rounds and the ratios to the floor.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
belay="${BELAY:-$root/build/belay}"
n="${N:-500}"; rounds="${ROUNDS:-5}"
source "$root/bench/lib.sh"
bench_project "$n"

# The floor and belay run back to back in every round, in alternating order, and each
# round gives its own ratio: on a shared machine the load drifts between rounds, so the
# median of per-round ratios is steadier than a ratio of medians.
declare -a floor_up floor_down migrate rollback loop r_up r_down
run_floor() {
  fresh bench_floor; local url="$(db_url bench_floor)"
  local t0 t1 t2
  t0=$(now); psql -X -q -v ON_ERROR_STOP=1 -f "$work/all_up.sql" "$url" >/dev/null; t1=$(now)
  psql -X -q -v ON_ERROR_STOP=1 -f "$work/all_down.sql" "$url" >/dev/null; t2=$(now)
  fu_r=$(secs "$t0" "$t1"); fd_r=$(secs "$t1" "$t2")
}
run_belay() {
  fresh bench_belay; local burl; burl="$(db_url bench_belay)"
  local t0 t1 t2 left
  t0=$(now); "$belay" -C "$work/proj" --target "$burl" migrate >/dev/null; t1=$(now)
  "$belay" -C "$work/proj" --target "$burl" rollback --to 0 >/dev/null; t2=$(now)
  bu_r=$(secs "$t0" "$t1"); bd_r=$(secs "$t1" "$t2")
  left=$(psql -X -qAt "$burl" -c "select count(*) from belay.migrations")
  [ "$left" = "0" ] || { echo "rollback left $left migrations applied" >&2; exit 1; }
}
for ((r = 1; r <= rounds; r++)); do
  if ((r % 2)); then run_floor; run_belay; else run_belay; run_floor; fi
  floor_up+=("$fu_r"); floor_down+=("$fd_r"); migrate+=("$bu_r"); rollback+=("$bd_r")
  r_up+=("$(echo "$bu_r / $fu_r" | bc -l)"); r_down+=("$(echo "$bd_r / $fd_r" | bc -l)")
  if [ "$r" -eq 1 ]; then  # the per-file loop is slow: one round is enough for scale
    fresh bench_loop; lurl="$(db_url bench_loop)"
    t0=$(now)
    for f in $(ls "$work/proj/migrations"/*.sql | grep -v '\.down\.sql$' | sort); do
      psql -X -q -v ON_ERROR_STOP=1 -f "$f" "$lurl" >/dev/null
    done
    t1=$(now); loop+=("$(secs "$t0" "$t1")"); loop_ratio=$(echo "${loop[0]} / $fu_r" | bc -l)
  fi
done

fu=$(median "${floor_up[@]}"); fd=$(median "${floor_down[@]}")
mu=$(median "${migrate[@]}"); rd=$(median "${rollback[@]}"); lp=$(median "${loop[@]}")
printf '%d migrations, %d rounds (median), PostgreSQL %s, %s, %d cores\n' "$n" "$rounds" \
  "$(psql -X -qAt "$admin" -c 'show server_version')" "$(uname -m)" "$(nproc)"
printf '%-34s %8.3f s\n' "floor: psql -f (all ups, 1 session)" "$fu"
printf '%-34s %8.3f s   %5.2fx floor (median of per-round ratios; range %s-%s)\n' "belay migrate" "$mu" \
  "$(median "${r_up[@]}")" "$(printf '%s\n' "${r_up[@]}" | sort -n | head -1 | cut -c1-4)" "$(printf '%s\n' "${r_up[@]}" | sort -n | tail -1 | cut -c1-4)"
printf '%-34s %8.3f s\n' "floor: psql -f (all downs)" "$fd"
printf '%-34s %8.3f s   %5.2fx floor (median of per-round ratios)\n' "belay rollback" "$rd" "$(median "${r_down[@]}")"
printf '%-34s %8.3f s   %5.2fx floor (round 1)\n' "psql per file (seed 002 loop)" "$lp" "$loop_ratio"
