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
# docs/config.md. Build (README, "Releases"):
#   docker build --build-arg VERSION=v1.2.3 --build-arg REVISION=$(git rev-parse HEAD) \
#     --build-arg BUILD_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ) -t chatgate .
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
ARG REVISION=
ARG BUILD_DATE=
ARG TARGETOS=linux
ARG TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath \
      -ldflags="-s -w -X github.com/chatgate/chatgate/internal/version.version=${VERSION} -X github.com/chatgate/chatgate/internal/version.revision=${REVISION} -X github.com/chatgate/chatgate/internal/version.date=${BUILD_DATE}" \
      -o /out/chatgate ./cmd/chatgate

# ---- runtime: distroless static, non-root, no shell ----
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/chatgate /chatgate
# 65532 is distroless' "nonroot"; numeric so that runAsNonRoot can verify it.
USER 65532:65532
# Gateway (WebSocket, /healthz), HTTP app (page, /api, /healthz), internal
# listener (/readyz, /metrics, push API). A container's loopback is its own,
# so listen on every interface (all-in-one alone defaults to 127.0.0.1).
ENV WS_ADDR=:7272 HTTP_ADDR=:8080
EXPOSE 7272 8080 9272
ENTRYPOINT ["/chatgate"]
