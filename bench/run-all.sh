#!/bin/sh
# run-all.sh — every workload of docs/BENCHMARKS.md, chatgate and the
# Socket.IO peer through the same generator in the same run, then the Go
# benchmarks and the plot. Results: bench/results/*.jsonl (small JSON lines).
#
# usage: bench/run-all.sh [quick]
#   quick: 2 s warm-up + 5 s steps, fewer connections (a smoke test, ~3 min)
#
# Everything listens on 127.0.0.0/8; every process is started and stopped by
# chatgate-bench by PID; each run is bounded by --max-time.
set -eu
cd "$(dirname "$0")/.."
mode=${1:-full}
out=bench/results
mkdir -p "$out"
rm -f "$out/fanout.jsonl" "$out/idle.jsonl" "$out/scale.jsonl" # results of this run only
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/chatgate" ./cmd/chatgate
go build -o "$bin/chatgate-bench" ./cmd/chatgate-bench
peer=$(bench/peer.sh)
label=$(date -u +%Y-%m-%dT%H:%MZ)
B="$bin/chatgate-bench run --chatgate-bin $bin/chatgate --peer-dir $peer --label $label"

if [ "$mode" = quick ]; then
	steps="--workers 1 --warmup 2s --duration 5s --rates 20000,60000"
	idle="--conns 2000 --hold 5s"
	scale="--conns 8000 --workers 2"
else
	# one client worker: for 2,000 connections it is the cheapest per delivery
	steps="--workers 1 --warmup 3s --duration 20s --rates 30000,50000,60000,70000,80000,90000,110000,130000"
	idle="--conns 10000 --hold 30s"
	scale="--conns 60000 --workers 5"
fi

echo "== idle connections (chatgate gateways run with the debug host for the memory breakdown)"
$B --workload idle $idle --debug-host --out "$out/idle.jsonl" --max-time 10m
echo "== idle, chatgate: all connections on one gateway (the target is per gateway)"
$B --systems chatgate --workload idle --servers 1 $idle --debug-host --out "$out/idle.jsonl" --max-time 10m
echo "== scale: connections over 4 gateways, broadcast to all"
$B --systems chatgate --workload scale --servers 4 --src-ips $scale --out "$out/scale.jsonl" --max-time 15m
echo "== CPU profile of gateway 0 at 60,000 deliveries/s (debug host)"
$B --systems chatgate --workload fanout --path server --workers 1 --warmup 3s --duration 10s --rates 60000 \
	--debug-host --profile "$bin/prof" --out "$bin/prof.jsonl" --max-time 5m
go tool pprof -top -nodecount 40 "$bin/prof/chatgate-server-60000.pprof" > "$out/pprof-gateway-60000.txt" 2>/dev/null || true
echo "== Go benchmarks"
go test ./session -run '^$' -bench . -benchmem -benchtime 2000x | tee "$out/go-bench-session.txt"
go test ./gateway -run '^$' -bench . -benchmem -benchtime 200x | tee "$out/go-bench-gateway.txt"
# Fan-out last: it is the most sensitive to other load on the machine.
echo "== fan-out, server-side publish (chatgate: Store.SendToGroup; Socket.IO: POST /publish)"
$B --workload fanout --path server $steps --out "$out/fanout.jsonl" --max-time 15m
echo "== fan-out, client publish (chatgate: frame → events stream → relay → SendToGroup; Socket.IO: emit)"
$B --workload fanout --path client $steps --out "$out/fanout.jsonl" --max-time 15m
bench/plot.sh "$out/fanout.jsonl" docs/benchmarks-fanout.png
go run ./bench/report -docs docs/BENCHMARKS.md "$out/fanout.jsonl" "$out/idle.jsonl" "$out/scale.jsonl" \
	"$out/go-bench-session.txt" "$out/go-bench-gateway.txt"
echo "updated the tables in docs/BENCHMARKS.md"
