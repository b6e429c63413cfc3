# Sourced by the tests that need a real OpenSSH server: each instance is a
# private /usr/sbin/sshd with its own config, host key and authorized key,
# listening on one loopback address, run as root (public-key login only).
#
#   . tests/integration/sshd_lib.sh
#   etx_sshd_keys "$d"                       # client + host ed25519 keys
#   etx_sshd_start "$d" 127.0.0.2 "$port"    # returns once it accepts
#   etx_sshd_known_hosts "$d" 127.0.0.2 "$port" >"$d/known_hosts"
#   ssh -i "$d/client_ed25519" -o UserKnownHostsFile="$d/known_hosts" \
#       -p "$port" root@127.0.0.2 true
#   etx_sshd_stop "$d"                       # listener and every session
#
# Several instances run at once on distinct 127.0.0.x addresses, each with
# its own DIR. The server's log is DIR/sshd.log. Every function returns
# non-zero, with a message on stderr, when it fails.
# shellcheck shell=bash

_etx_sshd_abs() { # _etx_sshd_abs DIR: the absolute path of an existing DIR
    (cd "$1" && pwd -P)
}

etx_sshd_keys() { # etx_sshd_keys DIR
    local dir
    mkdir -p "$1" && dir=$(_etx_sshd_abs "$1") || return 1
    rm -f "$dir"/client_ed25519 "$dir"/client_ed25519.pub \
        "$dir"/host_ed25519 "$dir"/host_ed25519.pub
    ssh-keygen -q -t ed25519 -N '' -C etx-client -f "$dir/client_ed25519" &&
        ssh-keygen -q -t ed25519 -N '' -C etx-host -f "$dir/host_ed25519" &&
        cp "$dir/client_ed25519.pub" "$dir/authorized_keys" &&
        chmod 600 "$dir/authorized_keys"
}

_etx_sshd_listen() { # _etx_sshd_listen ADDR PORT: sshd's ListenAddress
    case $1 in
    *:*) printf '[%s]:%s\n' "$1" "$2" ;;
    *) printf '%s:%s\n' "$1" "$2" ;;
    esac
}

_etx_sshd_config() { # _etx_sshd_config DIR ADDR PORT
    cat >"$1/sshd_config" <<EOF
ListenAddress $(_etx_sshd_listen "$2" "$3")
HostKey $1/host_ed25519
PidFile $1/sshd.pid
AuthorizedKeysFile $1/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
PrintMotd no
PrintLastLog no
Subsystem sftp internal-sftp
LogLevel VERBOSE
MaxStartups 200
EOF
}

_etx_sshd_alive() { # _etx_sshd_alive PID: running, not a zombie
    local state
    [ -r "/proc/$1/stat" ] || return 1
    state=$(sed 's/^.*) \(.\).*$/\1/' "/proc/$1/stat" 2>/dev/null) ||
        return 1
    [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

_etx_sshd_ours() { # _etx_sshd_ours DIR PID: PID is DIR's sshd listener
    local cmd
    _etx_sshd_alive "$2" || return 1
    cmd=$(tr '\0' ' ' <"/proc/$2/cmdline" 2>/dev/null) || return 1
    [ "$(readlink "/proc/$2/exe")" = /usr/sbin/sshd ] || return 1
    case $cmd in
    *"-f $1/sshd_config"*) return 0 ;;
    esac
    return 1
}

_etx_sshd_accepts() { # _etx_sshd_accepts ADDR PORT
    # shellcheck disable=SC2016 # expanded by the inner bash
    timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null
}

_etx_sshd_fail() { # _etx_sshd_fail DIR MESSAGE
    {
        echo "etx_sshd_start: $2"
        echo "--- $1/sshd.log:"
        cat "$1/sshd.log" 2>/dev/null
        echo "---"
    } >&2
    etx_sshd_stop "$1"
    return 1
}

etx_sshd_start() { # etx_sshd_start DIR ADDR PORT
    local dir addr=$2 port=$3 pid i
    dir=$(_etx_sshd_abs "$1") || return 1
    [ -r "$dir/host_ed25519" ] || {
        echo "etx_sshd_start: no $dir/host_ed25519 (etx_sshd_keys first)" >&2
        return 1
    }
    etx_sshd_stop "$dir" || return 1
    _etx_sshd_config "$dir" "$addr" "$port" || return 1
    if [ ! -d /run/sshd ]; then
        mkdir -p /run/sshd && chmod 0755 /run/sshd || return 1
    fi
    rm -f "$dir/sshd.pid"
    /usr/sbin/sshd -D -e -f "$dir/sshd_config" \
        </dev/null >"$dir/sshd.log" 2>&1 &
    pid=$!
    disown "$pid"
    echo "$pid" >"$dir/etx_sshd.pid"
    for ((i = 0; i < 100; i++)); do
        _etx_sshd_alive "$pid" ||
            { _etx_sshd_fail "$dir" "sshd exited"; return 1; }
        # Ours listens (another server may hold the port), and accepts.
        grep -qF "Server listening on $addr port $port." \
            "$dir/sshd.log" && _etx_sshd_accepts "$addr" "$port" &&
            return 0
        sleep 0.1
    done
    _etx_sshd_fail "$dir" "$addr:$port does not accept after 10 s"
}

_etx_sshd_tree() { # _etx_sshd_tree PID...: the PIDs and their descendants
    local p
    for p in "$@"; do
        echo "$p"
        # shellcheck disable=SC2046
        _etx_sshd_tree $(pgrep -P "$p")
    done
}

_etx_sshd_freeze() { # _etx_sshd_freeze PID: stop PID's tree, print it
    local all=" " new p changed=1
    while [ "$changed" = 1 ]; do
        changed=0
        for p in $(_etx_sshd_tree "$1"); do
            case $all in
            *" $p "*) ;;
            *)
                kill -STOP "$p" 2>/dev/null
                all="$all$p "
                changed=1
                ;;
            esac
        done
    done
    for new in $all; do echo "$new"; done
}

etx_sshd_stop() { # etx_sshd_stop DIR: idempotent
    local dir pid pids p i left
    dir=$(_etx_sshd_abs "$1" 2>/dev/null) || return 0
    # shellcheck disable=SC2013 # one number per file
    for pid in $(cat "$dir/etx_sshd.pid" "$dir/sshd.pid" 2>/dev/null); do
        _etx_sshd_ours "$dir" "$pid" || continue
        # Stopped processes cannot fork, so the tree walked is complete.
        pids=$(_etx_sshd_freeze "$pid")
        for p in $pids; do kill -KILL "$p" 2>/dev/null; done
        # A zombie holds no port or file: the session processes, now
        # orphans, are left for init to reap.
        for ((i = 0; i < 100; i++)); do
            left=
            for p in $pids; do _etx_sshd_alive "$p" && left="$left $p"; done
            [ -z "$left" ] && break
            sleep 0.1
        done
        [ -z "$left" ] || {
            echo "etx_sshd_stop: processes$left survive SIGKILL" >&2
            return 1
        }
    done
    rm -f "$dir/etx_sshd.pid" "$dir/sshd.pid"
}

etx_sshd_known_hosts() { # etx_sshd_known_hosts DIR ADDR PORT
    local dir host key
    dir=$(_etx_sshd_abs "$1") || return 1
    read -r key <"$dir/host_ed25519.pub" || return 1
    if [ "${3:-22}" = 22 ]; then
        host=$2
    else
        host="[$2]:$3"
    fi
    # shellcheck disable=SC2086 # split "type base64 comment"
    set -- $key
    printf '%s %s %s\n' "$host" "$1" "$2"
}
