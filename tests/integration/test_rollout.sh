#!/usr/bin/env bash
# etxroll apply against a real local fleet: 8 etxroll-agent processes on
# 127.0.0.1 (scripts/demo-fleet.sh) each with the demo service v1 running.
#   1  batches [1, 50%, 100%] with a 20 MiB v2: every host ends on v2
#      (byte-identical), healthy; the journal
#      shows no host of batch k+1 started before batch k was done
#   3  the agent of a batch-2 host is dead: connection refused is retried
#      until the attempts run out, the rollout halts, batch 3 never starts,
#      hosts of batches 1-2 are back on byte-identical v1 and answer v1,
#      exit 1; journal and JSON log name the host, step, errno, holders
#   4  a v3 that exits at start: the canary fails (restart.confirm: 5s
#      bounds the wait for its new inode), rollback, exit 1;
#      4b the same on a batch of 4: all fail, all are put back
#   2  etx_test_hold_new holds the canary's newly published v2 open for
#      writing for 2 s (a descriptor leaked into a forked child; executing
#      it fails with a real ETXTBSY): the restart's exec check sees it, the
#      restart is retried with growing waits (>= 2 retries in the JSON log,
#      each after an ETXTBSY naming the holder) and the host ends healthy
#      on v2; 2b the same holder kept for good: the attempts run out, h1
#      fails naming the holder's pid and ETXTBSY, the rollout halts and
#      puts h1 back on v1 (nobody holds v1), exit 1
#   2c a process holds the canary's restart command open for writing for
#      good: restart and the rollback's restart are refused naming its pid,
#      exit 3 (rollback incomplete)
#   8  SIGINT while batch 1 bakes: the rollout halts and rolls back, exit 1
#   7  a second apply while one holds the lock (waiting at a gate) is
#      refused naming the holder; `continue` passes the gate; a pinned plan
#      id that differs is refused with exit 4
# Usage: test_rollout.sh BUILD_DIR SOURCE_DIR
set -u
build=$1
src=$2
work=$(mktemp -d /tmp/etxroll-rollout.XXXXXX)
n=8
fleet_slot=0 # its own port range (fleet_lib.sh)
# shellcheck source=fleet_lib.sh
. "$src/tests/integration/fleet_lib.sh"

inventory() { # inventory FILE ARTIFACT [EXTRA-YAML]
    {
        echo "version: 1"
        echo "fleet: itest"
        fleet_hosts_yaml
        echo "artifact: {path: $2}"
        echo "target: {path: \"\${root}/app/bin/app\", strategy: rename, mode: \"0755\"}"
        echo "restart: {command: [\"\${root}/restart.sh\"], timeout: 10s, confirm: 5s}"
        echo "health:"
        echo "  http: {url: \"http://127.0.0.1:\${port}/\", status: 200, body_contains: version}"
        echo "  interval: 100ms"
        echo "  timeout: 1s"
        echo "  consecutive: 2"
        echo "  deadline: 5s"
        echo "batches: {sizes: [1, \"50%\", \"100%\"]${3:-}}"
        echo "max_failures: 0"
        echo "retry: {attempts: 3, first: 100ms, multiplier: 2, cap: 1s, jitter: full}"
        echo "on_failure: rollback"
    } >"$1"
}

