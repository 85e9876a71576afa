#!/usr/bin/env bash
# A bounded soak of `user-phone serve`: ROUNDS rounds (2 by default) of REST over HTTP/1.1
# and gRPC over HTTP/2 cleartext, REQUESTS each (250000 by default, so 1M in all) at 64
# connections, from the SQLite store (or the demo snapshot in memory with STORE=memory).
# Every answer is checked: all must be 2xx and carry exactly the bytes of the right answer,
# which h2load's byte count shows. The server's RSS is sampled before, during and after
# each round, and must not grow after the first. Not for CI: it takes minutes and wants
# the machine to itself.
#
# Needs h2load (Debian: nghttp2-client). Usage: scripts/soak.sh [REQUESTS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

requests=${1:-250000}
connections=${CONNECTIONS:-64}
port=${PORT:-18080}
host="127.0.0.1:$port"
token="Bearer demo-bot-token"
work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT

command -v h2load >/dev/null || { echo "soak: needs h2load (apt-get install nghttp2-client)" >&2; exit 2; }
cargo build --release --locked -p user-phone --bin user-phone
binary=target/release/user-phone

case ${STORE:-sqlite} in
    memory) store=(--data host/data/demo.json) ;;
    *) store=(--db "$work/soak.db") ;;
esac
RUST_LOG=warn "$binary" serve --listen "$host" "${store[@]}" --max-instances 256 &
server=$!
for _ in $(seq 100); do
    curl -s -o /dev/null "http://$host/" && break
    sleep 0.1
done

rss() { awk '/^VmRSS/ { print $2 }' "/proc/$server/status"; }
peak() { awk '/^VmHWM/ { print $2 }' "/proc/$server/status"; }

# The right answers, and their sizes on the wire.
rest_path=/management/v1/users/69629026806489455/phone
rest_body=$(curl -s -H "authorization: $token" "http://$host$rest_path")
case $rest_body in
    *'"phone":"+41 71 000 00 00"'*) ;;
    *) echo "soak: unexpected answer before the soak: $rest_body" >&2; exit 1 ;;
esac
# A framed GetHumanPhoneRequest { user_id: "69629026806489455" }.
printf '\x00\x00\x00\x00\x13\x0a\x1169629026806489455' >"$work/grpc.bin"
grpc_path=/zitadel.management.v1.ManagementService/GetHumanPhone
# The framed response is the REST answer's fields in protobuf: measured once with curl.
grpc_size=$(curl -s --http2-prior-knowledge -o "$work/grpc-answer.bin" -w '%{size_download}' \
    -H "authorization: $token" -H 'content-type: application/grpc' -H 'te: trailers' \
    --data-binary @"$work/grpc.bin" "http://$host$grpc_path")

# Warm up, then measure.
h2load -n 2000 -c 8 --h1 -H "authorization: $token" "http://$host$rest_path" >/dev/null
before=$(rss)
echo "RSS before: ${before} KiB"

check() {
    local name=$1 log=$2 expected_bytes=$3
    local succeeded ok data
    succeeded=$(awk '/^requests:/ { print $8 }' "$log")
    ok=$(awk '/^status codes:/ { print $3 }' "$log")
    data=$(awk '/^traffic:/ { for (i = 2; i <= NF; i++) if ($i == "data") print $(i - 1) }' "$log" \
        | tr -d '()')
    echo "$name: $(grep -E '^(finished in|requests:|status codes:)' "$log" | tr '\n' ' ')"
    if [ "$succeeded" != "$requests" ] || [ "$ok" != "$requests" ]; then
        echo "soak: $name: $succeeded of $requests succeeded, $ok answered 2xx" >&2
        return 1
    fi
    if [ -n "$data" ] && [ "$data" != "$expected_bytes" ]; then
        echo "soak: $name: $data body bytes, expected $expected_bytes" >&2
        return 1
    fi
}

sample() {
    local max=0 now
    while kill -0 "$1" 2>/dev/null; do
        now=$(rss)
        [ "$now" -gt "$max" ] && max=$now
        sleep 0.5
    done
    echo "$max"
}

# One round: REQUESTS over REST, then REQUESTS over gRPC. The first round warms the server
# up (connections of both protocols, the store's caches); each later round must end with
# the RSS the first one ended with, give or take a tenth.
round() {
    h2load -n "$requests" -c "$connections" --h1 -H "authorization: $token" \
        "http://$host$rest_path" >"$work/rest.log" &
    load=$!
    sample "$load" >"$work/rest.max" &
    sampler=$!
    wait "$load" "$sampler"
    check "REST over HTTP/1.1" "$work/rest.log" $((requests * ${#rest_body}))
    echo "RSS during REST: at most $(cat "$work/rest.max") KiB"

    h2load -n "$requests" -c "$connections" -m 2 -d "$work/grpc.bin" \
        -H "authorization: $token" -H 'content-type: application/grpc' -H 'te: trailers' \
        "http://$host$grpc_path" >"$work/grpc.log" &
    load=$!
    sample "$load" >"$work/grpc.max" &
    sampler=$!
    wait "$load" "$sampler"
    check "gRPC over HTTP/2" "$work/grpc.log" $((requests * grpc_size))
    echo "RSS during gRPC: at most $(cat "$work/grpc.max") KiB"
}

rounds=${ROUNDS:-2}
for n in $(seq "$rounds"); do
    round
    settled[$n]=$(rss)
    echo "RSS after round $n: ${settled[$n]} KiB"
    if [ "$n" -gt 1 ] && [ "${settled[$n]}" -gt $((settled[1] + settled[1] / 10)) ]; then
        echo "soak: the RSS grew from ${settled[1]} KiB to ${settled[$n]} KiB after warm-up" >&2
        exit 1
    fi
done

after=$(rss)
answer=$(curl -s -H "authorization: $token" "http://$host$rest_path")
[ "$answer" = "$rest_body" ] || { echo "soak: wrong answer after the soak: $answer" >&2; exit 1; }
echo "RSS after: ${after} KiB (before ${before} KiB, peak $(peak) KiB)"
echo "soak: $((2 * rounds * requests)) requests, all answered correctly"
