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
# services on BASE+1000+1..), so N is at most 999. ETX_BENCH_CARRIERS
# (default "agent"): "agent ssh" rolls each N twice in the same run, once
# to resident agents over TCP, once over SSH: one real sshd
# (tests/integration/sshd_lib.sh) on 127.0.0.2:BASE+2000 serves every
# host, each running etxroll-agent --stdio with its own agent.yml.
set -euo pipefail

build=$(cd "${1:?usage: rollout_bench.sh BUILD_DIR [N...]}" && pwd)
shift
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(10 100 500)
top=$(cd "$(dirname "$0")/.." && pwd)
export ETX_BUILD=$build
export ETX_AGENT_BASE=${ETX_BENCH_AGENT_BASE:-30000}
export ETX_SERVICE_BASE=$((ETX_AGENT_BASE + 1000))
read -r -a carriers <<<"${ETX_BENCH_CARRIERS:-agent}"
ssh_port=$((ETX_AGENT_BASE + 2000))
work=$(mktemp -d /tmp/etx-rollbench.XXXXXX)
fleet() { bash "$top/scripts/demo-fleet.sh" "$@" >/dev/null; }
# shellcheck source=../tests/integration/sshd_lib.sh
. "$top/tests/integration/sshd_lib.sh"
trap 'etx_sshd_stop "$work/sshd"; fleet stop "$work/fleet"
      [ -n "${ETX_KEEP:-}" ] || rm -rf "$work"' EXIT

# Each host: an agent, a service, a connection, a health probe, and the
# coordinator's descriptors for its peer: raise the limit well above.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[ -x /usr/bin/time ] || {
    echo "rollout_bench: /usr/bin/time is missing (scripts/install-deps.sh)" >&2
    exit 2
}

start_sshd() {
    etx_sshd_keys "$work/sshd" &&
        etx_sshd_start "$work/sshd" 127.0.0.2 "$ssh_port" &&
        etx_sshd_known_hosts "$work/sshd" 127.0.0.2 "$ssh_port" \
            >"$work/known_hosts"
}

host_yaml() { # host_yaml CARRIER I
    local vars="vars: {root: $work/fleet/host$2, port: \"$((ETX_SERVICE_BASE + $2))\"}"
    if [ "$1" = ssh ]; then
        echo "  h$2: {address: 127.0.0.2, transport: {agent_config: $work/fleet/host$2/agent.yml}, $vars}"
    else
        echo "  h$2: {address: 127.0.0.1, transport: {port: $((ETX_AGENT_BASE + $2))}, $vars}"
    fi
}

defaults_yaml() { # defaults_yaml CARRIER
    if [ "$1" = ssh ]; then
        echo "defaults: {transport: {kind: ssh, port: $ssh_port, user: root, identity_file: $work/sshd/client_ed25519, known_hosts: $work/known_hosts, agent_path: $build/etxroll-agent}}"
    else
        echo "defaults: {transport: {kind: agent, key_file: $work/fleet/demo.key}}"
    fi
}

inventory() { # inventory FILE N CARRIER
    local i
    {
        echo "version: 1"
        echo "fleet: bench"
        defaults_yaml "$3"
        echo "hosts:"
        for i in $(seq 1 "$2"); do host_yaml "$3" "$i"; done
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

fresh_fleet() { # fresh_fleet N CARRIER: v1 everywhere
    local i
    fleet stop "$work/fleet"
    rm -rf "$work/fleet" "$work/state"
    fleet start "$1" "$work/fleet"
    [ "$2" = ssh ] || return 0
    for i in $(seq 1 "$1"); do # SSH hosts run no resident agent
        kill "$(cat "$work/fleet/host$i/agent.pid")"
        rm -f "$work/fleet/host$i/agent.pid"
    done
}

case " ${carriers[*]} " in *" ssh "*) start_sshd ;; esac
printf '%6s %8s %10s %10s %12s %14s\n' hosts carrier wall_s cpu_s \
    peak_rss_MiB rss_per_host_KiB
for n in "${counts[@]}"; do
    for carrier in "${carriers[@]}"; do
        fresh_fleet "$n" "$carrier"
        inventory "$work/inv.yml" "$n" "$carrier"
        rc=0
        /usr/bin/time -f '%e %U %S %M' -o "$work/time" "$build/etxroll" apply \
            "$work/inv.yml" --state-dir "$work/state" >"$work/out.$n" 2>&1 || rc=$?
        if [ "$rc" -ne 0 ]; then
            echo "rollout_bench: the rollout of $n hosts ($carrier) exited $rc:" >&2
            tail -20 "$work/out.$n" >&2
            exit 1
        fi
        read -r wall user sys rss_kib <"$work/time"
        awk -v n="$n" -v c="$carrier" -v w="$wall" -v u="$user" -v s="$sys" \
            -v r="$rss_kib" 'BEGIN { printf "%6d %8s %10.2f %10.2f %12.1f %14.1f\n",
                n, c, w, u + s, r / 1024, r / n }'
    done
done
