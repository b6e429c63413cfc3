#!/usr/bin/env bash
# Runs every libFuzzer target built in BUILD_DIR on a seed corpus:
# inventory-examples/ for the inventory loader (SECONDS, default 60),
# tests/fuzz/seeds/NAME/ for the others when present (OTHER_SECONDS each,
# default 30). A crash, leak or timeout fails the script; its reproducer is
# left in fuzz-artifacts/.
#
#   scripts/fuzz.sh BUILD_DIR [SECONDS [OTHER_SECONDS]]
set -euo pipefail

build=${1:?usage: scripts/fuzz.sh BUILD_DIR [SECONDS]}
seconds=${2:-60}
other_seconds=${3:-30}
top=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/etxroll-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$top/fuzz-artifacts"

status=0
for fuzzer in "$build"/tests/fuzz/fuzz_*; do
    [ -x "$fuzzer" ] || continue
    name=$(basename "$fuzzer")
    corpus="$work/$name"
    mkdir -p "$corpus"
    budget=$other_seconds
    case "$name" in
    fuzz_inventory)
        cp "$top"/inventory-examples/*.yml "$corpus"/
        budget=$seconds
        ;;
    *)
        if [ -d "$top/tests/fuzz/seeds/$name" ]; then
            cp "$top/tests/fuzz/seeds/$name"/* "$corpus"/
        fi
        ;;
    esac
    echo "fuzzing $name for ${budget}s"
    if ! "$fuzzer" -max_total_time="$budget" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$top/fuzz-artifacts/$name-" -print_final_stats=1 \
        "$corpus" >"$work/$name.log" 2>&1; then
        echo "FAILED: $name (reproducer in fuzz-artifacts/)"
        tail -n 40 "$work/$name.log"
        status=1
    else
        grep -E 'stat::number_of_executed_units|Done' "$work/$name.log" |
            sed "s/^/  $name: /" || true
    fi
done
exit "$status"
