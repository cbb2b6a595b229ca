# Every target calls the same scripts CI runs (.ci/run runs scripts/test.sh).
.PHONY: all fmt lint test build run bench fuzz

all: lint test

# fmt rewrites the Go files in place; scripts/test.sh fails on any left over.
fmt:
	gofmt -w $$(git ls-files '*.go')

lint:
	scripts/lint.sh

# test is the whole suite: gofmt, lint, every module's race tests, short fuzz.
test:
	scripts/test.sh

build:
	CGO_ENABLED=0 go build -trimpath -o bin/chatgate ./cmd/chatgate

# run starts the all-in-one process (embedded Redis, chat on :8080, gateway on :7272).
run:
	go run ./cmd/chatgate

bench:
	bench/run-all.sh

fuzz:
	scripts/fuzz.sh
