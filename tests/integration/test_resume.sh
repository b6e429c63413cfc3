#!/usr/bin/env bash
# etxroll resume against a real local fleet of 4 agents on 127.0.0.1
# (scripts/demo-fleet.sh), each with the demo service v1 running.
#   5  crash safety: the coordinator is killed with SIGKILL as soon as its
#      journal holds the Nth record of a kind (intent/outcome of stage,
#      verify, swap, restart, check, batch start/done, gate wait, halt,
#      rollback, a rollback intent); `etxroll resume ID` then finishes
#      (v2, exit 0) or rolls back (v3, exit 1); every host is wholly v1 or
#      wholly v2 (target digest and the answering service agree), no
#      `.etxroll.` temp is left under the roots, no lock is left; going
#      on, a host the journal saw healthy (on v2) is not restarted again:
#      the same service process, no restart in the resume's JSON log;
#      also killed during the bake (a bake check's intent and outcome)
#   rollback ID puts back a rollout that ended done: exit 0, wholly v1
#   6  the agent of the canary is killed (SIGKILL) while it stages a
#      24 MiB artifact: the target stays byte-identical v1; restarted
#      within the retry budget the host is retried and ends on v2 (exit
#      0); not restarted, the host fails and the rollout halts (exit 1)
#   7  the demo's restart.sh under overlap: three restarts of one host at
#      once, and a restart killed with its process group (as the agent
#      stops the restart of a coordinator that died) then another: each
#      time one service process, the one the pid file names, answering
# The test watches the journal from outside: no test hook in etxroll.
# Usage: test_resume.sh BUILD_DIR SOURCE_DIR
set -u
build=$1
src=$2
work=$(mktemp -d /tmp/etxroll-resume.XXXXXX)
n=4
fleet_slot=2
# shellcheck source=fleet_lib.sh
. "$src/tests/integration/fleet_lib.sh"

inventory() { # inventory FILE ARTIFACT BATCH-EXTRA RETRY
    {
        echo "version: 1"
        echo "fleet: rtest"
        fleet_hosts_yaml
        echo "artifact: {path: $2}"
        echo "target: {path: \"\${root}/app/bin/app\", strategy: rename, mode: \"0755\"}"
        echo "restart: {command: [\"\${root}/restart.sh\"], timeout: 10s}"
        echo "health:"
        echo "  http: {url: \"http://127.0.0.1:\${port}/\", status: 200, body_contains: version}"
        echo "  interval: 200ms"
        echo "  timeout: 1s"
        echo "  consecutive: 2"
        echo "  deadline: 3s"
        echo "batches: {sizes: [1, 2, 1], bake: 500ms$3}"
        echo "max_failures: 0"
        echo "retry: $4"
        echo "on_failure: rollback"
    } >"$1"
}

