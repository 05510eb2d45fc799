#!/usr/bin/env bash
# Issue 6 benchmark: seed 003's backfill, examples/backfill's job, on one embedded cluster.
#   data           USERS users (default 20,000): ~580,000 target rows over 7 tables with
#                  foreign keys and indexes, plus an older row for every tenth user
#   floor          bench/backfill_floor.sql in one psql session: the same transform as
#                  set-based SQL (INSERT … SELECT … jsonb_array_elements, the same UUIDv5 ids),
#                  no audit, no per-user atomicity, no checks
#   belay run      belay backfill run: backup, per-user atomic batches, audit, progress,
#                  evidence
#   belay verify   counts per user and entity, orphans, duplicate mappings
#   belay rollback every row the run created, children first
# Each round copies a fresh database for each contender from one seeded template; floor
# and belay run back to back in alternating order; the ratio is the median of per-round
# ratios. After the first round the two databases are compared row by row.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
belay="${BELAY:-$root/build/belay}"
users="${USERS:-20000}"; rounds="${ROUNDS:-3}"   # RUN_ARGS: extra flags for belay backfill run
now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc -l; }
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

work="$(mktemp -d /tmp/belay-bfbench.XXXXXX)"; chmod 755 "$work"
trap '"$belay" -C "$work/proj" db stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
cp -r "$root/examples/backfill" "$work/proj"
"$belay" -C "$work/proj" db start >/dev/null
admin="$("$belay" -C "$work/proj" db url --database postgres)"
db_url() { local u="${admin%%\?*}"; echo "${u%/*}/$1?${admin#*\?}"; }
psql_q() { psql -X -q -v ON_ERROR_STOP=1 "$@" >/dev/null; }

echo "seeding $users users ..." >&2
psql_q "$admin" -c "create database bf_seed template belay_template"
"$belay" -C "$work/proj" --target "$(db_url bf_seed)" --no-evidence migrate >/dev/null
t0=$(now); psql_q -v users="$users" -f "$root/bench/backfill_gen.sql" "$(db_url bf_seed)"; t1=$(now)
# uuid-ossp for the floor's ids; belay computes its own and does not need it.
psql_q "$(db_url bf_seed)" -c 'create extension if not exists "uuid-ossp"' -c 'vacuum analyze'
echo "seeded in $(secs "$t0" "$t1") s" >&2
ns="$(psql -X -qAt "$(db_url bf_seed)" -c \
  "select uuid_generate_v5(uuid_generate_v5(uuid_ns_url(), 'https://belay.dev/ns/backfill'), 'user_app_state')")"

fresh() { psql_q "$admin" -c "drop database if exists $1 with (force)" -c "create database $1 template bf_seed"; }
# Whoever runs second would otherwise pay for the first one's aftermath (checkpoint,
# autovacuum of 580,000 fresh rows): flush it and wait for autovacuum to be idle.
settle() {
  psql_q "$admin" -c checkpoint
  for _ in $(seq 1 120); do
    [ "$(psql -X -qAt "$admin" -c "select count(*) from pg_stat_activity where backend_type = 'autovacuum worker'")" = 0 ] && break
    sleep 0.5
  done
}
run_floor() {
  settle
  local t0 t1; t0=$(now)
  psql_q -v ns="'$ns'" -f "$root/bench/backfill_floor.sql" "$(db_url bf_floor)" 2>/dev/null
  t1=$(now); f_r=$(secs "$t0" "$t1")
}
run_belay() {
  settle
  local t0 t1; t0=$(now)
  # shellcheck disable=SC2086
  "$belay" -C "$work/proj" --target "$(db_url bf_belay)" backfill run jobs/user_app_state.toml --json ${RUN_ARGS:-} > "$work/run.json"
  t1=$(now); b_r=$(secs "$t0" "$t1")
}
declare -a floor belay_run ratios
for ((r = 1; r <= rounds; r++)); do
  fresh bf_floor; fresh bf_belay
  if ((r % 2)); then run_floor; run_belay; else run_belay; run_floor; fi
  floor+=("$f_r"); belay_run+=("$b_r"); ratios+=("$(echo "$b_r / $f_r" | bc -l)")
  printf 'round %d (%s first): floor %.2f s, belay run %.2f s, %.2fx\n' "$r" "$( ((r % 2)) && echo floor || echo belay)" \
    "$f_r" "$b_r" "${ratios[-1]}" >&2
  # Where belay's time went, from its evidence: backup, then per batch read/transform/write
  # (summed over the workers, which run at once).
  python3 - "$work/run.json" >&2 <<'PY'
