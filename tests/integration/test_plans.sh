#!/usr/bin/env bash
# etxroll plan (probing) and etxroll apply PLAN.json against a real local
# fleet: 4 etxroll-agent processes on 127.0.0.1 (scripts/demo-fleet.sh),
# each with the demo service v1 running its target.
#   1  a probed plan records each host's current digest (v1's) and an
#      "executed" hazard per host (the demo service runs the target); the
#      id is the same when nothing changed; the offline id is unchanged
#   2  a plan.json edited by hand: exit 4, "changed after it was made"
#   3  the artifact changed after the plan was saved: exit 4 naming artifact
#   4  one host's target replaced by hand after the plan: exit 4 naming
#      hosts.h3.current
#   5  an unchanged world: apply plan.json (and --expect-plan-id with it)
#      runs the rollout, every host on v2; the same plan again: exit 4
#   6  an agent down: the plan still prints, hazard unreachable, exit 1
# Usage: test_plans.sh BUILD_DIR SOURCE_DIR
set -u
build=$1
src=$2
work=$(mktemp -d /tmp/etxroll-plans.XXXXXX)
n=4
fleet_slot=1 # its own port range (fleet_lib.sh)
# shellcheck source=fleet_lib.sh
. "$src/tests/integration/fleet_lib.sh"

inventory() { # inventory FILE ARTIFACT
    {
        echo "version: 1"
        echo "fleet: ptest"
        fleet_hosts_yaml
        echo "artifact: {path: $2}"
        echo "target: {path: \"\${root}/app/bin/app\", strategy: rename, mode: \"0755\"}"
        echo "restart: {command: [\"\${root}/restart.sh\"], timeout: 10s}"
        echo "health:"
        echo "  http: {url: \"http://127.0.0.1:\${port}/\", status: 200, body_contains: version}"
        echo "  interval: 100ms"
        echo "  timeout: 1s"
        echo "  consecutive: 2"
        echo "  deadline: 5s"
        echo "batches: {sizes: [1, \"100%\"]}"
        echo "max_failures: 0"
        echo "retry: {attempts: 3, first: 100ms, multiplier: 2, cap: 1s, jitter: full}"
        echo "on_failure: rollback"
    } >"$1"
}

run() { # run ARGS...: sets rc, out (stdout and stderr)
    out=$("$@" 2>&1)
    rc=$?
}

apply() { # apply FILE [ARGS]
    local f=$1
    shift
    run "$etxroll" apply "$f" --state-dir "$work/state" "$@"
}

jq_py() { # jq_py FILE EXPR: print a Python expression over the JSON d
    python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"
}

cp "$svc/etx_demo_service_v1" "$work/v1"
cp "$svc/etx_demo_service_v2" "$work/v2"
cp "$work/v2" "$work/art"
inventory "$work/inv.yml" "$work/art"
v1sum=$(sha256sum "$work/v1" | cut -d' ' -f1)
fresh_fleet

# --- 1: a probed plan ----------------------------------------------------
run "$etxroll" plan "$work/inv.yml" -o "$work/plan.json"
check "1: plan exits 0" [ "$rc" -eq 0 ]
check "1: the table shows v1's digest as current" grep -q "current sha256 $v1sum" <<<"$out"
check "1: the table shows an executed hazard" grep -q "HAZARD executed: 1 process(es) execute the target (pid [0-9]" <<<"$out"
check "1: every host's current is probed with v1's digest" \
    [ "$(jq_py "$work/plan.json" "sum(1 for h in d['hosts'].values() if h['current'] == {'state': 'probed', 'exists': True, 'sha256': '$v1sum'})")" -eq $n ]
check "1: one executed hazard per host" \
    [ "$(jq_py "$work/plan.json" "sum(1 for z in d['hazards'] if z['kind'] == 'executed')")" -eq $n ]
check "1: mode probed" [ "$(jq_py "$work/plan.json" "d['mode']")" = probed ]
id=$(jq_py "$work/plan.json" "d['plan_id']")
run "$etxroll" plan "$work/inv.yml" --json
check "1: probing again gives the same id" grep -q "\"plan_id\": \"$id\"" <<<"$out"
run "$etxroll" plan "$work/inv.yml" --offline --json
check "1: the offline plan has another id (no current state)" \
    bash -c "! grep -q '\"plan_id\": \"$id\"' <<<'$out'"
check "1: offline plans say not probed" grep -q '"state": "not probed"' <<<"$out"

# --- 2: a tampered plan --------------------------------------------------
sed 's/"deadline_ms": 5000/"deadline_ms": 500000/' "$work/plan.json" >"$work/tampered.json"
check "2: the tampered copy differs" bash -c "! cmp -s '$work/plan.json' '$work/tampered.json'"
apply "$work/tampered.json"
check "2: a tampered plan exits 4" [ "$rc" -eq 4 ]
check "2: and says it was changed after it was made" grep -q "changed after it was made" <<<"$out"

# --- 3: the artifact changed ---------------------------------------------
printf 'x' >>"$work/art"
apply "$work/plan.json"
check "3: a changed artifact exits 4" [ "$rc" -eq 4 ]
check "3: naming the artifact" grep -q "stale plan.*changed: artifact" <<<"$out"
cp "$work/v2" "$work/art"

# --- 4: one host's target replaced by hand -------------------------------
cp "$work/v2" "$work/fleet/host3/app/bin/app.new"
mv "$work/fleet/host3/app/bin/app.new" "$work/fleet/host3/app/bin/app"
apply "$work/plan.json"
check "4: a changed host exits 4" [ "$rc" -eq 4 ]
check "4: naming hosts.h3.current" grep -q "changed:.*hosts\.h3\.current" <<<"$out"
check "4: and no other host" bash -c "! grep -q 'hosts\.h[124]' <<<'$out'"
check "4: nothing was rolled out" [ ! -d "$work/state/ptest/rollouts" ]

# --- 5: an unchanged world runs -------------------------------------------
fresh_fleet
run "$etxroll" plan "$work/inv.yml" -o "$work/plan.json"
id=$(jq_py "$work/plan.json" "d['plan_id']")
apply "$work/plan.json" --expect-plan-id 0000
check "5: plan.json with another --expect-plan-id exits 4" [ "$rc" -eq 4 ]
apply "$work/plan.json" --expect-plan-id "$id"
check "5: apply plan.json exits 0" [ "$rc" -eq 0 ]
check "5: it ran that plan" grep -q "plan $id" <<<"$out"
check "5: every host answers version 2" answers 2 1 $n
check "5: every target is v2" bash -c "for i in \$(seq 1 $n); do cmp -s '$work/v2' '$work/fleet/host'\$i/app/bin/app || exit 1; done"
apply "$work/plan.json"
check "5: the same plan after the rollout exits 4" [ "$rc" -eq 4 ]
check "5: naming every host's current" [ "$(grep -o 'hosts\.h[0-9]\.current' <<<"$out" | wc -l)" -eq $n ]

# --- 6: an agent down ------------------------------------------------------
kill "$(cat "$work/fleet/host4/agent.pid")"
run "$etxroll" plan "$work/inv.yml" --timeout 5s
check "6: a plan with an unreachable host exits 1" [ "$rc" -eq 1 ]
check "6: it still prints the plan" grep -q "^Plan [0-9a-f]\{64\}" <<<"$out"
check "6: with h4 unreachable" grep -q "HAZARD unreachable" <<<"$out"

echo "test_plans: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