# Service processes started from this run's roots that the pid files no
# longer name, killed by pid: a safety net between cases (restart.sh runs
# one restart at a time, and one_service_each checks that none is left).
kill_strays() {
    local e p
    for e in /proc/[0-9]*/exe; do
        p=${e#/proc/}
        p=${p%/exe}
        case $(readlink "$e" 2>/dev/null) in
        "$work"/fleet/*) kill "$p" 2>/dev/null ;;
        esac
    done
}

fresh_fleet() {
    fleet stop "$work/fleet"
    kill_strays
    rm -rf "$work/fleet" "$work/state"
    fleet start $n "$work/fleet"
}

journal() { ls "$work"/state/rtest/rollouts/*.jsonl 2>/dev/null | head -1; }

# wait_record PATTERN COUNT PID: until the journal has COUNT lines matching
# PATTERN (grep -E), or PID ended. True when the count was reached.
wait_record() {
    local j
    for _ in $(seq 1 600); do
        j=$(journal)
        if [ -n "$j" ] && [ "$(grep -cE "$1" "$j")" -ge "$2" ]; then
            return 0
        fi
        kill -0 "$3" 2>/dev/null || return 1
        sleep 0.02
    done
    return 1
}

# Every host runs exactly one service process, the one its pid file names
# (overlapping restarts, the killed coordinator's and the resume's, used
# to leave a second one holding the port).
one_service_each() {
    local i e p pids
    for i in $(seq 1 $n); do
        pids=""
        for e in /proc/[0-9]*/exe; do
            p=${e#/proc/}
            p=${p%/exe}
            case $(readlink "$e" 2>/dev/null) in
            "$work/fleet/host$i/"*) pids="$pids $p" ;;
            esac
        done
        [ "$pids" = " $(cat "$work/fleet/host$i/app.pid")" ] || {
            echo "host$i runs:$pids; app.pid: $(cat "$work/fleet/host$i/app.pid")"
            return 1
        }
    done
}

no_temps() { [ -z "$(find "$work/fleet" -name '*.etxroll.*' -print -quit)" ]; }
no_lock() { [ ! -e "$work/state/rtest/lock.json" ]; }

# healthy_pids: "I PID" for each host whose last journal record says
# healthy, with the pid of its service now.
healthy_pids() {
    local i
    for i in $(seq 1 $n); do
        if grep "\"host\":\"h$i\"" "$(journal)" | tail -1 |
            grep -q '"state":"healthy"'; then
            echo "$i $(cat "$work/fleet/host$i/app.pid")"
        fi
    done
}

# not_restarted NAME LOG "I PID"...: those hosts kept their service
# process and the resume (its JSON log LOG) sent them no restart.
kept=0
not_restarted() {
    local name=$1 log=$2 i p
    shift 2
    for hp in "$@"; do
        read -r i p <<<"$hp"
        check "5 $name: h$i, healthy before, keeps its service pid $p" \
            [ "$(cat "$work/fleet/host$i/app.pid")" = "$p" ]
        check "5 $name: the resume does not restart h$i" \
            bash -c "! grep -q '\"event\":\"intent\",\"host\":\"h$i\".*\"step\":\"restart\"' '$log'"
        kept=$((kept + 1))
    done
}

# crash NAME INVENTORY PATTERN COUNT WANT-RC: kill -9 apply at the record,
# resume, check the outcome.
crash() {
    local name=$1 inv=$2 pat=$3 count=$4 want=$5 pid id rc gate="" healthy
    fresh_fleet
    "$etxroll" apply "$inv" --state-dir "$work/state" >"$work/$name.apply" 2>&1 &
    pid=$!
    wait_record "$pat" "$count" "$pid"
    check "5 $name: apply was killed at the record" kill -9 "$pid"
    wait "$pid" 2>/dev/null
    id=$(basename "$(journal)" .jsonl)
    if grep -q '"kind":"gate","event":"wait"' "$(journal)"; then
        gate=1
    fi
    mapfile -t healthy < <(healthy_pids)
    "$etxroll" resume "$id" --state-dir "$work/state" \
        --log-json "$work/$name.resume.jsonl" >"$work/$name.resume" 2>&1 &
    pid=$!
    if [ -n "$gate" ]; then
        wait_record '"kind":"gate","event":"wait"' 2 "$pid"
        "$etxroll" continue "$id" --state-dir "$work/state" >/dev/null
    fi
    wait "$pid"
    rc=$?
    check "5 $name: resume exits $want (got $rc)" [ "$rc" -eq "$want" ]
    if [ "$want" -eq 0 ]; then
        check "5 $name: every host wholly v2" all_on "$work/v2" 2
        not_restarted "$name" "$work/$name.resume.jsonl" "${healthy[@]}"
    else
        check "5 $name: every host wholly v1" all_on "$work/v1" 1
    fi
    check "5 $name: one service per host, named by its pid file" one_service_each
    check "5 $name: no temp file left" no_temps
    check "5 $name: the lock is released" no_lock
    check "5 $name: the journal records the resume" \
        grep -q '"kind":"rollout","event":"resume"' "$(journal)"
    "$etxroll" status "$id" --state-dir "$work/state" >"$work/$name.status" 2>&1
    check "5 $name: status reads the resumed journal" [ $? -eq 0 ]
}

cp "$svc/etx_demo_service_v1" "$work/v1"
cp "$svc/etx_demo_service_v2" "$work/v2"
cp "$svc/etx_demo_service_v3" "$work/v3"
retry="{attempts: 3, first: 100ms, multiplier: 2, cap: 1s, jitter: full}"
inventory "$work/v2.yml" "$work/v2" "" "$retry"
inventory "$work/v3.yml" "$work/v3" "" "$retry"
inventory "$work/gate.yml" "$work/v2" ", gate_after: [1]" "$retry"

I='"kind":"intent"'
O='"kind":"outcome"'
# --- 5: kill -9 after each kind of record --------------------------------
crash stage-intent "$work/v2.yml" "$I.*\"step\":\"stage\"" 1 0
crash stage-outcome "$work/v2.yml" "$O.*\"step\":\"stage\"" 1 0
crash verify-outcome "$work/v2.yml" "$O.*\"step\":\"verify\"" 2 0
crash swap-intent "$work/v2.yml" "$I.*\"step\":\"swap\"" 2 0
crash swap-outcome "$work/v2.yml" "$O.*\"step\":\"swap\"" 1 0
crash restart-intent "$work/v2.yml" "$I.*\"step\":\"restart\"" 2 0
crash restart-outcome "$work/v2.yml" "$O.*\"step\":\"restart\"" 1 0
crash check-intent "$work/v2.yml" "$I.*\"step\":\"check\"" 3 0
crash bake-intent "$work/v2.yml" "$I.*\"step\":\"bake\"" 1 0
crash bake-outcome "$work/v2.yml" "$O.*\"step\":\"bake\"" 3 0
crash batch-start "$work/v2.yml" '"kind":"batch","event":"start"' 2 0
crash batch-done "$work/v2.yml" '"kind":"batch","event":"done"' 1 0
crash gate-wait "$work/gate.yml" '"kind":"gate","event":"wait"' 1 0
crash halt "$work/v3.yml" '"kind":"rollout","event":"halt"' 1 1
crash rollback-start "$work/v3.yml" '"kind":"rollout","event":"rollback"' 1 1
crash rollback-intent "$work/v3.yml" "$I.*\"step\":\"rollback\"" 1 1
crash rollback-outcome "$work/v3.yml" "$O.*\"step\":\"rollback\"" 1 1
check "5: hosts seen healthy before a kill were checked (got $kept)" [ "$kept" -ge 5 ]

# --- 5: the lock of a live coordinator is not taken over -----------------
fresh_fleet
"$etxroll" apply "$work/gate.yml" --state-dir "$work/state" >"$work/live.apply" 2>&1 &
live=$!
wait_record '"kind":"gate","event":"wait"' 1 "$live"
id=$(basename "$(journal)" .jsonl)
out=$("$etxroll" resume "$id" --state-dir "$work/state" 2>&1)
rc=$?
check "5 live: resume of a running rollout exits 1" [ "$rc" -eq 1 ]
check "5 live: and names the holder's pid" grep -q "pid $live" <<<"$out"
"$etxroll" abort "$id" --state-dir "$work/state" >/dev/null
wait "$live"
out=$("$etxroll" resume "$id" --state-dir "$work/state" 2>&1)
check "5 ended: resume of an ended rollout exits 2" [ $? -eq 2 ]

# --- rollback ID: put back a rollout that ended done -----------------------
fresh_fleet
"$etxroll" apply "$work/v2.yml" --state-dir "$work/state" >"$work/rb.apply" 2>&1
check "rollback: the rollout ends done" [ $? -eq 0 ]
id=$(basename "$(journal)" .jsonl)
"$etxroll" rollback "$id" --state-dir "$work/state" >"$work/rb.out" 2>&1
check "rollback: exits 0" [ $? -eq 0 ]
check "rollback: every host wholly v1" all_on "$work/v1" 1
check "rollback: the journal ends rolled_back" \
    bash -c "tail -1 '$(journal)' | grep -q '\"result\":\"rolled_back\"'"
check "rollback: no lock left" no_lock
"$etxroll" rollback "$id" --state-dir "$work/state" >/dev/null 2>&1
check "rollback: a second rollback exits 2" [ $? -eq 2 ]

# --- 6: an agent killed while staging -------------------------------------
head -c 25165824 /dev/urandom >>"$work/v2"
big_retry="{attempts: 6, first: 500ms, multiplier: 2, cap: 2s, jitter: full}"
inventory "$work/big.yml" "$work/v2" "" "$big_retry"
inventory "$work/bigdead.yml" "$work/v2" "" "$retry"

kill_staging_agent() { # kill_staging_agent APPLY-PID: true when caught
    local d=$work/fleet/host1/app/bin
    for _ in $(seq 1 1000); do
        if [ -n "$(find "$d" -name '.app.etxroll.*' -print -quit)" ]; then
            kill -9 "$(cat "$work/fleet/host1/agent.pid")"
            return 0
        fi
        kill -0 "$1" 2>/dev/null || return 1
        sleep 0.005
    done
    return 1
}

restart_agent() {
    local d=$work/fleet/host1
    rm -f "$d/agent.port"
    setsid "$build/etxroll-agent" --config "$d/agent.yml" \
        --port-file "$d/agent.port" </dev/null >>"$d/agent.log" 2>&1 &
    echo $! >"$d/agent.pid"
    for _ in $(seq 1 100); do
        [ -s "$d/agent.port" ] && return 0
        sleep 0.05
    done
    return 1
}

fresh_fleet
"$etxroll" apply "$work/big.yml" --state-dir "$work/state" >"$work/t6.out" 2>&1 &
pid=$!
check "6: the agent was killed while staging" kill_staging_agent "$pid"
check "6: the live target is byte-identical v1" cmp -s "$work/v1" "$work/fleet/host1/app/bin/app"
check "6: the agent comes back" restart_agent
wait "$pid"
rc=$?
check "6: the host is retried and the rollout ends done (exit $rc)" [ "$rc" -eq 0 ]
check "6: every host is wholly v2" all_on "$work/v2" 2
check "6: the stage was retried" grep -q "retrying stage" "$work/t6.out"

fresh_fleet
"$etxroll" apply "$work/bigdead.yml" --state-dir "$work/state" >"$work/t6b.out" 2>&1 &
pid=$!
check "6b: the agent was killed while staging" kill_staging_agent "$pid"
wait "$pid"
rc=$?
check "6b: the host fails and the rollout halts (exit $rc)" [ "$rc" -eq 1 ]
check "6b: the live target is byte-identical v1" cmp -s "$work/v1" "$work/fleet/host1/app/bin/app"
check "6b: no host is on v2" all_on "$work/v1" 1
check "6b: the journal ends halted" grep -q '"result":"halted"' "$(journal)"

# --- 7: overlapping and killed restarts of the demo service ---------------
fresh_fleet
d=$work/fleet/host1
"$d/restart.sh" &
"$d/restart.sh" &
"$d/restart.sh"
wait
check "7: three restarts at once leave one service, named by app.pid" one_service_each
check "7: and it answers" wholly "$work/v1" 1 1
for _ in 1 2 3 4 5; do
    setsid "$d/restart.sh" &
    pid=$!
    sleep "0.0$((RANDOM % 10))"
    kill -9 -- "-$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    "$d/restart.sh"
done
check "7: restarts killed half-way, then another: one service" one_service_each
check "7: and it answers" wholly "$work/v1" 1 1

echo "test_resume: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
