#!/usr/bin/env bash
# etxroll apply over the SSH carrier (issue 6), against real OpenSSH sshd
# servers the test starts (tests/integration/sshd_lib.sh): a local fleet of
# 6 hosts (scripts/demo-fleet.sh); h1 and h2 keep their resident agents
# (TCP), h3..h6 lose theirs and are reached over SSH, each through its own
# sshd on its own address 127.0.0.(20+i), running etxroll-agent --stdio
# with that host's agent.yml.
#   1  a rollout over SSH only (h3..h6): every host healthy on v2,
#      byte-identical; one SSH login per host serves all its steps
#   2  a mixed fleet (h1..h6: agents and SSH) in one plan and one rollout
#   3  an unknown host key and a wrong client key: refused with what to
#      do, exit 1, no host changed; accept-new learns the key
#   4  push_agent: a host without the agent gets ours over SFTP, verified,
#      cached under push_dir, and used
#   5  sshd of a batch-2 host stopped (sessions too) at the gate after
#      batch 1 and not restarted: that host fails after its retries, the
#      rollout halts, the touched hosts are rolled back, exit 1
#   6  the canary's SSH session killed during its (slowed) restart, sshd
#      left running: the step is retried on a new connection, every host
#      ends healthy on v2
# Usage: test_ssh_rollout.sh BUILD_DIR SOURCE_DIR
set -u
build=$1
src=$2
work=$(mktemp -d /tmp/etxroll-ssh.XXXXXX)
n=6
fleet_slot=4 # its own port range (fleet_lib.sh)
# shellcheck source=fleet_lib.sh
. "$src/tests/integration/fleet_lib.sh"
# shellcheck source=sshd_lib.sh
. "$src/tests/integration/sshd_lib.sh"
ssh_base=$((ETX_AGENT_BASE + 1000)) # within this script's range
trap 'for i in 3 4 5 6; do etx_sshd_stop "$work/ssh/h$i"; done
      fleet stop "$work/fleet"; [ -n "${ETX_KEEP:-}" ] || rm -rf "$work"' EXIT

ssh_addr() { echo "127.0.0.$((20 + $1))"; }
ssh_port() { echo $((ssh_base + $1)); }

start_sshds() {
    local i
    mkdir -p "$work/ssh"
    : >"$work/ssh/known_hosts"
    for i in 3 4 5 6; do
        etx_sshd_keys "$work/ssh/h$i" &&
            etx_sshd_start "$work/ssh/h$i" "$(ssh_addr $i)" "$(ssh_port $i)" ||
            exit 1
        etx_sshd_known_hosts "$work/ssh/h$i" "$(ssh_addr $i)" \
            "$(ssh_port $i)" >>"$work/ssh/known_hosts"
    done
}

# The fleet with v1 everywhere; h3..h6 without a resident agent.
fresh_ssh_fleet() {
    local i
    fresh_fleet
    for i in 3 4 5 6; do
        kill "$(cat "$work/fleet/host$i/agent.pid")"
        rm -f "$work/fleet/host$i/agent.pid"
    done
}

ssh_transport() { # ssh_transport I [EXTRA]: host I's transport mapping
    # ($known and $agent, when set, replace known_hosts and agent_path)
    echo "{kind: ssh, port: $(ssh_port "$1"), user: root," \
        "identity_file: $work/ssh/h$1/client_ed25519," \
        "known_hosts: ${known:-$work/ssh/known_hosts}," \
        "agent_path: ${agent:-$build/etxroll-agent}," \
        "agent_config: $work/fleet/host$1/agent.yml${2:-}}"
}

host_yaml() { # host_yaml I: one host of the inventory
    local vars="vars: {root: $work/fleet/host$1, port: \"$((ETX_SERVICE_BASE + $1))\"}"
    if [ "$1" -le 2 ]; then
        echo "  h$1: {address: 127.0.0.1, transport: {port: $((ETX_AGENT_BASE + $1))}, $vars}"
    elif [ "${push_host:-}" = "$1" ]; then
        echo "  h$1: {address: $(ssh_addr "$1"), transport: $(agent=etxroll-agent ssh_transport "$1" ", push_agent: true, push_dir: $work/push"), $vars}"
    else
        echo "  h$1: {address: $(ssh_addr "$1"), transport: $(ssh_transport "$1"), $vars}"
    fi
}

