#!/bin/sh
# plot.sh — draw docs/benchmarks-fanout.png from bench/results/fanout.jsonl.
# usage: bench/plot.sh [results.jsonl] [out.png]
set -eu
cd "$(dirname "$0")/.."
in=${1:-bench/results/fanout.jsonl}
out=${2:-docs/benchmarks-fanout.png}
go run ./bench/plot -in "$in" -out "$out"
echo "wrote $out"
