# Sourced by the integration scripts that drive a local fleet of real
# agents (scripts/demo-fleet.sh): ports from a random base, the fleet
# helper and its clean-up trap, the check counter, the inventory's
# defaults and hosts for n hosts, and the helpers the scripts share
# (fresh_fleet, apply, answers, same_as, wholly, all_on). Expects build,
# src, work and n set (n at most 9), and fleet_slot (below).
# shellcheck shell=bash

etxroll=$build/etxroll
svc=$build/tests/agent-daemon
# Ports: every script has its own range of 2000 ports, fleet_slot 0-5
# (20000 + 2000 * slot ...), below the kernel's ephemeral ports (32768-),
# so that ctest's parallel runs of two scripts never share one: each
# script sets its own slot (test_rollout 0, test_plans 1, test_resume 2,
# test_gates 3, test_ssh_rollout 4; 5 is free). Within the range the base is random
# (100 bases of 20 ports: agents base+1.., services base+11..), so that
# two builds' runs of one script seldom meet; when they do, demo-fleet.sh
# refuses the taken port and `fleet start` fails the script.
export ETX_BUILD=$build
export ETX_AGENT_BASE=$((20000 + ${fleet_slot:?set fleet_slot before sourcing fleet_lib.sh} * 2000 + (RANDOM % 100) * 20))
export ETX_SERVICE_BASE=$((ETX_AGENT_BASE + 10))
fleet() { # fleet start|stop ...: a fleet that cannot start ends the script
    if ! bash "$src/scripts/demo-fleet.sh" "$@" >/dev/null; then
        echo "FAIL: demo-fleet.sh $* (agent ports $ETX_AGENT_BASE+, service ports $ETX_SERVICE_BASE+)" >&2
        [ "$1" != start ] || exit 1
    fi
}
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

fresh_fleet() { # the n hosts afresh, v1 everywhere, no state
    fleet stop "$work/fleet"
    rm -rf "$work/fleet" "$work/state"
    fleet start $n "$work/fleet"
}

apply() { # apply LOGNAME INVENTORY [ARGS]: sets rc, out; keeps both
    local log=$1 inv=$2
    shift 2
    out=$("$etxroll" apply "$inv" --state-dir "$work/state" \
        --log-json "$work/$log.jsonl" "$@" 2>&1)
    rc=$?
    echo "$out" >"$work/$log.out"
}

answers() { # answers VERSION FIRST LAST: hosts FIRST..LAST answer VERSION
    local i
    for i in $(seq "$2" "$3"); do
        curl -s --max-time 2 "http://127.0.0.1:$((ETX_SERVICE_BASE + i))/" |
            grep -q "version $1" || return 1
    done
}

same_as() { # same_as FILE FIRST LAST: targets byte-identical to FILE
    local i
    for i in $(seq "$2" "$3"); do
        cmp -s "$1" "$work/fleet/host$i/app/bin/app" || return 1
    done
}

wholly() { # wholly VERSION-FILE VERSION I: target and service agree
    cmp -s "$1" "$work/fleet/host$3/app/bin/app" &&
        curl -s --max-time 2 "http://127.0.0.1:$((ETX_SERVICE_BASE + $3))/" |
        grep -q "version $2"
}

all_on() { # all_on VERSION-FILE VERSION: every host wholly on it
    local i
    for i in $(seq 1 $n); do
        wholly "$1" "$2" "$i" || return 1
    done
}
