#!/usr/bin/env bash
# Runs every fuzz target for ten minutes (or SECONDS_PER_TARGET), one after the other,
# keeping the corpus each run grows. Not for CI: for before a release and after changes
# to the wire handling, framing or snapshot parsing.
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_PER_TARGET=${SECONDS_PER_TARGET:-600} exec ./smoke.sh
