#!/bin/sh
# Push request cost, side by side: a redis-server and either a `chatgate http`
# (push API on its internal listener) or one Socket.IO + redis-adapter node
# (POST /publish), then `chatgate-bench push` at a fixed rate over keep-alive
# connections. Prints one JSON result (req/s, latency, user/system CPU µs per
# request of the server and of Redis).
#   bench/push.sh [RATE] [DUR] [BODY] [PATH]          chatgate
#   SYSTEM=socketio bench/push.sh [RATE] [DUR]        the peer (bench/peer.sh first)
#   SYSTEM=floor bench/push.sh [RATE] [DUR]           bare fasthttp answering {"ok":true}
#   SYSTEM=floor-redis bench/push.sh [RATE] [DUR]     the same plus one go-redis PUBLISH per request
#   (FLOOR_SERVER=fiber: the floor on a one-route Fiber app instead of bare fasthttp)
# Needs /tmp/chatgate and /tmp/chatgate-bench (see docs/BENCHMARKS.md).
set -eu
RATE=${1:-1000}; DUR=${2:-20s}
SYSTEM=${SYSTEM:-chatgate}
CG=${CHATGATE:-/tmp/chatgate}; CB=${CHATGATE_BENCH:-/tmp/chatgate-bench}
PEER=${PEER_DIR:-bench/.peer-cache/socketio}
D=$(mktemp -d)
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
RP=$(port); SP=$(port)
redis-server --port "$RP" --bind 127.0.0.1 --save '' --appendonly no --dir "$D" >"$D/redis.log" 2>&1 &
RPID=$!
SPID=
trap 'kill $SPID $RPID 2>/dev/null; wait 2>/dev/null; rm -rf "$D"' EXIT
sleep 0.5
if [ "$SYSTEM" = socketio ]; then
	BODY=${3:-'{"room":"room-0","from":"bench","content":"hello","ts":0}'}
	URL="http://127.0.0.1:$SP${4:-/publish}"
	(cd "$PEER" && PORT=$SP HOST=127.0.0.1 REDIS_URL="redis://127.0.0.1:$RP" NAME=sio-0 exec node server.js) >"$D/server.log" 2>&1 &
	SPID=$!
elif [ "$SYSTEM" = floor ] || [ "$SYSTEM" = floor-redis ]; then
	BODY=${3:-'{"group":"room-0","payload":{"type":"say","content":"hello"}}'}
	URL="http://127.0.0.1:$SP${4:-/api/push/send/group}"
	RURL=; [ "$SYSTEM" = floor-redis ] && RURL="redis://127.0.0.1:$RP/0"
	"$CB" floor --addr "127.0.0.1:$SP" --redis-url "$RURL" --server "${FLOOR_SERVER:-fasthttp}" >"$D/server.log" 2>&1 &
	SPID=$!
else
	BODY=${3:-'{"group":"room-0","payload":{"type":"say","content":"hello"}}'}
	URL="http://127.0.0.1:$SP${4:-/api/push/send/group}"
	# rooms room-0..room-99 each held by two gateways (their inboxes have no
	# subscriber: the publish cost is Redis's, the delivery cost is not measured here)
	for i in $(seq 0 99); do redis-cli -p "$RP" HSET "chat:group:{room-$i}:gw" bench0 1 bench1 1 >/dev/null; done
	"$CG" http --redis-url "redis://127.0.0.1:$RP/0" --http-addr 127.0.0.1:0 --internal-addr "127.0.0.1:$SP" \
		--token-secret bench-secret-0123456789abcdef0123 --api-keys benchkey --log-level warn >"$D/server.log" 2>&1 &
	SPID=$!
fi
for _ in $(seq 1 40); do curl -sf "http://127.0.0.1:$SP/healthz" >/dev/null && break; sleep 0.25; done
"$CB" push --url "$URL" --key benchkey --rate "$RATE" --dur "$DUR" --conc 8 \
	--body "$BODY" --pids "server=$SPID,redis=$RPID"
