#!/usr/bin/env bash
# Sets up and runs every test of etxroll: installs the Debian packages,
# builds twice (plain, and with AddressSanitizer + UBSan) and runs the whole
# ctest suite on both, then builds the libFuzzer targets with clang and runs
# each for a bounded time on a seed corpus. Any failure fails the script.
#
#   scripts/test.sh                 everything (what CI runs)
#   ETX_FUZZ_SECONDS=10 scripts/test.sh   shorter fuzzing of the inventory
#                                         loader (others: ETX_FUZZ_OTHER_SECONDS)
#   ETX_SKIP_FUZZ=1 scripts/test.sh       no fuzzing
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
jobs=$(nproc 2>/dev/null || echo 2)
fuzz_seconds=${ETX_FUZZ_SECONDS:-60}
fuzz_other_seconds=${ETX_FUZZ_OTHER_SECONDS:-30}

step() { printf '\n=== %s\n' "$*"; }

step "installing packages"
bash scripts/install-deps.sh

build_and_test() {
    local dir=$1
    shift
    step "building in $dir ($*)"
    cmake -S . -B "$dir" "$@" >/dev/null
    cmake --build "$dir" -j "$jobs"
    step "testing in $dir"
    # A test that fails is run once more: the integration tests start dozens
    # of real processes on a shared 2-core machine. Both outcomes show in
    # the log; a test that fails twice fails the run.
    ctest --test-dir "$dir" --output-on-failure -j "$jobs" \
        --repeat until-pass:2
}

# The plain build is optimised (what the demo and users run, and -O2 finds
# warnings -O0 does not); the sanitizer build is not.
build_and_test build-test -DCMAKE_BUILD_TYPE=RelWithDebInfo
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    build_and_test build-test-asan -DCMAKE_BUILD_TYPE=Debug -DETX_SANITIZE=ON

if [ "${ETX_SKIP_FUZZ:-0}" != 1 ]; then
    step "building the fuzzers (clang, libFuzzer)"
    cmake -S . -B build-fuzz -DETX_FUZZ=ON -DCMAKE_C_COMPILER=clang \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build build-fuzz -j "$jobs"
    bash scripts/fuzz.sh build-fuzz "$fuzz_seconds" "$fuzz_other_seconds"
fi

step "all tests passed"
