# Shared by the benchmarks: a temporary project with N generated up/down pairs on its own
# embedded cluster, the floor's concatenated SQL files, and small timing helpers.
# Sourced after `root` and `belay` are set; defines work, admin and the functions below.

now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc -l; }
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# bench_project N: $work/proj with N pairs, $work/all_up.sql and $work/all_down.sql (newest
# first), its cluster started; $admin is the URL of its postgres database.
bench_project() {
  work="$(mktemp -d /tmp/belay-bench.XXXXXX)"; chmod 755 "$work"
  trap '"$belay" -C "$work/proj" db stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
  mkdir -p "$work/proj"
  "$root/bench/gen_migrations.sh" "$work/proj/migrations" "$1"
  printf '[migrations]\ndir = "migrations"\n' > "$work/proj/belay.toml"
  cat $(ls "$work/proj/migrations"/*.sql | grep -v '\.down\.sql$' | sort) > "$work/all_up.sql"
  cat $(ls "$work/proj/migrations"/*.down.sql | sort -r) > "$work/all_down.sql"
  "$belay" -C "$work/proj" db start >/dev/null
  admin="$("$belay" -C "$work/proj" db url --database postgres)"
}

# fresh NAME: a new database NAME from the template; db_url NAME: its URL.
fresh() { psql -X -q -o /dev/null "$admin" -c "drop database if exists $1 with (force)" -c "create database $1 template belay_template" >/dev/null 2>&1; }
db_url() { local u="${admin%%\?*}"; echo "${u%/*}/$1?${admin#*\?}"; }
