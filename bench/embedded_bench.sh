#!/usr/bin/env bash
# Embedded cluster start-up (issue 2: cold start <= 2 s).
#   floor        initdb + pg_ctl start -w by hand, as the server account
#   belay cold   `belay db start` on a project with no .belay/ (initdb, config, start, template db)
#   belay warm   `belay db start` of a stopped cluster
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
belay="${BELAY:-$root/build/belay}"
rounds="${ROUNDS:-5}"
work="$(mktemp -d /tmp/belay-ebench.XXXXXX)"; chmod 755 "$work"
bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
asuser=(); [ "$(id -u)" -eq 0 ] && asuser=(runuser -u postgres --)
cleanup() {
  for d in "$work"/p*; do "$belay" -C "$d" db stop >/dev/null 2>&1 || true; done
  for d in "$work"/f*; do "${asuser[@]}" "$bin/pg_ctl" -D "$d" stop -m immediate >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT
now() { date +%s.%N; }
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
declare -a floor cold warm
for ((r = 1; r <= rounds; r++)); do
  f="$work/f$r"; mkdir -p "$f"; [ "$(id -u)" -eq 0 ] && chown postgres "$f"
  port=$(( 20000 + RANDOM % 20000 ))
  t0=$(now)
  "${asuser[@]}" "$bin/initdb" -D "$f" -U postgres -A trust -E UTF8 --locale=C --no-sync --no-instructions >/dev/null
  "${asuser[@]}" "$bin/pg_ctl" -D "$f" -l "$f/log" -w -s -o "-p $port -k $f -c listen_addresses=127.0.0.1" start >/dev/null
  t1=$(now); floor+=("$(echo "$t1 - $t0" | bc -l)")
  "${asuser[@]}" "$bin/pg_ctl" -D "$f" stop -m fast -s >/dev/null

  p="$work/p$r"; mkdir -p "$p"
  t0=$(now); "$belay" -C "$p" db start >/dev/null; t1=$(now); cold+=("$(echo "$t1 - $t0" | bc -l)")
  "$belay" -C "$p" db stop >/dev/null
  t0=$(now); "$belay" -C "$p" db start >/dev/null; t1=$(now); warm+=("$(echo "$t1 - $t0" | bc -l)")
  "$belay" -C "$p" db stop >/dev/null
done
fl=$(median "${floor[@]}"); c=$(median "${cold[@]}"); w=$(median "${warm[@]}")
printf '%d rounds (median), %s, %d cores\n' "$rounds" "$("$bin/postgres" --version)" "$(nproc)"
printf '%-40s %6.3f s\n' "floor: initdb + pg_ctl start (by hand)" "$fl"
printf '%-40s %6.3f s   %4.2fx floor   (target <= 2 s)\n' "belay db start, cold (no .belay/)" "$c" "$(echo "$c / $fl" | bc -l)"
printf '%-40s %6.3f s\n' "belay db start, warm (stopped cluster)" "$w"
