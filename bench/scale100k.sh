#!/bin/sh
# scale100k.sh — 100,000 idle WebSocket connections over 6 chatgate gateway
# processes on one box (loopback), one redis-server: RSS and goroutines per
# gateway, RSS growth per connection, broadcasts (send to all, send to a
# group holding everyone) counted at every load-generator process, then the
# heartbeats received per 100 ms and the gateways' CPU per second over two
# ping intervals. Appends JSON lines to $OUT (docs/BENCHMARKS.md, "100,000
# connections").
#
#   bench/scale100k.sh [extra gateway flags…]     e.g. bench/scale100k.sh --ws-engine nbio
#
# Sizes and rates from the environment (defaults in brackets): CONNS [100000],
# GATEWAYS [6], WORKERS [6] load-generator processes with SRC_PER_WORKER [3]
# source addresses each (127.0.0.10 onwards), CONNECT_RATE [3000]
# connections/s over all workers, HOLD [30s] before memory is read, PING [10s]
# gateway heartbeat interval (0: off), BROADCASTS [4], MAX_TIME [15m], OUT
# [bench/results/scale100k.jsonl], CHATGATE / CHATGATE_BENCH (prebuilt
# binaries; default: built into a temporary directory).
#
# Each process keeps at most (open-files limit − 1000) connections: with the
# usual 20,000 that is 19,000 per gateway and per worker. chatgate-bench
# raises its soft open-files limit to the hard limit (never beyond) and stops
# every process it started, by PID; the whole run is bounded by MAX_TIME.
set -eu
cd "$(dirname "$0")/.."
CONNS=${CONNS:-100000}; GATEWAYS=${GATEWAYS:-6}; WORKERS=${WORKERS:-6}
SRC_PER_WORKER=${SRC_PER_WORKER:-3}; CONNECT_RATE=${CONNECT_RATE:-3000}
HOLD=${HOLD:-30s}; PING=${PING:-10s}; BROADCASTS=${BROADCASTS:-4}; MAX_TIME=${MAX_TIME:-15m}
OUT=${OUT:-bench/results/scale100k.jsonl}

echo "limits: open files soft $(ulimit -Sn) hard $(ulimit -Hn);" \
	"ip_local_port_range $(cat /proc/sys/net/ipv4/ip_local_port_range | tr '\t' -);" \
	"somaxconn $(cat /proc/sys/net/core/somaxconn); tcp_max_syn_backlog $(cat /proc/sys/net/ipv4/tcp_max_syn_backlog)"
echo "load: $(cat /proc/loadavg)"

bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
CG=${CHATGATE:-}; CB=${CHATGATE_BENCH:-}
if [ -z "$CG" ]; then CG=$bin/chatgate; go build -o "$CG" ./cmd/chatgate; fi
if [ -z "$CB" ]; then CB=$bin/chatgate-bench; go build -o "$CB" ./cmd/chatgate-bench; fi
mkdir -p "$(dirname "$OUT")"
set -x
"$CB" run --chatgate-bin "$CG" --systems chatgate --workload scale \
	--conns "$CONNS" --servers "$GATEWAYS" --workers "$WORKERS" --src-ips --src-per-worker "$SRC_PER_WORKER" \
	--connect-rate "$CONNECT_RATE" --hold "$HOLD" --broadcasts "$BROADCASTS" --scale-group \
	--ping-interval "$PING" --heartbeat-intervals 2 \
	--gateway-args "$*" --label "scale100k $(date -u +%Y-%m-%dT%H:%MZ) $*" --out "$OUT" --max-time "$MAX_TIME"
