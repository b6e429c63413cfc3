#!/usr/bin/env bash
# A local fleet of etxroll agents on 127.0.0.1, for the demo and the
# integration tests. Each host N gets BASE/hostN with app/bin/app (demo
# service v1) running on port SERVICE_BASE+N, restart.sh (stops the service
# by its pid file, starts app/bin/app again in the background), agent.yml
# (roots [BASE/hostN], restart_commands [[BASE/hostN/restart.sh]]) and an
# etxroll-agent on 127.0.0.1:AGENT_BASE+N; BASE/demo.key is the fleet key.
# A port that something already listens on is refused (exit 1, naming it):
# the fleet would talk to somebody else's agent or service.
#
#   demo-fleet.sh start [COUNT] [BASE]   (default 4 hosts, /tmp/etxroll-demo)
#   demo-fleet.sh stop [BASE]            kill what start started, by pid file
#
# Environment: ETX_BUILD (build dir, default ./build), ETX_AGENT_BASE
# (default 7420), ETX_SERVICE_BASE (default 8180), ETX_DEMO_KEY (the fleet
# key, default BASE/demo.key; made when missing), ETX_DEMO_V1 (the v1
# binary, default $ETX_BUILD/tests/agent-daemon/etx_demo_service_v1).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${ETX_BUILD:-$top/build}
agent_base=${ETX_AGENT_BASE:-7420}
service_base=${ETX_SERVICE_BASE:-8180}
v1=${ETX_DEMO_V1:-$build/tests/agent-daemon/etx_demo_service_v1}

write_restart() { # write_restart DIR PORT
    cat >"$1/restart.sh" <<EOS
#!/bin/sh
# Restart the demo service of $1: stop the running one, start the new one.
# One restart at a time (flock): two that overlap (a dead coordinator's
# and a resume's) would both stop the same old pid and both start a
# service, and the pid file could name the one that lost the port. The
# pid file is written by the process that becomes the service, after
# setsid (the agent stops a restart by killing its process group, which
# must not leave a service that no pid file names), and the lock is held
# until that process runs the service. A pid is stopped only while it
# runs a file of this host: pids are reused.
d=$1
ours() { case \$(readlink "/proc/\$1/exe" 2>/dev/null) in "\$d"/*) ;; *) return 1 ;; esac; }
exec 9>>"\$d/restart.lock"
flock 9
pid=\$(cat "\$d/app.pid" 2>/dev/null)
i=0
if [ -n "\$pid" ] && ours "\$pid"; then
    kill "\$pid" 2>/dev/null || true
    while ours "\$pid" && [ \$i -lt 50 ]; do
        sleep 0.1; i=\$((i + 1))
    done
fi
setsid sh -c 'echo \$\$ >"\$1/app.pid.tmp" && mv -f "\$1/app.pid.tmp" "\$1/app.pid" &&
    exec "\$1/app/bin/app" "\$2"' sh "\$d" $2 </dev/null >>"\$d/app.log" 2>&1 9>&- &
child=\$!
i=0
while ! ours "\$child" && kill -0 "\$child" 2>/dev/null && [ \$i -lt 100 ]; do
    sleep 0.05; i=\$((i + 1))
done
EOS
    chmod 0755 "$1/restart.sh"
}

taken() { # taken PORT: something listens on 127.0.0.1:PORT
    (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

write_config() { # write_config DIR PORT KEY
    cat >"$1/agent.yml" <<EOS
listen: 127.0.0.1:$2
key_file: $3
roots: [$1]
restart_commands:
  - [$1/restart.sh]
state_dir: $1/agent-state
EOS
}

wait_file() { # wait_file FILE PID: up to 10 s, while PID lives
    local i=0
    while [ ! -s "$1" ] && [ $i -lt 100 ] && kill -0 "$2" 2>/dev/null; do
        sleep 0.1
        i=$((i + 1))
    done
    [ -s "$1" ]
}

start_host() { # start_host BASE N KEY
    local d=$1/host$2 p
    for p in $((agent_base + $2)) $((service_base + $2)); do
        if taken "$p"; then
            echo "demo-fleet: port $p of host$2 is taken: something else listens on 127.0.0.1:$p" >&2
            return 1
        fi
    done
    mkdir -p "$d/app/bin" "$d/agent-state"
    chmod 0700 "$d/agent-state"
    cp "$v1" "$d/app/bin/app"
    chmod 0755 "$d/app/bin/app"
    write_restart "$d" $((service_base + $2))
    write_config "$d" $((agent_base + $2)) "$3"
    "$d/restart.sh"
    rm -f "$d/agent.port"
    setsid "$build/etxroll-agent" --config "$d/agent.yml" \
        --port-file "$d/agent.port" </dev/null >>"$d/agent.log" 2>&1 &
    echo $! >"$d/agent.pid"
    wait_file "$d/agent.port" "$(cat "$d/agent.pid")" || {
        echo "demo-fleet: agent of host$2 did not start; see $d/agent.log" >&2
        return 1
    }
}

start() {
    local n=${1:-4} base=${2:-/tmp/etxroll-demo} i key
    mkdir -p "$base"
    key=${ETX_DEMO_KEY:-$base/demo.key}
    [ -s "$key" ] || "$build/etxroll" keygen "$key" >/dev/null
    for i in $(seq 1 "$n"); do
        start_host "$base" "$i" "$key"
    done
    echo "demo fleet: $n agent(s) on 127.0.0.1:$((agent_base + 1))..$((agent_base + n)) under $base"
}

stop() {
    local base=${1:-/tmp/etxroll-demo} f pid
    for f in "$base"/host*/agent.pid "$base"/host*/app.pid; do
        [ -f "$f" ] || continue
        pid=$(cat "$f")
        kill "$pid" 2>/dev/null || true
        rm -f "$f"
    done
}

case "${1:-}" in
start) shift; start "$@" ;;
stop) shift; stop "$@" ;;
*) echo "usage: demo-fleet.sh start [COUNT] [BASE] | stop [BASE]" >&2; exit 2 ;;
esac
