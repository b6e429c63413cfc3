#!/usr/bin/env bash
# The bake re-checks health: etxroll apply against a real local fleet of 4
# agents on 127.0.0.1 (scripts/demo-fleet.sh), each with the demo service
# v1 running; batches [1, 100%], bake 3s, health every 200ms (so a bake
# check every 600ms), max_failures 0, on_failure rollback.
#   1  every host stays healthy: the rollout ends done (exit 0), every
#      host on v2; each host has at least 2 passing bake checks in the
#      JSON log and in the journal, and the next batch started only after
#      the last bake check of the batch before
#   2  the canary's service is killed after its first bake check passed:
#      the next bake check fails (class integrity, the agent's message),
#      the canary fails, the rollout halts before batch 2 and rolls the
#      canary back (v1, answering v1), exit 1; journal, JSON log, stdout
#      and the halt reason say it failed during the bake
#   3  the same, but the coordinator dies (SIGKILL) right after the
#      failed bake check, its journal cut after that record (as if it died
#      before writing the halt): `etxroll resume` sees more failed hosts
#      than max_failures, records the halt, rolls back, exit 1, every
#      host wholly v1
# Usage: test_gates.sh BUILD_DIR SOURCE_DIR
set -u
build=$1
src=$2
work=$(mktemp -d /tmp/etxroll-gates.XXXXXX)
n=4
fleet_slot=3
# shellcheck source=fleet_lib.sh
. "$src/tests/integration/fleet_lib.sh"

inventory() { # inventory FILE ARTIFACT
    {
        echo "version: 1"
        echo "fleet: gtest"
        fleet_hosts_yaml
        echo "artifact: {path: $2}"
        echo "target: {path: \"\${root}/app/bin/app\", strategy: rename, mode: \"0755\"}"
        echo "restart: {command: [\"\${root}/restart.sh\"], timeout: 10s}"
        echo "health:"
        echo "  http: {url: \"http://127.0.0.1:\${port}/\", status: 200, body_contains: version}"
        echo "  interval: 200ms"
        echo "  timeout: 1s"
        echo "  consecutive: 2"
        echo "  deadline: 2s"
        echo "batches: {sizes: [1, \"100%\"], bake: 3s}"
        echo "max_failures: 0"
        echo "retry: {attempts: 3, first: 100ms, multiplier: 2, cap: 1s, jitter: full}"
        echo "on_failure: rollback"
    } >"$1"
}

