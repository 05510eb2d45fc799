#!/usr/bin/env bash
# Does an unmodified Unleash SDK pointed at `belay serve` answer as belay's own evaluator?
# For every Unleash client-specification document (tests/data/unleash-spec/): a fresh
# database, `belay flags import --file`, a client token, `belay serve`; the Unleash Node SDK
# (unleash-client from npm, `initialize` with the server's URL and token) syncs from the
# server and evaluates generated contexts; bench/flags_node_agree compares every answer with
# belay's C++ evaluator on the original document. So the chain store -> snapshot -> HTTP ->
# SDK is checked against the library, flag by flag. Prints each disagreement.
#   bench/flags_sdk_serve.sh [BUILD_DIR]   (PER_DOC=100; SDK_DIR=a directory holding
#   node_modules/unleash-client skips the npm install)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build}"
belay="$build/belay"
agree="$build/bench/flags_node_agree"
spec="$root/tests/data/unleash-spec"
[ -x "$belay" ] && [ -x "$agree" ] || { echo "build first: cmake --build $build --target belay flags_node_agree" >&2; exit 2; }
command -v node >/dev/null && command -v jq >/dev/null || { echo "needs node and jq" >&2; exit 2; }

work="$(mktemp -d /tmp/belay-sdk-serve.XXXXXX)"; chmod 755 "$work"
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  "$belay" -C "$work/proj" db stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
sdk="${SDK_DIR:-}"
if [ -z "$sdk" ]; then
  command -v npm >/dev/null || { echo "needs npm (or SDK_DIR)" >&2; exit 2; }
  sdk="$work/sdk"; mkdir -p "$sdk"
  (cd "$sdk" && npm install --silent --no-audit --no-fund unleash-client >/dev/null 2>&1)
fi
echo "unleash-client $(node -p "require('$sdk/node_modules/unleash-client/package.json').version")"

mkdir -p "$work/proj"
printf '[project]\nname = "sdk-serve"\n' > "$work/proj/belay.toml"
"$belay" -C "$work/proj" db start >/dev/null
admin="$("$belay" -C "$work/proj" db url --database postgres)"
db_url() { local u="${admin%%\?*}"; echo "${u%/*}/$1?${admin#*\?}"; }

n=0 served=0 refused=0
: > "$work/answers.jsonl"
for file in $(jq -r '.[]' "$spec/index.json"); do
  jq -e '.state.features' "$spec/$file" >/dev/null 2>&1 || continue   # the delta-API documents
  n=$((n + 1))
  psql -X -q -o /dev/null "$admin" -c "create database sdk_$n template belay_template"
  url="$(db_url "sdk_$n")"
  run=("$belay" -C "$work/proj" --target "$url" --no-evidence)
  jq '.state' "$spec/$file" > "$work/doc.json"
  if ! "${run[@]}" flags import --file "$work/doc.json" --json > "$work/import.json" 2>&1; then
    echo "$file: not imported: $(jq -r '.message // .' "$work/import.json" 2>/dev/null | head -1)"
    refused=$((refused + 1))
    continue
  fi
  token="$("${run[@]}" flags token create sdk --kind client --json | jq -r .secret)"
  "${run[@]}" serve --listen 127.0.0.1:0 > "$work/serve.out" 2> "$work/serve.err" &
  server=$!
  for _ in $(seq 200); do grep -q 'listening on' "$work/serve.out" && break; sleep 0.05; done
  port="$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/serve.out")"
  [ -n "$port" ] || { cat "$work/serve.err" >&2; exit 1; }
  node "$root/bench/flags_node_agree.js" "$sdk" "$spec" "${PER_DOC:-100}" "$file" "http://127.0.0.1:$port/api/" "$token" \
    >> "$work/answers.jsonl"
  kill "$server"; wait "$server" 2>/dev/null || true; server=""
  served=$((served + 1))
done
echo "$n documents: $served served to the SDK, $refused not imported"
"$agree" "$spec" < "$work/answers.jsonl"
