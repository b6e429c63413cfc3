# Sourced by the integration scripts that drive a local fleet of real
# agents (scripts/demo-fleet.sh): ports from a random base, the fleet
# helper and its clean-up trap, the check counter, and the inventory's
# defaults and hosts for n hosts. Expects build, src, work and n set.
# shellcheck shell=bash

etxroll=$build/etxroll
svc=$build/tests/agent-daemon
# Ports from a random base so that two builds' runs do not collide.
export ETX_BUILD=$build
export ETX_AGENT_BASE=$((20000 + (RANDOM % 400) * 20))
export ETX_SERVICE_BASE=$((ETX_AGENT_BASE + 10))
fleet() { bash "$src/scripts/demo-fleet.sh" "$@" >/dev/null; }
trap 'fleet stop "$work/fleet"; [ -n "${ETX_KEEP:-}" ] || rm -rf "$work"' EXIT
passed=0
failed=0

check() { # check NAME COMMAND...
    local name=$1
    shift
    if "$@"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL: $name"
    fi
}

fleet_hosts_yaml() { # the defaults and hosts of the n fleet hosts
    local i
    echo "defaults: {transport: {kind: agent, key_file: $work/fleet/demo.key}}"
    echo "hosts:"
    for i in $(seq 1 "$n"); do
        echo "  h$i: {address: 127.0.0.1, transport: {port: $((ETX_AGENT_BASE + i))}, vars: {root: $work/fleet/host$i, port: \"$((ETX_SERVICE_BASE + i))\"}}"
    done
}
