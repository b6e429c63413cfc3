#!/usr/bin/env bash
# The demo: installs the Debian packages, builds etxroll, then shows what it
# does today on the example inventories: validation, a refused broken
# inventory (file:line:col, exit 2), and an offline plan of a canary
# rollout. The live rollout on a local fleet of agents comes with the
# rollout engine (see README.md, "Status").
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
etxroll=build/etxroll

run() {
    printf '\n$ %s\n' "$*"
    "$@"
}

run "$etxroll" --version
for f in inventory-examples/*.yml; do
    run "$etxroll" validate "$f"
done

broken=$(mktemp /tmp/etxroll-demo-broken.XXXXXX.yml)
trap 'rm -f "$broken"' EXIT
sed 's/^fleet:/fleeet:/' inventory-examples/canary.yml >"$broken"
set +e
run "$etxroll" validate "$broken"
echo "(exit $?)"
set -e

run "$etxroll" plan inventory-examples/canary.yml --offline
