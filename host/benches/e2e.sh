#!/usr/bin/env bash
# End to end: `user-phone serve` with the demo data in memory against a hyper server that
# answers a fixed body of the same size (host/examples/fixed_body.rs), both on loopback,
# loaded by generators this project did not write: wrk for REST over HTTP/1.1, h2load for
# gRPC over h2c. For 1, 16 and 64 connections it prints throughput and p50/p99 latency of
# each server and the ratio of the component's throughput to the fixed body's.
#
#   bash host/benches/e2e.sh                 # 10 s per run
#   DURATION=3 CONNECTIONS="1 64" bash host/benches/e2e.sh
#
# Installs wrk and h2load (Debian's wrk and nghttp2-client) when they are missing. Sends
# traffic to 127.0.0.1 only, and every run stops by itself after DURATION seconds.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

duration=${DURATION:-10}
connections=${CONNECTIONS:-"1 16 64"}
serve_port=${SERVE_PORT:-18080}
rest_port=$((serve_port + 1))
grpc_port=$((serve_port + 2))
user=69629026806489455
rest_path="/management/v1/users/$user/phone"
grpc_path=/zitadel.management.v1.ManagementService/GetHumanPhone
auth="authorization: Bearer demo-bot-token"

if ! command -v wrk >/dev/null || ! command -v h2load >/dev/null; then
    echo "e2e: installing wrk and h2load" >&2
    apt-get update -qq && apt-get install -y -qq wrk nghttp2-client >/dev/null
fi

cargo build --release --locked -p user-phone --bin user-phone --example fixed_body
bin="$root/target/release/user-phone"
fixed="$root/target/release/examples/fixed_body"

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# Waits until `url` answers, for at most 30 s.
wait_for() {
    for _ in $(seq 300); do
        curl -s -o /dev/null --max-time 1 "$@" && return 0
        sleep 0.1
    done
    echo "e2e: no answer from $*" >&2
    exit 1
}

# The server as deployed: its default log level, the log discarded.
"$bin" serve --listen "127.0.0.1:$serve_port" --data host/data/demo.json 2>"$work/serve.log" &
pids+=($!)
wait_for -H "$auth" "http://127.0.0.1:$serve_port$rest_path"

# The gRPC request body: one frame, flag 0, length 19, `user_id` as protobuf field 1.
printf '\x00\x00\x00\x00\x13\x0a\x11%s' "$user" >"$work/grpc.bin"
rest_size=$(curl -s -o "$work/rest.out" -w '%{size_download}' -H "$auth" \
    "http://127.0.0.1:$serve_port$rest_path")
grpc_size=$(curl -s --http2-prior-knowledge -o "$work/grpc.out" -w '%{size_download}' \
    -H "$auth" -H 'content-type: application/grpc' -H 'te: trailers' \
    --data-binary @"$work/grpc.bin" "http://127.0.0.1:$serve_port$grpc_path")
grep -q '"phone"' "$work/rest.out" || { echo "e2e: the REST answer is not a phone" >&2; exit 1; }
echo "e2e: REST answer $rest_size bytes, gRPC answer $grpc_size bytes"

"$fixed" "127.0.0.1:$rest_port" "$rest_size" application/json 2>/dev/null &
pids+=($!)
"$fixed" "127.0.0.1:$grpc_port" "$grpc_size" application/grpc 2>/dev/null &
pids+=($!)
wait_for "http://127.0.0.1:$rest_port/"
wait_for --http2-prior-knowledge "http://127.0.0.1:$grpc_port/"

# Converts wrk's latency figure (`812.00us`, `1.23ms`, `1.01s`) to milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
        else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 } }'
}

# wrk against `port`: prints "req/s p50_ms p99_ms non-2xx".
run_wrk() {
    local port=$1 c=$2 threads=$(($2 < 2 ? $2 : 2)) out
    out=$(wrk -t "$threads" -c "$c" -d "${duration}s" --latency -H "$auth" \
        "http://127.0.0.1:$port$rest_path")
    local rps p50 p99 bad
    rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
    p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' <<<"$out")")
    p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' <<<"$out")")
    bad=$(awk '/Non-2xx/ { print $NF }' <<<"$out")
    echo "$rps $p50 $p99 ${bad:-0}"
}

# h2load with gRPC against `port`: prints "req/s p50_ms p99_ms non-2xx", the percentiles
# from its per-request log (third column: microseconds until the answer was complete).
run_h2load() {
    local port=$1 c=$2 threads=$(($2 < 2 ? $2 : 2)) out log="$work/h2load.log"
    rm -f "$log"
    out=$(h2load -c "$c" -t "$threads" -m 1 -D "$duration" --warm-up-time=1 \
        --log-file="$log" -d "$work/grpc.bin" -H "$auth" -H 'content-type: application/grpc' \
        -H 'te: trailers' "http://127.0.0.1:$port$grpc_path")
    local rps ok total p50 p99
    rps=$(awk '/^finished in/ { print $4 }' <<<"$out")
    ok=$(awk '/^status codes:/ { print $3 }' <<<"$out")
    total=$(awk '/^requests:/ { print $8 }' <<<"$out")
    read -r p50 p99 < <(cut -f3 "$log" | sort -n | awk '{ v[NR] = $1 } END {
        printf "%.3f %.3f\n", v[int(NR * 0.50) + 1] / 1000, v[int(NR * 0.99) + 1] / 1000 }')
    echo "$rps $p50 $p99 $((total - ok))"
}

printf '\n%-6s %5s | %12s %9s %9s %6s | %12s %9s %9s | %6s\n' proto conns \
    "serve req/s" "p50 ms" "p99 ms" "errors" "fixed req/s" "p50 ms" "p99 ms" ratio
for c in $connections; do
    for proto in rest grpc; do
        if [ "$proto" = rest ]; then
            read -r s_rps s_p50 s_p99 s_bad < <(run_wrk "$serve_port" "$c")
            read -r f_rps f_p50 f_p99 _ < <(run_wrk "$rest_port" "$c")
        else
            read -r s_rps s_p50 s_p99 s_bad < <(run_h2load "$serve_port" "$c")
            read -r f_rps f_p50 f_p99 _ < <(run_h2load "$grpc_port" "$c")
        fi
        ratio=$(awk -v a="$s_rps" -v b="$f_rps" 'BEGIN { printf "%.0f%%", 100 * a / b }')
        printf '%-6s %5s | %12.0f %9s %9s %6s | %12.0f %9s %9s | %6s\n' "$proto" "$c" \
            "$s_rps" "$s_p50" "$s_p99" "$s_bad" "$f_rps" "$f_p50" "$f_p99" "$ratio"
    done
done
