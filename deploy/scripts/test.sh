#!/usr/bin/env bash
# Runs the workspace's tests (called by `make test`); extra arguments are passed on.
set -euo pipefail
cd "$(dirname "$0")/../.."

if cargo nextest --version >/dev/null 2>&1; then
    exec cargo nextest run --workspace --no-fail-fast "$@"
fi
echo "test.sh: cargo-nextest not found, using cargo test" >&2
exec cargo test --workspace --no-fail-fast "$@"
