#!/usr/bin/env bash
# HTTP frontend evaluation (issue 7 §4): `belay serve` answering GET /api/frontend for a
# different user on every request, keep-alive, driven by wrk on the same machine. The
# snapshot holds FLAGS flags (default 10: the issue's "10 flags per request"), each a
# flexibleRollout with an IN constraint on a property, so every request evaluates FLAGS
# flags and returns the enabled ones. The floor, in the same run against the same server
# and connections: GET /healthz (routing + a small static JSON body, no token, no
# evaluation) — what cpp-httplib costs per request. Prints req/s, p50/p99 and the ratio.
#   bench/serve_bench.sh [BUILD_DIR]   (FLAGS=10 CONNS=32 THREADS=1 SECS=10 ROUNDS=3)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build}"
belay="$build/belay"
[ -x "$belay" ] || { echo "build first: cmake --build $build --target belay" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk is not installed (scripts/setup.sh installs it)" >&2; exit 2; }
source "$root/bench/lib.sh"
flags="${FLAGS:-10}" conns="${CONNS:-32}" wthreads="${THREADS:-1}" dur="${SECS:-10}" rounds="${ROUNDS:-3}"

bench_project 1
fresh serve_bench
url="$(db_url serve_bench)"
"$belay" -C "$work/proj" --target "$url" --no-evidence serve --listen 127.0.0.1:0 --threads $((conns + 8)) \
  > "$work/serve.out" 2> "$work/serve.err" &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; "$belay" -C "$work/proj" db stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
for _ in $(seq 200); do grep -q 'listening on' "$work/serve.out" && break; sleep 0.05; done
port="$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/serve.out")"
[ -n "$port" ] || { cat "$work/serve.err" >&2; exit 1; }
base="http://127.0.0.1:$port"

# Tokens straight into the store (the server hears the change and reloads its tokens).
psql -X -q -o /dev/null "$url" -c "insert into belay.flag_tokens (name, kind, environment, secret_sha256) values
  ('bench-admin', 'admin', 'production', encode(sha256('bench-admin-secret'), 'hex')),
  ('bench-web', 'frontend', 'production', encode(sha256('bench-web-secret'), 'hex'))"
sleep 0.5
# FLAGS flags: flexibleRollout 50% on userId with `plan IN (pro, team, enterprise)`.
doc="$(awk -v n="$flags" 'BEGIN {
  printf "{\"version\": 2, \"segments\": [], \"features\": ["
  for (i = 0; i < n; i++) {
    printf "%s{\"name\": \"flag-%03d\", \"enabled\": true, \"strategies\": [{\"name\": \"flexibleRollout\", ", (i ? "," : ""), i
    printf "\"parameters\": {\"rollout\": \"50\", \"stickiness\": \"userId\", \"groupId\": \"flag-%03d\"}, ", i
    printf "\"constraints\": [{\"contextName\": \"plan\", \"operator\": \"IN\", \"values\": [\"pro\", \"team\", \"enterprise\"]}]}]}"
  }
  printf "]}" }')"
curl -sf -o /dev/null -H 'Authorization: bench-admin-secret' -H 'Content-Type: application/json' \
  --data-binary "$doc" "$base/api/admin/import"
sleep 0.5
got="$(curl -sf -H 'Authorization: bench-web-secret' "$base/api/frontend?userId=1&properties%5Bplan%5D=pro" | jq '.toggles | length')"
echo "snapshot: $flags flags; a sample answer has $got enabled toggles"

# A different user on every request (counter per wrk thread), plan=pro so the
# constraint passes and the rollout decides.
cat > "$work/frontend.lua" <<'EOF'
local n = 0
wrk.headers["Authorization"] = "bench-web-secret"
request = function()
  n = n + 1
  return wrk.format("GET", "/api/frontend?userId=user-" .. n .. "&sessionId=s" .. n .. "&properties%5Bplan%5D=pro")
end
EOF

run() {  # run NAME [wrk args...]: prints "req/s p50_ms p99_ms"
  shift; local out
  out="$(wrk -t"$wthreads" -c"$conns" -d"${dur}s" --latency "$@")"
  local rps p50 p99
  rps="$(echo "$out" | awk '/^Requests\/sec/ {print $2}')"
  p50="$(echo "$out" | awk '$1 == "50%" {print $2}')"
  p99="$(echo "$out" | awk '$1 == "99%" {print $2}')"
  if echo "$out" | grep -q 'Non-2xx'; then echo "non-2xx answers: $(echo "$out" | grep Non-2xx)" >&2; fi
  echo "$rps $p50 $p99"
}

fr=() fl=() ratios=()
for r in $(seq "$rounds"); do
  read -r frps fp50 fp99 < <(run frontend -s "$work/frontend.lua" "$base")
  read -r hrps hp50 hp99 < <(run floor "$base/healthz")
  ratio="$(echo "$frps / $hrps" | bc -l)"
  printf 'round %d: frontend %s req/s (p50 %s, p99 %s) | floor /healthz %s req/s (p50 %s, p99 %s) | ratio %.2f\n' \
    "$r" "$frps" "$fp50" "$fp99" "$hrps" "$hp50" "$hp99" "$ratio"
  fr+=("$frps") fl+=("$hrps") ratios+=("$ratio")
done
printf 'median: frontend %.0f req/s, floor %.0f req/s, ratio %.2f (wrk -t%s -c%s -d%ss, %s flags, %s cores)\n' \
  "$(median "${fr[@]}")" "$(median "${fl[@]}")" "$(median "${ratios[@]}")" "$wthreads" "$conns" "$dur" "$flags" "$(nproc)"
curl -sf "$base/metrics" | grep -E '^belay_http_request_duration_seconds_(sum|count)\{route="frontend"' || true
