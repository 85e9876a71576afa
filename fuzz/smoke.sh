#!/usr/bin/env bash
# Runs every fuzz target for a short while (SECONDS_PER_TARGET, 20 by default) from the
# seed corpus, for CI: a crash fails the script and leaves its input in artifacts/.
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
set -euo pipefail
cd "$(dirname "$0")"
seconds=${SECONDS_PER_TARGET:-20}

# The nightly toolchain has no wasm32-wasip2 standard library here: the stable build of the
# workspace makes the component, and the fuzz build embeds that file.
cargo +stable build --locked -p user-phone --lib
export USER_PHONE_PREBUILT_WASM="$PWD/../target/guest/wasm32-wasip2/guest/user_phone_guest.wasm"

python3 seed.py
cargo +nightly fuzz build --sanitizer none
mkdir -p logs
passed=0
for target in $(cargo +nightly fuzz list); do
    echo "== $target: ${seconds}s"
    status=0
    cargo +nightly fuzz run --sanitizer none "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 >"logs/$target.log" 2>&1 || status=$?
    grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)' "logs/$target.log" || true
    if [ "$status" -ne 0 ]; then
        tail -n 40 "logs/$target.log" >&2
        echo "$target failed; its input is in fuzz/artifacts/$target/" >&2
        echo "fuzz: $passed passed, 1 failed"
        exit 1
    fi
    passed=$((passed + 1))
done
echo "fuzz: $passed passed, 0 failed"
