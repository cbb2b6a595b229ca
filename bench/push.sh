#!/bin/sh
# Push API cost: a redis-server and a `chatgate http` on loopback, then
# `chatgate-bench push` at a fixed rate over keep-alive connections. Prints one
# JSON result per run. Usage: bench/push.sh [RATE] [DUR] [BODY] [PATH]
# Needs /tmp/chatgate and /tmp/chatgate-bench (see docs/BENCHMARKS.md).
set -eu
RATE=${1:-1000}; DUR=${2:-20s}
BODY=${3:-'{"group":"room-0","payload":{"type":"say","content":"hello"}}'}
URLPATH=${4:-/api/push/send/group}
CG=${CHATGATE:-/tmp/chatgate}; CB=${CHATGATE_BENCH:-/tmp/chatgate-bench}
D=$(mktemp -d)
RP=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
IP=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
redis-server --port "$RP" --bind 127.0.0.1 --save '' --appendonly no --dir "$D" >"$D/redis.log" 2>&1 &
RPID=$!
trap 'kill $HPID $RPID 2>/dev/null; wait 2>/dev/null; rm -rf "$D"' EXIT
sleep 0.5
# rooms room-0..room-99 each held by two gateways (their inboxes have no
# subscriber: the publish cost is Redis's, the delivery cost is not measured here)
for i in $(seq 0 99); do redis-cli -p "$RP" HSET "chat:group:{room-$i}:gw" bench0 1 bench1 1 >/dev/null; done
"$CG" http --redis-url "redis://127.0.0.1:$RP/0" --http-addr 127.0.0.1:0 --internal-addr "127.0.0.1:$IP" \
  --token-secret bench-secret-0123456789abcdef0123 --api-keys benchkey --log-level warn >"$D/http.log" 2>&1 &
HPID=$!
for _ in 1 2 3 4 5 6 7 8 9 10; do curl -sf "http://127.0.0.1:$IP/healthz" >/dev/null && break; sleep 0.3; done
"$CB" push --url "http://127.0.0.1:$IP$URLPATH" --key benchkey --rate "$RATE" --dur "$DUR" --conc 8 \
  --body "$BODY" --pids "http=$HPID,redis=$RPID"
