#!/usr/bin/env bash
# `make bench`: the publish benchmark (gRPC, SQLite and PostgreSQL, with its
# baselines), the search benchmark, the requests benchmark (deadline
# computations, the overdue queue at 1,000,000 requests) and an idle node's
# resident memory.
# Everything goes to stdout and to target/bench-results.txt.
#
# Environment: GONGKAI_BENCH_N, GONGKAI_BENCH_CLIENTS, GONGKAI_BENCH_BACKENDS
# (publish, requests), GONGKAI_BENCH_DOCS, GONGKAI_BENCH_QUERIES (search),
# GONGKAI_BENCH_REQUESTS (requests), DATABASE_URL
# (an existing PostgreSQL server instead of a temporary cluster) and
# NATS_SERVER_BIN are passed on.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
mkdir -p target
results=$root/target/bench-results.txt

idle_memory() {
    # Not `local`: the EXIT trap runs after this function has returned.
    nats_pid="" node_pid=""
    local nats port ready
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/gongkai-bench.XXXXXX")
    cleanup() {
        if [ -n "$node_pid" ] && kill -0 "$node_pid" 2>/dev/null; then
            kill -TERM "$node_pid" 2>/dev/null || true
            wait "$node_pid" 2>/dev/null || true
        fi
        if [ -n "$nats_pid" ] && kill -0 "$nats_pid" 2>/dev/null; then
            kill -TERM "$nats_pid" 2>/dev/null || true
            wait "$nats_pid" 2>/dev/null || true
        fi
        rm -rf "$tmp"
    }
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    echo "== building the node (release)"
    cargo build --release -q -p gongkai >&2
    local bin=$root/target/release/gongkai

    nats=${NATS_SERVER_BIN:-$(command -v nats-server || echo /usr/sbin/nats-server)}
    # Port -1: nats-server picks a free port and logs it.
    mkdir -p "$tmp/nats"
    "$nats" -a 127.0.0.1 -p -1 -js -sd "$tmp/nats" >"$tmp/nats.log" 2>&1 &
    nats_pid=$!
    port=""
    for _ in $(seq 100); do
        port=$(sed -n 's/.*Listening for client connections on [0-9.]*:\([0-9]*\).*/\1/p' "$tmp/nats.log" | head -n1)
        [ -n "$port" ] && break
        kill -0 "$nats_pid" 2>/dev/null || break
        sleep 0.1
    done
    if [ -z "$port" ]; then
        echo "nats-server did not start:" >&2
        cat "$tmp/nats.log" >&2
        return 1
    fi

    # Every service on a free port, so a demo node left running does not clash.
    local extra=()
    if "$bin" node init --help | grep -q -- --requests-listen; then
        extra+=(--requests-listen 127.0.0.1:0)
    fi
    "$bin" node init --unit 340823.edu --name 南陵县教育局 --org-code 11340823MB1234567X \
        --data-dir "$tmp/node" --nats-url "nats://127.0.0.1:$port" --listen 127.0.0.1:0 \
        "${extra[@]}" >"$tmp/admin.token"
    "$bin" node run --config "$tmp/node/node.toml" >"$tmp/node.out" 2>"$tmp/node.err" &
    node_pid=$!
    ready=""
    for _ in $(seq 300); do
        if grep -q "gongkai node ready" "$tmp/node.out"; then
            ready=yes
            break
        fi
        kill -0 "$node_pid" 2>/dev/null || break
        sleep 0.2
    done
    if [ -z "$ready" ]; then
        echo "the node did not become ready:" >&2
        cat "$tmp/node.out" "$tmp/node.err" >&2
        return 1
    fi
    sleep 5
    local rss hwm
    rss=$(awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$node_pid/status")
    hwm=$(awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$node_pid/status")
    echo "== idle node (node services on SQLite, NATS connected, 5 s after ready)"
    echo "VmRSS ${rss} MB (peak VmHWM ${hwm} MB), pid $node_pid, $(grep 'gongkai node ready' "$tmp/node.out")"
    # How often an idle node wakes: context switches of all its threads.
    local before after
    before=$(switches "$node_pid")
    sleep 10
    after=$(switches "$node_pid")
    echo "idle wake-ups: $(( (after - before) / 10 )) context switches per second over 10 s"

    kill -TERM "$node_pid"
    local rc=0
    wait "$node_pid" || rc=$?
    node_pid=""
    echo "node stopped on SIGTERM (exit status $rc)"
}

# Context switches (voluntary and not) of every thread of process $1 so far.
switches() {
    cat /proc/"$1"/task/*/status 2>/dev/null |
        awk '/^(non)?voluntary_ctxt_switches:/ { n += $2 } END { print n + 0 }'
}

main() {
    echo "Gongkai benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo
    echo "== cargo bench -p gongkai-tests --bench publish"
    cargo bench -p gongkai-tests --bench publish
    echo
    echo "== cargo bench -p gongkai-publishing --bench search"
    cargo bench -p gongkai-publishing --bench search
    echo
    echo "== cargo bench -p gongkai-requests --bench requests"
    cargo bench -p gongkai-requests --bench requests
    echo
    # In a subshell so that its EXIT trap cleans up when it ends.
    (idle_memory)
}

main "$@" | tee "$results"
echo "(saved to ${results#"$root"/})"
