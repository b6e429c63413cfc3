#!/usr/bin/env bash
# Installs every Debian package etxroll needs to build, test and fuzz
# (the list of ../shared/DESIGN.md plus the tools the tests drive).
# Safe to run again; needs root (or sudo).
set -euo pipefail

packages=(
    build-essential cmake pkg-config clang libclang-rt-dev
    libuv1-dev libyaml-dev libssh-dev libssl-dev
    libprotobuf-c-dev protobuf-c-compiler libjansson-dev
    libcurl4-openssl-dev libarchive-dev libcmocka-dev
    libcap2-bin attr strace psmisc procps curl nginx-light time
    openssh-server openssh-client
)

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
    sudo_cmd=(sudo)
fi

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "install-deps: all ${#packages[@]} packages already installed"
    exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -q
"${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
