#!/bin/sh
# Short fuzz run of every fuzz target in the module (CI; issue 5 "hostile input").
# Usage: scripts/fuzz.sh [duration per target, default 10s]
#
# Targets are found by name (func FuzzXxx in *_test.go): today
# session.FuzzDecodeEnvelope, gateway.FuzzClientFrames, the HTTP body
# fuzzers in httpapi, gatewayworker.FuzzNextPacket and
# phpserial.FuzzUnmarshal. Their seeds are committed (f.Add, plus any
# testdata/fuzz/<Target>/ files), so a plain `go test` replays them too.
# A failing input is written to <pkg>/testdata/fuzz/<Target>/: commit it with the fix.
set -eu
cd "$(dirname "$0")/.."
time="${1:-10s}"
status=0
found=0
for dir in $(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -r -n1 dirname | sort -u); do
	for fn in $(grep -h '^func Fuzz' "$dir"/*_test.go | sed 's/^func \(Fuzz[A-Za-z0-9_]*\).*/\1/' | sort -u); do
		found=$((found + 1))
		echo "== fuzz $fn in $dir for $time"
		# Minimizing a new input takes up to 60s by default; keep runs short.
		if ! go test -run='^$' -fuzz="^${fn}\$" -fuzztime="$time" -fuzzminimizetime=5s "$dir"; then
			status=1
		fi
	done
done
if [ "$found" -eq 0 ]; then
	echo "fuzz.sh: no fuzz targets found" >&2
	exit 1
fi
exit $status