import json, sys
run = json.load(open(sys.argv[1]))
ev = [json.loads(l) for l in open(run["evidence"] + "/events.jsonl")]
b = [e["data"] for e in ev if e["kind"] == "backfill.batch"]
ts = {e["kind"]: e["ts"] for e in ev}
s = lambda k: sum(x[k] for x in b) / 1000
print(f"  belay: {len(b)} batches; summed over workers: read {s('read_ms'):.1f} s, transform {s('transform_ms'):.1f} s, "
      f"write {s('write_ms'):.1f} s; run started {ts['run.start'][11:23]}, backup done {ts['backfill.backup'][11:23]}, "
      f"end {ts['run.end'][11:23]}")
PY
  if [ "$r" -eq 1 ]; then
    # Same rows in both (created_at aside): belay computes exactly what the floor does.
    for t in orgs personas contents accounts leads '"references"' inbox_items; do
      q="select md5(string_agg(x, '|' order by x)) from (select (to_jsonb(t) - 'created_at')::text x from $t t) s"
      a="$(psql -X -qAt "$(db_url bf_floor)" -c "$q")"; b="$(psql -X -qAt "$(db_url bf_belay)" -c "$q")"
      [ "$a" = "$b" ] || { echo "belay and the floor differ in $t" >&2; exit 1; }
    done
  fi
done
rows="$(psql -X -qAt "$(db_url bf_belay)" -c "select sum(rows) from belay.backfill_progress")"
q="$(psql -X -qAt "$(db_url bf_belay)" -c "select count(*) from belay.backfill_progress where state = 'quarantined'")"
t0=$(now); "$belay" -C "$work/proj" --target "$(db_url bf_belay)" backfill verify jobs/user_app_state.toml >/dev/null; t1=$(now)
verify_s=$(secs "$t0" "$t1")
t0=$(now); "$belay" -C "$work/proj" --target "$(db_url bf_belay)" backfill rollback jobs/user_app_state.toml >/dev/null; t1=$(now)
rollback_s=$(secs "$t0" "$t1")
left="$(psql -X -qAt "$(db_url bf_belay)" -c "select (select count(*) from orgs) + (select count(*) from inbox_items)")"
[ "$left" = "0" ] || { echo "rollback left $left rows" >&2; exit 1; }

fm=$(median "${floor[@]}"); bm=$(median "${belay_run[@]}"); rm_=$(median "${ratios[@]}")
printf '%d users, %s target rows (%s quarantined), %d rounds (median), PostgreSQL %s, %s, %d cores\n' "$users" "$rows" "$q" \
  "$rounds" "$(psql -X -qAt "$admin" -c 'show server_version')" "$(uname -m)" "$(nproc)"
printf '%-44s %8.2f s\n' "floor: set-based SQL (1 psql session)" "$fm"
printf '%-44s %8.2f s   %5.2fx floor (median of per-round ratios; range %s-%s)\n' "belay backfill run" "$bm" "$rm_" \
  "$(printf '%s\n' "${ratios[@]}" | sort -n | head -1 | cut -c1-4)" "$(printf '%s\n' "${ratios[@]}" | sort -n | tail -1 | cut -c1-4)"
printf '%-44s %8.2f s   %5.2fx floor\n' "belay backfill verify" "$verify_s" "$(echo "$verify_s / $fm" | bc -l)"
printf '%-44s %8.2f s   %5.2fx floor\n' "belay backfill rollback" "$rollback_s" "$(echo "$rollback_s / $fm" | bc -l)"