inventory() { # inventory FILE ARTIFACT FIRST LAST [EXTRA-BATCHES]
    local i
    {
        echo "version: 1"
        echo "fleet: itest"
        echo "defaults: {transport: {kind: agent, key_file: $work/fleet/demo.key}}"
        echo "hosts:"
        for i in $(seq "$3" "$4"); do host_yaml "$i"; done
        echo "artifact: {path: $2}"
        echo "target: {path: \"\${root}/app/bin/app\", strategy: rename, mode: \"0755\"}"
        echo "restart: {command: [\"\${root}/restart.sh\"], timeout: 10s, confirm: 5s}"
        echo "health:"
        echo "  http: {url: \"http://127.0.0.1:\${port}/\", status: 200, body_contains: version}"
        echo "  interval: 100ms"
        echo "  timeout: 1s"
        echo "  consecutive: 2"
        echo "  deadline: 5s"
        echo "batches: {sizes: [1, \"100%\"]${5:-}}"
        echo "max_failures: 0"
        echo "retry: {attempts: 3, first: 100ms, multiplier: 2, cap: 1s, jitter: full}"
        echo "on_failure: rollback"
    } >"$1"
}

logins() { # logins I: public-key logins sshd of host I accepted so far
    grep -c "Accepted publickey for root" "$work/ssh/h$1/sshd.log"
}

cp "$svc/etx_demo_service_v1" "$work/v1"
cp "$svc/etx_demo_service_v2" "$work/v2"
start_sshds

# --- 1: SSH only ----------------------------------------------------------
fresh_ssh_fleet
inventory "$work/ssh-only.yml" "$work/v2" 3 6
for i in 3 4 5 6; do before[i]=$(logins $i); done
apply t1 "$work/ssh-only.yml"
check "1: apply over ssh exits 0 ($rc)" [ "$rc" -eq 0 ]
check "1: every ssh host answers version 2" answers 2 3 6
check "1: every target is byte-identical v2" same_as "$work/v2" 3 6
for i in 3 4 5 6; do
    check "1: h$i was reached with one ssh login" \
        [ $(($(logins $i) - before[i])) -eq 1 ]
done
check "1: the summary shows 4 healthy hosts" \
    [ "$(grep -c ' healthy ' <<<"$out")" -eq 4 ]

# --- 2: a mixed fleet -----------------------------------------------------
fresh_ssh_fleet
inventory "$work/mixed.yml" "$work/v2" 1 6
"$etxroll" plan "$work/mixed.yml" --json >"$work/mixed-plan.json" 2>"$work/mixed-plan.err"
check "2: plan probes agent and ssh hosts alike" \
    [ "$(grep -o '"state": *"probed"' "$work/mixed-plan.json" | wc -l)" -eq 6 ]
apply t2 "$work/mixed.yml"
check "2: the mixed rollout exits 0 ($rc)" [ "$rc" -eq 0 ]
check "2: every host answers version 2" answers 2 1 6
check "2: every target is byte-identical v2" same_as "$work/v2" 1 6

# --- 3: host keys and client keys ------------------------------------------
fresh_ssh_fleet
: >"$work/ssh/empty_known_hosts"
known=$work/ssh/empty_known_hosts inventory "$work/unknown.yml" "$work/v2" 3 6
apply t3a "$work/unknown.yml"
check "3: an unknown host key: exit 1 ($rc)" [ "$rc" -eq 1 ]
check "3: the error names known_hosts, the fingerprint and what to do" \
    grep -q "h3.*unknown host key.*SHA256:.*empty_known_hosts.*ssh-keyscan.*accept-new" "$work/t3a.out"
check "3: the unknown host key is not retried" \
    bash -c "! grep -q '\"event\":\"retry\"' '$work/t3a.jsonl'"
check "3: no host changed" same_as "$work/v1" 1 6
check "3: known_hosts was not written" [ ! -s "$work/ssh/empty_known_hosts" ]

inventory "$work/wrongkey.yml" "$work/v2" 3 6
sed -i "s|h3/client_ed25519|h4/client_ed25519|" "$work/wrongkey.yml"
apply t3b "$work/wrongkey.yml"
check "3: a wrong client key: exit 1 ($rc)" [ "$rc" -eq 1 ]
check "3: the error says the key was refused" \
    grep -qi "h3.*\(refused\|denied\).*identity_file" "$work/t3b.out"
check "3: still no host changed" same_as "$work/v1" 1 6

known=$work/ssh/learn_known_hosts inventory "$work/learn.yml" "$work/v2" 3 6
sed -i "s|known_hosts: $work/ssh/learn_known_hosts|&, host_key: accept-new|" "$work/learn.yml"
apply t3c "$work/learn.yml"
check "3: accept-new learns the host keys and the rollout runs ($rc)" [ "$rc" -eq 0 ]
check "3: the learnt known_hosts has the 4 keys" \
    [ "$(grep -c ssh-ed25519 "$work/ssh/learn_known_hosts")" -eq 4 ]

