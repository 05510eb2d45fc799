#!/usr/bin/env bash
# RLS contract benchmark: 50 tables x 4 personas x 4 commands (800 expectations) on a
# Supabase-flavored embedded database. Each table has RLS with owner policies for every
# command and 4 fixture rows (2 per user); personas anon, alice, bob, service_role.
#   belay rls test          the whole CLI run (process start, connect, fixtures, every probe),
#                           median of ROUNDS; and the library's own time (summary.ms)
#   floor                   the very statements belay sent (its --script output), run by one
#                           psql session as a plain SQL script (psql -f), median of ROUNDS
# Target: under 2 s for the belay run.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
belay="${BELAY:-$root/build/belay}"
rounds="${ROUNDS:-5}"
tables="${TABLES:-50}"
work="$(mktemp -d /tmp/belay-rls-bench.XXXXXX)"; chmod 755 "$work"
trap '"$belay" -C "$work" db stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

now() { date +%s.%N; }
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

printf '[project]\nname = "rls-bench"\nflavor = "supabase"\n' > "$work/belay.toml"
"$belay" -C "$work" db start >/dev/null
db="$("$belay" -C "$work" db url)"

alice=00000000-0000-0000-0000-00000000000a
bob=00000000-0000-0000-0000-00000000000b
{
  for ((i = 1; i <= tables; i++)); do
    t="public.t$i"
    cat <<SQL
create table $t (id int primary key, owner uuid not null references auth.users (id), org int, body text);
create index on $t (owner);
alter table $t enable row level security;
create policy sel on $t for select to authenticated using (owner = (select auth.uid()));
create policy ins on $t for insert to authenticated with check (owner = (select auth.uid()));
create policy upd on $t for update to authenticated using (owner = (select auth.uid())) with check (owner = (select auth.uid()));
create policy del on $t for delete to authenticated using (owner = (select auth.uid()));
SQL
  done
} > "$work/schema.sql"
psql -X -q -o /dev/null -v ON_ERROR_STOP=1 -f "$work/schema.sql" "$db"

mkdir -p "$work/rls"
{
  printf '[personas.anon]\nrole = "anon"\n\n'
  printf '[personas.alice]\nrole = "authenticated"\nclaims = { sub = "%s", email = "alice@example.com" }\n\n' "$alice"
  printf '[personas.bob]\nrole = "authenticated"\nclaims = { sub = "%s", email = "bob@example.com" }\n\n' "$bob"
  printf '[personas.service]\nrole = "service_role"\n\n'
  printf '[[fixtures]]\ntable = "auth.users"\nrows = [ { id = "%s" }, { id = "%s" } ]\n\n' "$alice" "$bob"
  for ((i = 1; i <= tables; i++)); do
    printf '[[fixtures]]\ntable = "public.t%d"\nrows = [ { id = 1, owner = "%s", org = 1, body = "a1" }, { id = 2, owner = "%s", org = 1, body = "a2" },\n' "$i" "$alice" "$alice"
    printf '         { id = 3, owner = "%s", org = 2, body = "b1" }, { id = 4, owner = "%s", org = 2, body = "b2" } ]\n\n' "$bob" "$bob"
  done
  for ((i = 1; i <= tables; i++)); do
    printf '[tables."public.t%d"]\n' "$i"
    for cmd in select insert update delete; do
      printf '%s = { anon = "denied", alice = "where owner = auth.uid()", bob = "where owner = auth.uid()", service = "allowed" }\n' "$cmd"
    done
    printf '\n'
  done
} > "$work/rls/contract.toml"

# One run to check the contract holds and to get the statements it sends.
"$belay" -C "$work" --no-evidence rls test --json --script "$work/probes.sql" > "$work/first.json" || {
  echo "the benchmark contract does not hold:" >&2; head -c 2000 "$work/first.json" >&2; exit 1; }
read -r expectations probes statements < <(python3 -c '
import json,sys; s=json.load(open(sys.argv[1]))["summary"]; print(s["expectations"], s["probes"], s["statements"])' "$work/first.json")

declare -a cli=() lib=() floor=()
for ((r = 1; r <= rounds; r++)); do
  t0=$(now); "$belay" -C "$work" --no-evidence rls test --json > "$work/run.json"; t1=$(now)
  cli+=("$(echo "($t1 - $t0) * 1000" | bc -l)")
  lib+=("$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["summary"]["ms"])' "$work/run.json")")
  t0=$(now); psql -X -q -o /dev/null -f "$work/probes.sql" "$db" 2>/dev/null; t1=$(now)
  floor+=("$(echo "($t1 - $t0) * 1000" | bc -l)")
done
c=$(median "${cli[@]}"); l=$(median "${lib[@]}"); f=$(median "${floor[@]}")
printf 'PostgreSQL %s, %s, %d cores, %d rounds (median)\n' \
  "$(psql -X -qAt "$db" -c 'show server_version')" "$(uname -m)" "$(nproc)" "$rounds"
printf '%d tables x 4 personas x 4 commands: %d expectations, %d probes, %d statements\n' \
  "$tables" "$expectations" "$probes" "$statements"
printf '  %-44s %9.1f ms\n' "floor: psql -f (the same statements, 1 session)" "$f"
printf '  %-44s %9.1f ms   %5.2fx floor\n' "belay rls test (library: fixtures + probes)" "$l" "$(echo "$l / $f" | bc -l)"
printf '  %-44s %9.1f ms   %5.2fx floor   (target < 2000 ms)\n' "belay rls test --json (whole process)" "$c" "$(echo "$c / $f" | bc -l)"
