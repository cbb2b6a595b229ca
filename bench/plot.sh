#!/bin/sh
# plot.sh — draw docs/benchmarks-fanout.png from bench/results/fanout.jsonl.
# usage: bench/plot.sh [results.jsonl] [out.png]
set -eu
cd "$(dirname "$0")/.."
in=${1:-bench/results/fanout.jsonl}
out=${2:-docs/benchmarks-fanout.png}
in=$(realpath -m "$in")
out_abs=$(realpath -m "$out")
# bench/plot is a module of its own, so gonum stays out of the binary's go.mod.
(cd bench/plot && go run . -in "$in" -out "$out_abs")
echo "wrote $out"
