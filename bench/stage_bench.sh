#!/bin/sh
# SPDX-License-Identifier: MIT
# Build bench/stage_bench against an existing build directory's libraries
# and run it. Usage: bench/stage_bench.sh [BUILD_DIR] [SCRATCH_PARENT] [MIB]
# (defaults: build, /var/tmp, 1024). See bench/README.md.
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-"$src/build"}
out="$build/stage_bench"
cmake --build "$build" --target etxroll_agent_core etx_proto >/dev/null
cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Wall -Wextra \
    -I"$src" "$src/bench/stage_bench.c" \
    "$build/libetxroll_agent_core.a" "$build/libetx_proto.a" \
    $(pkg-config --libs libarchive libcrypto jansson libuv yaml-0.1) \
    -o "$out"
exec "$out" "${2:-/var/tmp}" "${3:-1024}"
