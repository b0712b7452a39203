#!/usr/bin/env bash
# `make run`: a demo node for a county education bureau on SQLite, with the
# seed's twelve work summaries imported and a search to try.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
demo=${GONGKAI_DEMO_DIR:-$root/data/demo}
nats_port=${GONGKAI_DEMO_NATS_PORT:-4222}
listen=${GONGKAI_DEMO_LISTEN:-127.0.0.1:7401}
requests_listen=${GONGKAI_DEMO_REQUESTS_LISTEN:-127.0.0.1:7402}
server="http://$listen"
mkdir -p "$demo"

deploy/scripts/install-deps.sh

echo "== building"
cargo build -q -p gongkai
bin=$root/target/debug/gongkai

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# NATS with JetStream: use the one on the port when it runs, else start ours.
if port_open "$nats_port"; then
    echo "== using the NATS server on 127.0.0.1:$nats_port"
else
    echo "== starting nats-server (JetStream) on 127.0.0.1:$nats_port"
    nats=$(command -v nats-server || echo /usr/sbin/nats-server)
    mkdir -p "$demo/nats"
    "$nats" -a 127.0.0.1 -p "$nats_port" -js -sd "$demo/nats" >"$demo/nats.log" 2>&1 &
    echo $! >"$demo/nats.pid"
    for _ in $(seq 50); do port_open "$nats_port" && break; sleep 0.1; done
fi

# A node left running by an earlier `make run` is stopped first.
if [ -f "$demo/node.pid" ] && kill -0 "$(cat "$demo/node.pid")" 2>/dev/null; then
    kill "$(cat "$demo/node.pid")"; sleep 1
fi

if [ ! -f "$demo/node.toml" ]; then
    echo "== node init: 340823.edu 南陵县教育局"
    "$bin" node init --unit 340823.edu --name 南陵县教育局 --org-code 11340823MB1234567X \
        --data-dir "$demo" --nats-url "nats://127.0.0.1:$nats_port" --listen "$listen" --requests-listen "$requests_listen" \
        >"$demo/admin.token"
fi
export GONGKAI_CONFIG=$demo/node.toml GONGKAI_SERVER=$server GONGKAI_REQUESTS_SERVER=http://$requests_listen

echo "== starting the node (log: $demo/node.log)"
"$bin" node run >"$demo/node.log" 2>&1 &
echo $! >"$demo/node.pid"
for _ in $(seq 100); do
    grep -q "gongkai node ready" "$demo/node.log" && break
    if ! kill -0 "$(cat "$demo/node.pid")" 2>/dev/null; then cat "$demo/node.log"; exit 1; fi
    sleep 0.2
done

if [ ! -f "$demo/imported" ]; then
    editor=$("$bin" token issue --sub 信息员 --role editor)
    reviewer=$("$bin" token issue --sub 审核员 --role reviewer)
    deploy/scripts/seed-to-jsonl.sh >"$demo/work-summaries.jsonl"
    echo "== importing the twelve work summaries into 工作总结 (gzzj)"
    "$bin" import --token "$editor" --reviewer-token "$reviewer" "$demo/work-summaries.jsonl"
    touch "$demo/imported"
    sleep 1 # the search index commits within half a second
fi

echo
echo "== gongkai search 公开 --limit 3"
"$bin" search 公开 --limit 3

echo
echo "== a disclosure request received the day before 国庆 (reply due after the holiday)"
"$bin" request submit --name 张三 --phone 13912345678 --channel online \
    --description "2026年义务教育阶段学校招生计划" --received-on 2026-09-30
cat <<MSG

The node runs in the background (pid $(cat "$demo/node.pid"), log $demo/node.log).
Try:
  export GONGKAI_CONFIG=$demo/node.toml GONGKAI_SERVER=$server GONGKAI_REQUESTS_SERVER=http://$requests_listen
  target/debug/gongkai search 财政 --column gzzj
  target/debug/gongkai search 依申请公开 --year 2026
  target/debug/gongkai stats --year 2026
  GONGKAI_TOKEN=\$(cat $demo/admin.token) target/debug/gongkai request queue overdue
Admin token: $demo/admin.token.  Stop with: make stop
MSG
