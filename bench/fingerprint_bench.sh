#!/usr/bin/env bash
# Schema fingerprint benchmark, on the ~2,000-object schema of FingerprintPerf (125 tables,
# each with 5 columns, primary key, index, identity sequence, RLS, policy, grant, comment,
# owners) and its ~600-object sibling:
#   floor            pg_dump --schema-only of the same schema: the conventional snapshot
#   belay capture    the full model (fingerprint::capture), median of 5
#   belay digest     hash and count only, computed in the server (fingerprint::digest), median of 11
#   belay fingerprint  the CLI end to end (process start, connect, capture, print), median
# The in-process numbers come from the FingerprintPerf tests, which also write the schema
# they built so the floor and the CLI run on an equivalent database of a fresh cluster.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
belay="${BELAY:-$root/build/belay}"
tests="${FINGERPRINT_TEST:-$root/build/tests/fingerprint_test}"
rounds="${ROUNDS:-5}"
work="$(mktemp -d /tmp/belay-fp-bench.XXXXXX)"; chmod 755 "$work"
trap '"$belay" -C "$work" db stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

now() { date +%s.%N; }
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# belay's numbers (and the schemas they were measured on).
out="$(BELAY_FP_SCHEMA_OUT="$work/schema" "$tests" --gtest_filter='FingerprintPerf.*' 2>&1)" || { echo "$out" >&2; exit 1; }
field() { echo "$out" | grep "\[fingerprint-perf\] $1 " | sed -E "s/.* $2=([0-9.]+).*/\1/"; }

"$belay" -C "$work" db start >/dev/null
admin="$("$belay" -C "$work" db url --database postgres)"
db_url() { local u="${admin%%\?*}"; echo "${u%/*}/$1?${admin#*\?}"; }

printf 'PostgreSQL %s, %s, %d cores, %d rounds (median)\n' \
  "$(psql -X -qAt "$admin" -c 'show server_version')" "$(uname -m)" "$(nproc)" "$rounds"
for tag in 2000 600; do
  name="fp_bench_$tag"
  psql -X -q -o /dev/null "$admin" -c "set client_min_messages = warning" -c "drop database if exists $name with (force)" \
    -c "create database $name template belay_template"
  psql -X -q -o /dev/null -v ON_ERROR_STOP=1 -f "$work/schema.$tag.sql" "$(db_url "$name")"
  declare -a dump=()
  for ((r = 1; r <= rounds; r++)); do
    t0=$(now); pg_dump --schema-only "$(db_url "$name")" >/dev/null; t1=$(now)
    dump+=("$(echo "($t1 - $t0) * 1000" | bc -l)")
  done
  floor=$(median "${dump[@]}")
  declare -a cli=()
  for ((r = 1; r <= rounds; r++)); do
    t0=$(now); "$belay" --no-evidence --target "$(db_url "$name")" fingerprint --json >/dev/null; t1=$(now)
    cli+=("$(echo "($t1 - $t0) * 1000" | bc -l)")
  done
  clim=$(median "${cli[@]}")
  objects=$(field "$tag" objects); cap=$(field "$tag" capture_ms); dig=$(field "$tag" digest_ms)
  printf '\n%s objects (as the model counts them)\n' "$objects"
  printf '  %-36s %9.2f ms\n' "floor: pg_dump --schema-only" "$floor"
  printf '  %-36s %9.2f ms   %5.2fx floor\n' "belay capture (full model)" "$cap" "$(echo "$cap / $floor" | bc -l)"
  printf '  %-36s %9.2f ms   %5.3fx floor\n' "belay digest (hash in the server)" "$dig" "$(echo "$dig / $floor" | bc -l)"
  printf '  %-36s %9.2f ms   %5.2fx floor\n' "belay fingerprint --json (CLI)" "$clim" "$(echo "$clim / $floor" | bc -l)"
done