journal() { ls "$work"/state/itest/rollouts/*.jsonl | sort | tail -1; }

# h1's agent through etx_test_hold_new's relay, on a port of the fleet's
# range that no agent (base+1..8) or service (base+11..18) uses
relay=$((ETX_AGENT_BASE + 9))

hold_new() { # hold_new NAME HOLD_MS: hold h1's next published target;
    # sets holder, and rc 0 once it watches and relays
    "$svc/etx_test_hold_new" -r "$relay:$((ETX_AGENT_BASE + 1))" \
        "$work/fleet/host1/app/bin/app" "$2" "$work/$1.pid" \
        >"$work/$1.hold" 2>&1 &
    holder=$!
    rc=1
    for _ in $(seq 1 100); do
        grep -q '^armed' "$work/$1.hold" && rc=0 && return
        sleep 0.1
    done
}

# busy_retries LOG HOST PID: prints how many retries of HOST's restart
# LOG has; fails unless each follows an outcome with ETXTBSY naming PID
# and waits longer than the one before
busy_retries() {
    awk -v host="\"host\":\"$2\"" -v pid="\"pid\":$3[,}]" '
    index($0, host) && /"step":"restart"/ {
        if (/"event":"outcome"/)
            busy = /"errno_name":"ETXTBSY"/ && $0 ~ pid
        if (/"event":"retry"/) {
            match($0, /"delay_ms":[0-9]+/)
            d = substr($0, RSTART + 11, RLENGTH - 11) + 0
            if (!busy || d <= last) bad = 1
            last = d
            n++
        }
    }
    END { print n + 0; exit bad }' "$1"
}

# first_restart_busy LOG HOST PID: HOST's first restart outcome is an
# ETXTBSY naming PID: the agent's exec check saw the holder
first_restart_busy() {
    grep "\"host\":\"$2\"" "$1" | grep '"event":"outcome"' |
        grep -m1 '"step":"restart"' |
        grep -q "\"errno_name\":\"ETXTBSY\",\"holders\":\[{[^]]*\"pid\":$3[,}]"
}

# No intent of a host of batch k+1 before the record "batch k done".
batches_ordered() {
    awk '
    { seq = 0; b = 0
      if (match($0, /"seq":[0-9]+/)) seq = substr($0, RSTART + 6, RLENGTH - 6) + 0
      if (match($0, /"batch":[0-9]+/)) b = substr($0, RSTART + 8, RLENGTH - 8) + 0 }
    /"kind":"batch"/ && /"event":"done"/ { done[b] = seq }
    /"kind":"intent"/ && b > 1 { if (!(b - 1 in done) || seq < done[b - 1]) bad = 1 }
    END { exit bad }' "$1"
}

cp "$svc/etx_demo_service_v1" "$work/v1"
# v2 with 20 MiB appended (still runs): 80 chunks, more than the
# connection's 8 MiB queue, so the push waits for the drain.
cp "$svc/etx_demo_service_v2" "$work/v2"
head -c 20971520 /dev/urandom >>"$work/v2"
cp "$svc/etx_demo_service_v3" "$work/v3"
inventory "$work/v2.yml" "$work/v2"
inventory "$work/v3.yml" "$work/v3"
inventory "$work/gate.yml" "$work/v2" ", gate_after: [1]"
inventory "$work/bake.yml" "$work/v2" ", bake: 60s"
inventory "$work/v3wide.yml" "$work/v3"
# h1 through the holder's relay; waits without jitter, so each is longer
inventory "$work/hold.yml" "$work/v2"
sed -i -e "s/port: $((ETX_AGENT_BASE + 1))}/port: $relay}/" \
    -e 's/^retry: .*/retry: {attempts: 8, first: 200ms, multiplier: 2, cap: 2s, jitter: none}/' \
    "$work/hold.yml"
sed 's/attempts: 8,/attempts: 3,/' "$work/hold.yml" >"$work/hold3.yml"
sed -i 's/sizes: \[1, "50%", "100%"\]/sizes: [4]/' "$work/v3wide.yml"

# --- 1: batches [1, 50%, 100%] ------------------------------------------
fresh_fleet
apply t1 "$work/v2.yml"
check "1: apply exits 0" [ "$rc" -eq 0 ]
check "1: every host answers version 2" answers 2 1 $n
check "1: every target is v2" same_as "$work/v2" 1 $n
j=$(journal)
check "1: 3 batches done" [ "$(grep -c '"kind":"batch","event":"done"' "$j")" -eq 3 ]
check "1: 8 hosts healthy" [ "$(grep '"kind":"outcome"' "$j" | grep -c '"state":"healthy"')" -eq $n ]
check "1: batch k+1 starts after batch k is done" batches_ordered "$j"
check "1: the summary lists 8 healthy hosts" [ "$(grep -c ' healthy ' <<<"$out")" -eq $n ]

# --- 7: the lock, a gate, a stale plan id ---------------------------------
fresh_fleet
"$etxroll" apply "$work/gate.yml" --state-dir "$work/state" -m "gate test" \
    >"$work/gate.out" 2>&1 &
gate_pid=$!
for _ in $(seq 1 100); do
    grep -q "waiting at the gate" "$work/gate.out" && break
    sleep 0.1
done
check "7: the first apply waits at the gate" grep -q "waiting at the gate" "$work/gate.out"
apply t7 "$work/v2.yml"
check "7: a second apply exits 1" [ "$rc" -eq 1 ]
check "7: it names the holder's pid and message" grep -q "pid $gate_pid.*gate test\|gate test.*pid $gate_pid" <<<"$out"
"$etxroll" lock --state-dir "$work/state" >"$work/lock.out"
check "7: etxroll lock shows the holder" grep -q "pid $gate_pid" "$work/lock.out"
id=$(ls "$work"/state/itest/rollouts/ | sed -n 's/\.jsonl$//p' | head -1)
"$etxroll" continue "$id" --state-dir "$work/state" >/dev/null
wait $gate_pid
check "7: continue lets the gated rollout finish (exit 0)" [ $? -eq 0 ]
check "7: the gate is journaled" grep -q '"kind":"gate","event":"continue"' "$work/state/itest/rollouts/$id.jsonl"
check "7: every host answers version 2 after the gate" answers 2 1 $n
apply t7b "$work/v2.yml" --expect-plan-id 0000
check "7: a different plan id exits 4" [ "$rc" -eq 4 ]
check "7: and says stale plan" grep -q "stale plan" <<<"$out"

# --- 8: SIGINT halts ----------------------------------------------------
fresh_fleet
"$etxroll" apply "$work/bake.yml" --state-dir "$work/state" \
    >"$work/t8.out" 2>&1 &
bake_pid=$!
for _ in $(seq 1 100); do
    grep -q "baking" "$work/t8.out" && break
    sleep 0.1
done
kill -INT $bake_pid
wait $bake_pid
check "8: SIGINT during the bake exits 1" [ $? -eq 1 ]
check "8: the halt names SIGINT" grep -q "halting: interrupted (SIGINT)" "$work/t8.out"
check "8: the canary is back on v1" same_as "$work/v1" 1 $n
check "8: and answers version 1" answers 1 1 $n
check "8: the journal ends rolled_back" grep -q '"result":"rolled_back"' "$(journal)"

# --- 3: a dead agent in batch 2 ------------------------------------------
fresh_fleet
kill "$(cat "$work/fleet/host3/agent.pid")"
apply t3 "$work/v2.yml"
check "3: apply exits 1" [ "$rc" -eq 1 ]
check "3: hosts of batches 1-2 are byte-identical v1" same_as "$work/v1" 1 5
check "3: hosts 1-2 and 4-5 answer version 1" answers 1 1 2
check "3: host 4-5 answer version 1" answers 1 4 5
j=$(journal)
check "3: batch 3 never started" bash -c "! grep -q '\"kind\":\"batch\",\"event\":\"start\",\"batch\":3' '$j'"
check "3: no host of batch 3 was touched" bash -c "! grep -q '\"host\":\"h[678]\"' '$j'"
check "3: the journal names h3, ECONNREFUSED, the step, holders" \
    grep -q '"host":"h3".*"step":"probe".*"errno_name":"ECONNREFUSED".*"holders":\[\]' "$j"
check "3: the JSON log has the retries' attempt and waited_ms" \
    grep -q '"attempt":3.*"event":"retry".*"host":"h3".*"waited_ms"' "$work/t3.jsonl"
check "3: the journal ends rolled_back" grep -q '"result":"rolled_back"' "$j"
"$etxroll" status --state-dir "$work/state" >"$work/status.out" 2>&1
check "3: etxroll status folds it: rolled_back, h3 failed" \
    grep -q "rolled_back" "$work/status.out"
check "3: status shows h3 failed" grep -q "^h3 .* failed " "$work/status.out"
"$etxroll" history --state-dir "$work/state" >"$work/history.out" 2>&1
check "3: history lists it, nothing corrupt" \
    bash -c "grep -q rolled_back '$work/history.out' && ! grep -q corrupt '$work/history.out'"

# --- 4: v3 exits at start -------------------------------------------------
fresh_fleet
apply t4 "$work/v3.yml"
check "4: apply exits 1" [ "$rc" -eq 1 ]
check "4: the canary failed to start or its health deadline passed" \
    grep -q "service did not start\|health check failed: deadline" "$work/t4.out"
check "4: the restart waited restart.confirm (5 s) for the new inode" \
    grep -q "no process executes the published file 5000 ms after\|health check failed: deadline" "$work/t4.out"
check "4: every host answers version 1" answers 1 1 $n
check "4: every target is v1" same_as "$work/v1" 1 $n
check "4: the journal ends rolled_back" grep -q '"result":"rolled_back"' "$(journal)"

# --- 2: the newly published binary held open for writing for ~2 s by
# etx_test_hold_new (a descriptor leaked into a forked child); h1's agent
# is reached through the holder's relay, so the file is held before the
# restart request reaches the agent (hold_new.c)
fresh_fleet
hold_new t2 2000
check "2: the holder is armed" [ "$rc" -eq 0 ]
apply t2 "$work/hold.yml"
kill $holder
wait $holder 2>/dev/null
check "2: apply exits 0" [ "$rc" -eq 0 ]
check "2: the holder held the published v2 and exec got a real ETXTBSY" \
    grep -q "^held pid=$holder ino=$(stat -c %i "$work/fleet/host1/app/bin/app") exec=ETXTBSY" "$work/t2.hold"
check "2: the holder let go" grep -q "^released" "$work/t2.hold"
check "2: the first restart of h1 saw the holder (it won the race)" \
    first_restart_busy "$work/t2.jsonl" h1 "$holder"
retries=$(busy_retries "$work/t2.jsonl" h1 "$holder")
brc=$?
check "2: every retry follows an ETXTBSY naming the holder, with a longer wait" [ $brc -eq 0 ]
check "2: at least 2 retries of h1's restart in the JSON log ($retries)" [ "$retries" -ge 2 ]
check "2: the agent tried once per request (every try is in the log)" \
    bash -c "! grep -q 'still busy after' '$work/t2.jsonl'"
check "2: h1 ends healthy" grep -q '"host":"h1".*"state":"healthy"' "$work/t2.jsonl"
check "2: every target is v2" same_as "$work/v2" 1 $n
check "2: every host answers version 2" answers 2 1 $n

# --- 2b: the same holder kept for good: the retries run out, h1 fails
# naming the holder, the rollout halts and puts h1 back (the rollback
# publishes v1, which nobody holds): exit 1
fresh_fleet
hold_new t2b 0
check "2b: the holder is armed" [ "$rc" -eq 0 ]
apply t2b "$work/hold3.yml"
kill $holder
wait $holder 2>/dev/null
check "2b: apply exits 1 (halted and rolled back)" [ "$rc" -eq 1 ]
check "2b: the holder held the published v2" grep -q "^held pid=$holder " "$work/t2b.hold"
retries=$(busy_retries "$work/t2b.jsonl" h1 "$holder")
brc=$?
check "2b: every retry follows an ETXTBSY naming the holder, with a longer wait" [ $brc -eq 0 ]
check "2b: the 3 attempts ran out (2 retries, $retries)" [ "$retries" -eq 2 ]
check "2b: the JSON log fails h1 with ETXTBSY naming the holder's pid" \
    grep -q "\"errno_name\":\"ETXTBSY\",\"holders\":\[{[^]]*\"pid\":$holder[,}][^]]*\],\"message\":\"[^\"]*still failing after 3 attempts.*\"event\":\"outcome\",\"host\":\"h1\".*\"state\":\"failed\"" "$work/t2b.jsonl"
check "2b: the journal names the holder's pid and ETXTBSY" \
    grep -q "\"host\":\"h1\".*\"step\":\"restart\".*\"errno_name\":\"ETXTBSY\".*\"holders\":\[{[^]]*\"pid\":$holder[,}]" "$(journal)"
check "2b: the halt says ETXTBSY" grep -q "halting: host h1 failed.*ETXTBSY" <<<"$out"
check "2b: the canary ends rolled_back" grep -q "^h1 .* rolled_back " <<<"$out"
check "2b: the journal ends rolled_back" grep -q '"result":"rolled_back"' "$(journal)"
check "2b: every target is v1" same_as "$work/v1" 1 $n
check "2b: every host answers version 1" answers 1 1 $n

# --- 2c: the canary's restart command held open for writing for good:
# restart and the rollback's restart are refused naming its pid, exit 3
fresh_fleet
sleep 300 3>>"$work/fleet/host1/restart.sh" &
holder=$!
apply t2c "$work/v2.yml"
kill $holder
wait $holder 2>/dev/null
check "2c: apply exits 3 (rollback incomplete)" [ "$rc" -eq 3 ]
check "2c: the canary ends rollback_failed" grep -q "^h1 .* rollback_failed " <<<"$out"
check "2c: the journal names the holder's pid" \
    grep -q "\"host\":\"h1\".*\"step\":\"restart\".*\"holders\":\[{[^]]*\"pid\":$holder" "$(journal)"
check "2c: the journal ends rollback_incomplete" grep -q '"result":"rollback_incomplete"' "$(journal)"
check "2c: no other host was touched" answers 1 2 $n

# --- 4b: v3 on 4 hosts at once: every failure after the halt is counted,
# the rollout still ends and puts all 4 back
fresh_fleet
apply t4b "$work/v3wide.yml"
check "4b: apply exits 1" [ "$rc" -eq 1 ]
check "4b: 4 hosts rolled back" [ "$(grep -c ' rolled_back ' <<<"$out")" -eq 4 ]
check "4b: every host answers version 1" answers 1 1 $n
check "4b: batch 2 never started" bash -c "! grep -q '\"kind\":\"batch\",\"event\":\"start\",\"batch\":2' '$(journal)'"

echo "test_rollout: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