journal() { ls "$work"/state/gtest/rollouts/*.jsonl 2>/dev/null | head -1; }

# wait_for FILE PATTERN PID: until FILE has a line matching PATTERN
# (grep -E), or PID ended. True when found.
wait_for() {
    for _ in $(seq 1 1000); do
        grep -qE "$2" "$1" 2>/dev/null && return 0
        kill -0 "$3" 2>/dev/null || return 1
        sleep 0.02
    done
    return 1
}

bake_checks() { # bake_checks FILE KIND HOST: passing bake checks of HOST
    grep -E "\"(kind|event)\":\"$2\"" "$1" | grep "\"host\":\"$3\"" |
        grep '"step":"bake"' | grep -c '"state":"healthy"'
}

# No intent of batch 2 before the last bake outcome of batch 1.
baked_before_next() {
    awk '
    /"kind":"outcome"/ && /"step":"bake"/ && /"batch":1[,}]/ { last = NR }
    /"kind":"intent"/ && /"batch":2[,}]/ && !first { first = NR }
    END { exit !(last > 0 && first > last) }' "$1"
}

cp "$svc/etx_demo_service_v1" "$work/v1"
cp "$svc/etx_demo_service_v2" "$work/v2"
inventory "$work/v2.yml" "$work/v2"
bake_failed='"kind":"outcome","host":"h1","step":"bake","state":"failed"'

# --- 1: every host stays healthy through the bake -------------------------
fresh_fleet
"$etxroll" apply "$work/v2.yml" --state-dir "$work/state" \
    --log-json "$work/t1.jsonl" >"$work/t1.out" 2>&1
rc=$?
check "1: apply exits 0 (got $rc)" [ "$rc" -eq 0 ]
check "1: every host wholly v2" all_on "$work/v2" 2
j=$(journal)
for i in $(seq 1 $n); do
    c=$(bake_checks "$work/t1.jsonl" outcome "h$i")
    check "1: h$i has >= 2 passing bake checks in the JSON log (got $c)" [ "$c" -ge 2 ]
    c=$(bake_checks "$j" outcome "h$i")
    check "1: h$i has >= 2 passing bake checks in the journal (got $c)" [ "$c" -ge 2 ]
done
check "1: stdout says each host stayed healthy through its checks" \
    [ "$(grep -cE '^h[1-4] +bake: healthy through [0-9]+ check' "$work/t1.out")" -eq $n ]
check "1: batch 2 starts after batch 1's last bake check" baked_before_next "$j"
check "1: the journal ends done" grep -q '"result":"done"' "$j"

# --- 2: the canary's service dies during the bake -------------------------
fresh_fleet
: >"$work/t2.jsonl"
"$etxroll" apply "$work/v2.yml" --state-dir "$work/state" \
    --log-json "$work/t2.jsonl" >"$work/t2.out" 2>&1 &
pid=$!
check "2: the canary passed a bake check" \
    wait_for "$work/t2.jsonl" '"event":"outcome","host":"h1".*"state":"healthy","step":"bake"' "$pid"
check "2: its service is killed" kill "$(cat "$work/fleet/host1/app.pid")"
wait "$pid"
rc=$?
j=$(journal)
check "2: apply exits 1 (got $rc)" [ "$rc" -eq 1 ]
check "2: the journal has h1's failed bake check, class integrity" \
    grep -q "$bake_failed.*\"class\":\"integrity\".*health check failed" "$j"
check "2: the JSON log has it with the agent's message" \
    grep -q '"class":"integrity".*"message":"health check failed.*"event":"outcome","host":"h1","message":"bake: failed: health check failed.*"state":"failed","step":"bake"' "$work/t2.jsonl"
check "2: stdout says the bake check failed" \
    grep -qE '^h1 +bake: failed: health check failed' "$work/t2.out"
check "2: the halt names h1 and the bake" \
    grep -q '"event":"halt","reason":"host h1 failed .*during the bake' "$j"
check "2: batch 2 never started" \
    bash -c "! grep -q '\"kind\":\"batch\",\"event\":\"start\",\"batch\":2' '$j'"
check "2: no host of batch 2 was touched" \
    bash -c "! grep -qE '\"host\":\"h[234]\"' '$j'"
check "2: the canary was rolled back" \
    grep -q '"kind":"outcome","host":"h1","step":"check","state":"rolled_back"' "$j"
check "2: the journal ends rolled_back" grep -q '"result":"rolled_back"' "$j"
check "2: every host wholly v1" all_on "$work/v1" 1
"$etxroll" status --state-dir "$work/state" >"$work/t2.status" 2>&1
check "2: status folds it: h1 rolled back, the halt names the bake" \
    bash -c "grep -qE '^h1 .* rolled_back ' '$work/t2.status' && grep -q 'during the bake' '$work/t2.status'"

# --- 3: the coordinator dies right after the failed bake check ------------
fresh_fleet
"$etxroll" apply "$work/v2.yml" --state-dir "$work/state" \
    --log-json "$work/t3.jsonl" >"$work/t3.out" 2>&1 &
pid=$!
wait_for "$work/t3.jsonl" '"event":"outcome","host":"h1".*"state":"healthy","step":"bake"' "$pid"
kill "$(cat "$work/fleet/host1/app.pid")"
check "3: the bake check failed" wait_for "$(journal)" "$bake_failed" "$pid"
check "3: apply was killed" kill -9 "$pid"
wait "$pid" 2>/dev/null
j=$(journal)
cut=$(grep -n "$bake_failed" "$j" | cut -d: -f1)
head -n "$cut" "$j" >"$work/t3.cut"
cat "$work/t3.cut" >"$j"
id=$(basename "$j" .jsonl)
"$etxroll" resume "$id" --state-dir "$work/state" >"$work/t3.resume" 2>&1
rc=$?
check "3: resume exits 1 (got $rc)" [ "$rc" -eq 1 ]
check "3: it halts for the failure the dead run did not act on" \
    grep -q '"event":"halt","reason":"1 host(s) had failed before the coordinator died' "$j"
check "3: batch 2 never started" \
    bash -c "! grep -q '\"kind\":\"batch\",\"event\":\"start\",\"batch\":2' '$j'"
check "3: the journal ends rolled_back" grep -q '"result":"rolled_back"' "$j"
check "3: every host wholly v1" all_on "$work/v1" 1
check "3: no lock is left" [ ! -e "$work/state/gtest/lock.json" ]

echo "test_gates: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
