#!/usr/bin/env bash
# Does belay's evaluator agree with the Unleash Node SDK? Every deterministic flag of every
# Unleash client-specification document (tests/data/unleash-spec/), for generated contexts
# drawn from the values the documents' constraints name, through both; prints each
# disagreement. Needs node and npm (installs unleash-client into a temporary directory).
#   bench/flags_node_agree.sh [BUILD_DIR]   (PER_DOC=300 contexts per document)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build}"
agree="$build/bench/flags_node_agree"
[ -x "$agree" ] || { echo "build first: cmake --build $build --target flags_node_agree" >&2; exit 2; }
command -v node >/dev/null && command -v npm >/dev/null || { echo "needs node and npm" >&2; exit 2; }
work="$(mktemp -d /tmp/belay-flags-agree.XXXXXX)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm install --silent --no-audit --no-fund unleash-client >/dev/null 2>&1)
echo "unleash-client $(node -p "require('$work/node_modules/unleash-client/package.json').version")"
node "$root/bench/flags_node_agree.js" "$work" "$root/tests/data/unleash-spec" "${PER_DOC:-300}" > "$work/answers.jsonl"
"$agree" "$root/tests/data/unleash-spec" < "$work/answers.jsonl"
