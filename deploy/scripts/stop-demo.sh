#!/usr/bin/env bash
# `make stop`: stops the demo node (gracefully) and the demo's own NATS.
set -euo pipefail
cd "$(dirname "$0")/../.."
demo=${GONGKAI_DEMO_DIR:-$(pwd)/data/demo}
for p in node nats; do
    f=$demo/$p.pid
    if [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null; then
        kill "$(cat "$f")" && echo "stopped $p"
    fi
    rm -f "$f"
done
