#!/usr/bin/env bash
# Rolls a local fleet of N hosts (etxroll-agent processes on 127.0.0.1,
# scripts/demo-fleet.sh, each with the demo service v1) to v2 with
# `etxroll apply`: batches of 10%, a tcp health check on the demo service
# (passes as soon as the restarted service listens). For each N prints the
# wall time, the coordinator's CPU time (user+sys) and peak RSS (from
# /usr/bin/time, Debian package `time`), and peak RSS per host.
#
#   bench/rollout_bench.sh BUILD_DIR [N...]     (default: 10 100 500)
#
# Environment: ETX_BENCH_AGENT_BASE (default 30000; agents on BASE+1..,
# services on BASE+1000+1..), so N is at most 999.
set -euo pipefail

build=$(cd "${1:?usage: rollout_bench.sh BUILD_DIR [N...]}" && pwd)
shift
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(10 100 500)
top=$(cd "$(dirname "$0")/.." && pwd)
export ETX_BUILD=$build
export ETX_AGENT_BASE=${ETX_BENCH_AGENT_BASE:-30000}
export ETX_SERVICE_BASE=$((ETX_AGENT_BASE + 1000))
work=$(mktemp -d /tmp/etx-rollbench.XXXXXX)
fleet() { bash "$top/scripts/demo-fleet.sh" "$@" >/dev/null; }
trap 'fleet stop "$work/fleet"; [ -n "${ETX_KEEP:-}" ] || rm -rf "$work"' EXIT

# Each host: an agent, a service, a connection, a health probe, and the
# coordinator's descriptors for its peer: raise the limit well above.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[ -x /usr/bin/time ] || {
    echo "rollout_bench: /usr/bin/time is missing (scripts/install-deps.sh)" >&2
    exit 2
}

inventory() { # inventory FILE N
    local i
    {
        echo "version: 1"
        echo "fleet: bench"
        echo "defaults: {transport: {kind: agent, key_file: $work/fleet/demo.key}}"
        echo "hosts:"
        for i in $(seq 1 "$2"); do
            echo "  h$i: {address: 127.0.0.1, transport: {port: $((ETX_AGENT_BASE + i))}, vars: {root: $work/fleet/host$i, port: \"$((ETX_SERVICE_BASE + i))\"}}"
        done
        echo "artifact: {path: $build/tests/agent-daemon/etx_demo_service_v2}"
        echo "target: {path: \"\${root}/app/bin/app\", strategy: rename, mode: \"0755\"}"
        echo "restart: {command: [\"\${root}/restart.sh\"], timeout: 10s}"
        echo "health:"
        echo "  tcp: {address: \"127.0.0.1:\${port}\"}"
        echo "  interval: 50ms"
        echo "  timeout: 1s"
        echo "  consecutive: 1"
        echo "  deadline: 10s"
        echo "batches: {sizes: [\"10%\"]}"
        echo "max_failures: 0"
        echo "on_failure: halt"
    } >"$1"
}

printf '%6s %10s %10s %12s %14s\n' hosts wall_s cpu_s peak_rss_MiB rss_per_host_KiB
for n in "${counts[@]}"; do
    fleet stop "$work/fleet"
    rm -rf "$work/fleet" "$work/state"
    fleet start "$n" "$work/fleet"
    inventory "$work/inv.yml" "$n"
    rc=0
    /usr/bin/time -f '%e %U %S %M' -o "$work/time" "$build/etxroll" apply \
        "$work/inv.yml" --state-dir "$work/state" >"$work/out.$n" 2>&1 || rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "rollout_bench: the rollout of $n hosts exited $rc:" >&2
        tail -20 "$work/out.$n" >&2
        exit 1
    fi
    read -r wall user sys rss_kib <"$work/time"
    awk -v n="$n" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss_kib" \
        'BEGIN { printf "%6d %10.2f %10.2f %12.1f %14.1f\n", n, w, u + s, r / 1024, r / n }'
done
