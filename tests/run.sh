#!/usr/bin/env bash
# Runs every test of the project: the scenario table's self-check against an independent
# reading of the spec, the Rust workspace (guest logic natively, the host, the
# scenario table through the real component, the server end to end), then the same
# scenario table through the same component in Node.js, transpiled with jco.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

python3 tests/check_scenarios.py
cargo test --workspace --locked

# The host's build script leaves the component here; the Node.js host runs this very file.
export USER_PHONE_WASM="$root/target/guest/wasm32-wasip2/guest/user_phone_guest.wasm"
npm ci --prefix tests/node --no-audit --no-fund --loglevel=error
npm test --prefix tests/node
