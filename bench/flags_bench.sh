#!/usr/bin/env bash
# In-process flag evaluation on one core (issue 7): 200 flags, each a flexibleRollout with
# an IN constraint, a million distinct contexts. Times belay's evaluator (build/bench/flags_bench)
# and, when node and npm are here, the Unleash Node SDK on the same document and contexts
# in the same run, and prints the ratio. Both are pinned to one CPU with taskset.
#   bench/flags_bench.sh [BUILD_DIR]   (N=50000000 ROUNDS=5 NODE_N=2000000 NODE_ROUNDS=3)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build}"
bench="$build/bench/flags_bench"
[ -x "$bench" ] || { echo "build first: cmake --build $build --target flags_bench" >&2; exit 2; }
work="$(mktemp -d /tmp/belay-flags-bench.XXXXXX)"
trap 'rm -rf "$work"' EXIT
pin=(); command -v taskset >/dev/null && pin=(taskset -c 1)

belay_out="$("${pin[@]}" "$bench" "${N:-50000000}" "${ROUNDS:-5}" "$work/doc.json")"
echo "$belay_out"
belay_rate="$(echo "$belay_out" | awk '/^is_enabled/ {for (i = 1; i <= NF; i++) if ($i == "median") {print $(i + 1); exit}}')"

if command -v node >/dev/null && command -v npm >/dev/null; then
  (cd "$work" && npm install --silent --no-audit --no-fund unleash-client >/dev/null 2>&1) || { echo "npm install unleash-client failed: no floor" >&2; exit 0; }
  node_out="$("${pin[@]}" node "$root/bench/flags_node_floor.js" "$work" "$work/doc.json" "${NODE_N:-2000000}" "${NODE_ROUNDS:-3}")"
  echo "$node_out (unleash-client $(node -p "require('$work/node_modules/unleash-client/package.json').version"))"
  node_rate="$(echo "$node_out" | awk '{for (i = 1; i <= NF; i++) if ($i == "median") {print $(i + 1); exit}}')"
  echo "ratio (median is_enabled wall, belay / Node SDK): $(echo "$belay_rate / $node_rate" | bc -l | xargs printf '%.1f')x"
else
  echo "node/npm not found: Node SDK floor not measured (the issue quotes ~0.18 M/s on these machines)"
fi
