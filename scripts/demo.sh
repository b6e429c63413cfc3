#!/usr/bin/env bash
# The demo: installs the Debian packages, builds etxroll, starts a local
# fleet of four agents on 127.0.0.1 (scripts/demo-fleet.sh), rolls the demo
# service from v1 to v2 across it (inventory-examples/local.yml), shows
# every host answering version 2, then rolls out a broken v3 that exits at
# start: the canary fails (no process runs v3 within restart.confirm, 2 s),
# the rollout halts and rolls back (exit 1), and every host answers
# version 2 again. The fleet is stopped at the end, also when something
# fails.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)" --target etxroll \
    etxroll-agent etx_demo_service_v1 etx_demo_service_v2 \
    etx_demo_service_v3 >/dev/null
etxroll=build/etxroll
base=/tmp/etxroll-demo
svc=build/tests/agent-daemon
export ETX_BUILD=$top/build ETX_AGENT_BASE=7420 ETX_SERVICE_BASE=8180
export ETX_DEMO_KEY=$top/inventory-examples/demo.key

run() {
    printf '\n$ %s\n' "$*"
    "$@"
}

versions() {
    local i
    for i in 1 2 3 4; do
        printf 'node%s: %s' "$i" \
            "$(curl -s --max-time 2 "http://127.0.0.1:818$i/" || echo 'no answer')"
        echo
    done
}

scripts/demo-fleet.sh stop "$base" 2>/dev/null || true
rm -rf "$base"
trap 'scripts/demo-fleet.sh stop "$base"' EXIT
mkdir -p build/demo
cp "$svc/etx_demo_service_v2" build/demo/app
cp "$svc/etx_demo_service_v3" build/demo/app-v3
run scripts/demo-fleet.sh start 4 "$base"
echo "--- every host runs version 1:"
versions

run "$etxroll" plan inventory-examples/local.yml --offline
run "$etxroll" apply inventory-examples/local.yml --state-dir "$base/state" \
    -m "demo: v1 to v2"
echo "--- every host now runs version 2:"
versions

# v3 exits at start: the same inventory with the broken artifact.
sed -e "s|path: ../build/demo/app|path: $top/build/demo/app-v3|" \
    -e "s|key_file: demo.key|key_file: $ETX_DEMO_KEY|" \
    -e "s|version: v2|version: v3|" \
    inventory-examples/local.yml >"$base/local-v3.yml"
set +e
run "$etxroll" apply "$base/local-v3.yml" --state-dir "$base/state" \
    --log-json "$base/v3.jsonl" -m "demo: broken v3"
rc=$?
set -e
echo "(exit $rc: halted and rolled back)"
echo "--- every host runs version 2 again:"
versions
run "$etxroll" history --state-dir "$base/state"
