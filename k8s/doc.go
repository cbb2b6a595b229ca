// Package k8s holds chatgate's Kubernetes manifests (kustomize: base/,
// components/redis, overlays/dev and overlays/production) and, in its tests,
// the offline checks that keep them, the Dockerfile and docs/config.md in
// step with the binary: every overlay is rendered with the kustomize API,
// every object is strictly decoded into the typed Kubernetes structs, and
// ports, probes, arguments and environment variables are checked against
// internal/config. The overlays are also rendered with the kustomize CLI at
// the oldest and newest supported versions, which must produce the same
// objects (kustomize_cli_test.go).
package k8s
