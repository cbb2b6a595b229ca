# syntax=docker/dockerfile:1
#
# chatgate container image: one static binary, every role chosen by its
# arguments:
#   docker run IMAGE                                   all-in-one (embedded Redis)
#   docker run IMAGE gateway --redis-url redis://…     a WebSocket gateway (:7272)
#   docker run IMAGE http --redis-url redis://…        the HTTP app (:8080)
# Every role also has an internal listener (/metrics, /readyz, push API):
# :9272 in the gateway and http roles; loopback in all-in-one mode unless
# INTERNAL_ADDR=:9272 is set. Never publish it to the Internet.
# Every flag is also an environment variable (--redis-url / REDIS_URL); see
# docs/config.md. Build: docker build --build-arg VERSION=v1.2.3 -t chatgate .
#
# Pin both base images by digest in your registry mirror for reproducible builds.

ARG GO_VERSION=1.26.8

# ---- build: static binary, no cgo ----
FROM golang:${GO_VERSION} AS build
WORKDIR /src
ENV CGO_ENABLED=0
# Modules first, so source edits do not re-download them.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=devel
ARG TARGETOS=linux
ARG TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath \
      -ldflags="-s -w -X github.com/chatgate/chatgate/internal/metrics.Version=${VERSION}" \
      -o /out/chatgate ./cmd/chatgate

# ---- runtime: distroless static, non-root, no shell ----
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/chatgate /chatgate
# 65532 is distroless' "nonroot"; numeric so that runAsNonRoot can verify it.
USER 65532:65532
# Gateway (WebSocket, /healthz), HTTP app (page, /api, /healthz), internal
# listener (/readyz, /metrics, push API).
EXPOSE 7272 8080 9272
ENTRYPOINT ["/chatgate"]
