#!/usr/bin/env bash
# go vet and staticcheck over every module of the repository; fails on any
# finding. staticcheck is pinned: 2026.2.2 is module version v0.8.2.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/modules.sh

STATICCHECK_VERSION=v0.8.2 # staticcheck 2026.2.2
staticcheck() { go run "honnef.co/go/tools/cmd/staticcheck@${STATICCHECK_VERSION}" "$@"; }

v=$(staticcheck -version) || { echo "FATAL: cannot run staticcheck ${STATICCHECK_VERSION}" >&2; exit 1; }
case "$v" in *2026.2.2*) ;; *) echo "FATAL: staticcheck reports version '$v', want 2026.2.2" >&2; exit 1 ;; esac

for m in "${MODULES[@]}"; do
	printf '\n== go vet + staticcheck in %s\n' "$m"
	(cd "$m" && go vet ./... && staticcheck ./...)
done
