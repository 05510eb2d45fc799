#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine for belay (idempotent), builds it, then runs:
#   scripts/setup.sh demo   the example project migrated on the embedded database
#   scripts/setup.sh test   the whole test suite (ctest)
#   scripts/setup.sh build  only install + build
# Environment: BELAY_BUILD_DIR (default build), BELAY_CMAKE_ARGS (extra cmake flags).
set -euo pipefail

mode="${1:-build}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BELAY_BUILD_DIR:-build}"
cd "$root"

packages=(
  build-essential cmake ninja-build pkg-config git
  libpq-dev libpg-query-dev libprotobuf-c-dev
  nlohmann-json3-dev libcli11-dev libfmt-dev libtomlplusplus-dev libssl-dev libre2-dev
  libcpp-httplib-dev libboost-dev wrk
  libgtest-dev libgmock-dev
  postgresql postgresql-client
  python3-jsonschema
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "==> installing: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

cmake_args=(-S . -B "$build" -G Ninja)
[ -n "${CI:-}" ] && cmake_args+=(-DBELAY_WERROR=ON)
# shellcheck disable=SC2206
[ -n "${BELAY_CMAKE_ARGS:-}" ] && cmake_args+=(${BELAY_CMAKE_ARGS})
echo "==> building in $build"
cmake "${cmake_args[@]}" >/dev/null
targets=()
[ "$mode" = demo ] && targets=(--target belay)   # the demo needs only the binary
cmake --build "$build" -j "$(nproc)" "${targets[@]}"

case "$mode" in
  demo)
    belay="$root/$build/belay"
    cd examples/demo
    echo "==> belay status (before)"
    "$belay" status
    echo "==> belay migrate"
    "$belay" migrate
    echo "==> belay status (after)"
    "$belay" status
    echo "==> the embedded database keeps running; stop it with: $belay -C examples/demo db stop"
    ;;
  test)
    rc=0
    ctest --test-dir "$build" --output-on-failure -j "$(nproc)" || rc=$?
    # The shared test cluster is throwaway: stop it whatever the outcome.
    "$root/$build/belay" -C "$build/test-root/cluster" db stop >/dev/null 2>&1 || true
    exit $rc
    ;;
  build) ;;
  *) echo "usage: scripts/setup.sh demo|test|build" >&2; exit 2 ;;
esac
