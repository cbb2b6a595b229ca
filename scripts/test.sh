#!/usr/bin/env bash
# The whole test suite, as the README gives it: installs what the tests need
# when it is missing (redis-server, chromium, php + php-redis, with apt-get),
# fails loudly when a dependency cannot be had, then runs gofmt, go vet and
# staticcheck (scripts/lint.sh), the race-enabled tests of every module
# (scripts/modules.sh) and a short fuzz run.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/modules.sh

say() { printf '\n== %s\n' "$*"; }
die() { printf '\nFATAL: %s\n' "$*" >&2; exit 1; }

command -v go >/dev/null || die "go is not installed (Go 1.26 is required)"

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v redis-cli >/dev/null || missing+=(redis-tools)
command -v chromium >/dev/null || missing+=(chromium)
command -v php >/dev/null || missing+=(php-cli)
command -v curl >/dev/null || missing+=(curl)
{ command -v php >/dev/null && php -r 'exit(extension_loaded("redis") ? 0 : 1);' 2>/dev/null; } || missing+=(php-redis)
if ((${#missing[@]})); then
	say "installing: ${missing[*]}"
	command -v apt-get >/dev/null || die "apt-get not found: install ${missing[*]} by hand"
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	$sudo apt-get update -qq || die "apt-get update failed"
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null ||
		die "apt-get install ${missing[*]} failed"
fi
for bin in redis-server redis-cli chromium php curl; do
	command -v "$bin" >/dev/null || die "$bin is still missing after installing"
done
php -r 'exit(extension_loaded("redis") ? 0 : 1);' || die "the PHP redis extension (php-redis) is still missing"

command -v node >/dev/null || die "node is not installed (Node 20 or later runs the tests of clients/js)"
command -v npm >/dev/null || die "npm is not installed (it installs the test dependencies of clients/js)"

say "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './bench/.peer-cache/*'))
[ -z "$unformatted" ] || die "not gofmt-ed: $unformatted"

say "go vet + staticcheck"
scripts/lint.sh

for m in "${MODULES[@]}"; do
	say "go test -race in $m"
	(cd "$m" && go test -race -count=1 -timeout 12m ./...)
done

say "go test -race ./gateway with the std engine (the suite above ran the default, nbio)"
CHATGATE_TEST_WS_ENGINE=std go test -race -count=1 -timeout 12m ./gateway/

say "clients/js (node --test against a real chatgate and redis-server)"
(cd clients/js && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci in clients/js failed (it installs the ws package from the npm registry)"
jsbin=$(mktemp -d)/chatgate
go build -o "$jsbin" ./cmd/chatgate
(cd clients/js && CHATGATE_BIN="$jsbin" npm test --silent) || die "clients/js tests failed"
rm -rf "$(dirname "$jsbin")"

if [ -x scripts/fuzz.sh ]; then
	say "short fuzz run"
	scripts/fuzz.sh
fi
say "all tests passed"
