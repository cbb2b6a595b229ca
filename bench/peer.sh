#!/bin/sh
# peer.sh — prepare the Socket.IO + @socket.io/redis-adapter peer for chatgate-bench.
# Copies the read-only peer (default ../shared/peers/socketio next to the repo,
# or $PEER_SRC) into bench/.peer-cache/socketio (ignored by git) and runs
# `npm ci` there once. Prints the directory to pass as --peer-dir.
set -eu
cd "$(dirname "$0")/.."
src=${PEER_SRC:-../shared/peers/socketio}
dst=bench/.peer-cache/socketio
[ -f "$src/server.js" ] || { echo "peer.sh: no peer at $src (set PEER_SRC)" >&2; exit 1; }
mkdir -p "$dst"
if ! cmp -s "$src/package-lock.json" "$dst/package-lock.json" || [ ! -d "$dst/node_modules" ]; then
	cp "$src/package.json" "$src/package-lock.json" "$src/server.js" "$src/emit.js" "$dst/"
	chmod -R u+w "$dst"
	(cd "$dst" && npm ci --no-audit --no-fund >&2)
else
	cp "$src/server.js" "$src/emit.js" "$dst/" 2>/dev/null || true
fi
echo "$dst"
