// Package k8s holds chatgate's Kubernetes manifests (kustomize: base/ and
// overlays/dev, overlays/production) and, in its tests, the offline checks
// that keep them, the Dockerfile and docs/config.md in step with the binary:
// every overlay is rendered with the kustomize API, every object is strictly
// decoded into the typed Kubernetes structs, and ports, probes, arguments and
// environment variables are checked against internal/config.
package k8s
