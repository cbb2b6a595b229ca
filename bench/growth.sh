#!/bin/sh
# growth.sh — how cost grows with room size, gateways and connections
# (docs/BENCHMARKS.md "How cost grows"): one offered rate, several shapes,
# chatgate and the Socket.IO peer each time. Results: bench/results/growth.jsonl.
set -eu
cd "$(dirname "$0")/.."
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/chatgate" ./cmd/chatgate
go build -o "$bin/chatgate-bench" ./cmd/chatgate-bench
peer=$(bench/peer.sh)
out=bench/results/growth.jsonl
rm -f "$out"
B="$bin/chatgate-bench run --chatgate-bin $bin/chatgate --peer-dir $peer --warmup 2s --duration 10s --rates 30000 --max-fail 9 --out $out"
$B --rooms 20 --label "rooms=20 size=100 servers=2"
$B --rooms 200 --label "rooms=200 size=10 servers=2"
$B --rooms 20 --servers 4 --label "rooms=20 size=100 servers=4"
$B --rooms 80 --conns 8000 --label "rooms=80 size=100 servers=2 conns=8000"
