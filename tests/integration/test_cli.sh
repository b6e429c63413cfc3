#!/usr/bin/env bash
# The command lines as a user runs them: etxroll validate / plan and
# etxroll-agent --check-config, their exit codes, messages and output.
# Usage: test_cli.sh BUILD_DIR SOURCE_DIR
set -u
build=$1
src=$2
etxroll=$build/etxroll
agent=$build/etxroll-agent
work=$(mktemp -d /tmp/etxroll-cli.XXXXXX)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0

check() { # check NAME CONDITION-COMMAND...
    local name=$1
    shift
    if "$@"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL: $name"
    fi
}

run() { # run: sets out, err, rc
    out=$("$@" 2>"$work/stderr")
    rc=$?
    err=$(cat "$work/stderr")
}

for f in "$src"/inventory-examples/*.yml; do
    run "$etxroll" validate "$f"
    check "validate $(basename "$f") exits 0" [ "$rc" -eq 0 ]
    check "validate $(basename "$f") says valid" grep -q ': valid: fleet ' <<<"$out"
done

sed 's/^fleet:/fleeet:/' "$src/inventory-examples/canary.yml" >"$work/broken.yml"
line=$(grep -n '^fleeet:' "$work/broken.yml" | cut -d: -f1)
run "$etxroll" validate "$work/broken.yml"
check "broken inventory exits 2" [ "$rc" -eq 2 ]
check "broken inventory names file:line:col and did-you-mean" \
    grep -q "^$work/broken.yml:$line:1: unknown key 'fleeet'.*did you mean 'fleet'" <<<"$err"
check "broken inventory prints nothing on stdout" [ -z "$out" ]

run "$etxroll" validate "$work/missing.yml"
check "missing inventory exits 2" [ "$rc" -eq 2 ]
check "missing inventory says so" grep -q "missing.yml" <<<"$err"

run "$etxroll" plan "$src/inventory-examples/canary.yml" --offline
check "plan --offline exits 0" [ "$rc" -eq 0 ]
first=$(awk '$1 == "1" && $2 ~ /^web/ {print $2; exit}' <<<"$out")
check "plan shows the canary batch first (web1)" [ "$first" = web1 ]
check "plan shows the gate after the canary" grep -q 'etxroll continue' <<<"$out"

run "$etxroll" plan "$src/inventory-examples/canary.yml" --offline --json
check "plan --json exits 0" [ "$rc" -eq 0 ]
if command -v python3 >/dev/null; then
    check "plan --json is one object with plan_id and batches[].hosts" python3 -c '
import json, sys
d = json.loads(sys.stdin.read())
assert len(d["plan_id"]) == 64
assert d["batches"][0]["hosts"] == ["web1"]
assert all(isinstance(b["hosts"], list) for b in d["batches"])
' <<<"$out"
fi
id1=$(grep -o '"plan_id": "[0-9a-f]*"' <<<"$out")
{ echo "# a comment"; echo; cat "$src/inventory-examples/canary.yml"; } >"$work/commented.yml"
run "$etxroll" plan "$work/commented.yml" --offline --json
id2=$(grep -o '"plan_id": "[0-9a-f]*"' <<<"$out")
check "the plan id is present" [ -n "$id1" ]
check "comments do not change the plan id" [ "$id1" = "$id2" ]
sed 's/web6.prod.example/web7.prod.example/' "$src/inventory-examples/canary.yml" >"$work/changed.yml"
run "$etxroll" plan "$work/changed.yml" --offline --json
id3=$(grep -o '"plan_id": "[0-9a-f]*"' <<<"$out")
check "a changed address changes the plan id" [ "$id1" != "$id3" ]

run "$etxroll" plan "$src/inventory-examples/canary.yml" --offline -o "$work/plan.json"
check "plan -o exits 0" [ "$rc" -eq 0 ]
check "plan -o writes the document" grep -q '"plan_id"' "$work/plan.json"
check "plan -o leaves no temp file" [ "$(ls "$work" | grep -c etxroll-tmp)" -eq 0 ]
run "$etxroll" plan "$src/inventory-examples/canary.yml" --offline -o "$work/nodir/plan.json"
check "plan -o into a missing directory exits 1" [ "$rc" -eq 1 ]

# Probing: the example's key file does not exist, so no host is contacted
# and every host is an "unreachable" hazard: the plan prints, exit 1.
run "$etxroll" plan "$src/inventory-examples/canary.yml"
check "plan without --offline, no host reachable, exits 1" [ "$rc" -eq 1 ]
check "plan without --offline lists unreachable hazards" grep -q 'HAZARD unreachable' <<<"$out"
run "$etxroll" apply "$src/inventory-examples/canary.yml"
check "apply (not built) is refused with exit 2" [ "$rc" -eq 2 ]
run "$etxroll" apply "$src/inventory-examples/blue-green.yml" --state-dir "$work/state"
check "apply of a blue-green inventory is refused with exit 2" [ "$rc" -eq 2 ]
check "apply says blue-green is not built yet" grep -q 'blue-green cutovers are not built yet' <<<"$err"
run "$etxroll" apply "$src/inventory-examples/shared-storage.yml" --state-dir "$work/state"
check "apply of a shared-storage inventory is refused with exit 2" [ "$rc" -eq 2 ]
check "apply says shared storage is not built yet" grep -q 'shared-storage rollouts are not built yet' <<<"$err"
run "$etxroll" frobnicate
check "unknown command exits 2" [ "$rc" -eq 2 ]
run "$etxroll" --help
check "--help exits 0" [ "$rc" -eq 0 ]
check "--help lists the exit codes" grep -q 'Exit codes' <<<"$out"
run "$etxroll" --version
check "--version" grep -q '^etxroll [0-9]' <<<"$out"

run "$etxroll" keygen "$work/agent.key"
check "keygen exits 0" [ "$rc" -eq 0 ]
check "keygen writes mode 0600" [ "$(stat -c %a "$work/agent.key")" = 600 ]
check "keygen writes 64 hex characters" grep -qxE '[0-9a-f]{64}' "$work/agent.key"
key1=$(cat "$work/agent.key")
run "$etxroll" keygen "$work/agent.key"
check "keygen refuses to replace a key (exit 2)" [ "$rc" -eq 2 ]
check "keygen left the old key alone" [ "$(cat "$work/agent.key")" = "$key1" ]
run "$etxroll" keygen "$work/agent.key" --force
check "keygen --force replaces it" [ "$rc" -eq 0 ]
check "keygen --force wrote a new key" [ "$(cat "$work/agent.key")" != "$key1" ]
printf 'listen: 127.0.0.1:7420\nkey_file: %s\nroots: [%s/root]\n' \
    "$work/agent.key" "$work" >"$work/agent.yml"
run "$agent" --check-config "$work/agent.yml"
check "agent --check-config accepts a good config" [ "$rc" -eq 0 ]
chmod 644 "$work/agent.key"
run "$agent" --check-config "$work/agent.yml"
check "agent --check-config refuses a readable key with exit 2" [ "$rc" -eq 2 ]
check "agent --check-config says chmod 600" grep -q 'chmod 600' <<<"$err"
printf 'rootz: [/srv]\n' >"$work/bad-agent.yml"
run "$agent" --check-config "$work/bad-agent.yml"
check "agent --check-config names file:line:col" \
    grep -q "bad-agent.yml:1:1: unknown key 'rootz'" <<<"$err"
run "$agent" --version
check "agent --version" grep -q '^etxroll-agent [0-9]' <<<"$out"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