# --- 4: push_agent --------------------------------------------------------
fresh_ssh_fleet
rm -rf "$work/push"
push_host=3 inventory "$work/push.yml" "$work/v2" 3 4
apply t4 "$work/push.yml"
sha=$(sha256sum "$build/etxroll-agent" | cut -c1-16)
check "4: push_agent rollout exits 0 ($rc)" [ "$rc" -eq 0 ]
check "4: the pushed agent is cached under push_dir by digest" \
    cmp -s "$build/etxroll-agent" "$work/push/etxroll-agent-$sha"
check "4: no temporary file is left in push_dir" \
    [ "$(find "$work/push" -mindepth 1 | wc -l)" -eq 1 ]
check "4: h3 answers version 2" answers 2 3 4
check "4: there was no etxroll-agent on sshd's PATH to use instead" \
    bash -c "! PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin command -v etxroll-agent"

# --- 5: sshd stopped mid-rollout -------------------------------------------
fresh_ssh_fleet
inventory "$work/gate.yml" "$work/v2" 3 6 ", gate_after: [1]"
"$etxroll" apply "$work/gate.yml" --state-dir "$work/state" \
    --log-json "$work/t5.jsonl" >"$work/t5.out" 2>&1 &
pid=$!
for _ in $(seq 1 300); do
    grep -q "waiting at the gate" "$work/t5.out" && break
    sleep 0.1
done
check "5: the rollout waits at the gate after batch 1" grep -q "waiting at the gate" "$work/t5.out"
etx_sshd_stop "$work/ssh/h5"
id=$(awk '/^rollout .* of fleet/ {print $2; exit}' "$work/t5.out")
"$etxroll" continue "$id" --state-dir "$work/state" >/dev/null
wait $pid
rc=$?
check "5: apply exits 1 (halted and rolled back) ($rc)" [ "$rc" -eq 1 ]
check "5: h5's connection was retried (ECONNREFUSED)" \
    grep -q '"event":"retry".*"host":"h5"\|"host":"h5".*"event":"retry"' "$work/t5.jsonl"
check "5: h5 failed after its retries, unreachable" \
    grep -q "^h5 .* failed .*after 3 attempts: the host's agent stayed unreachable" "$work/t5.out"
check "5: the canary h3 was rolled back" grep -q "^h3 .* rolled_back " "$work/t5.out"
check "5: every host is back on byte-identical v1" same_as "$work/v1" 3 6
check "5: every host answers version 1" answers 1 3 6

# --- 6: a session dropped mid-step, sshd still there -----------------------
fresh_ssh_fleet
etx_sshd_start "$work/ssh/h5" "$(ssh_addr 5)" "$(ssh_port 5)" || exit 1
sed -i '2i sleep 2 # test 6: a slow restart' "$work/fleet/host3/restart.sh"
inventory "$work/drop.yml" "$work/v2" 3 6
before3=$(logins 3)
"$etxroll" apply "$work/drop.yml" --state-dir "$work/state" \
    --log-json "$work/t6.jsonl" >"$work/t6.out" 2>&1 &
pid=$!
for _ in $(seq 1 300); do
    grep -q '"event":"intent".*"host":"h3".*"step":"restart"\|"host":"h3".*"event":"intent".*"step":"restart"' \
        "$work/t6.jsonl" 2>/dev/null && break
    sleep 0.1
done
sleep 0.5 # the restart request is with the agent, which sleeps in restart.sh
sessions=$(pgrep -P "$(cat "$work/ssh/h3/etx_sshd.pid")")
check "6: h3 has a live ssh session to drop" [ -n "$sessions" ]
# shellcheck disable=SC2086 # one pid per word
kill -KILL $sessions
wait $pid
rc=$?
check "6: apply exits 0 after the drop ($rc)" [ "$rc" -eq 0 ]
check "6: h3 logged in again after the drop" [ $(($(logins 3) - before3)) -ge 2 ]
check "6: the lost connection was retried for h3" \
    grep -q '"event":"retry".*"host":"h3"\|"host":"h3".*"event":"retry"' "$work/t6.jsonl"
check "6: every host answers version 2" answers 2 3 6
check "6: every target is byte-identical v2" same_as "$work/v2" 3 6

echo "test_ssh_rollout: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
