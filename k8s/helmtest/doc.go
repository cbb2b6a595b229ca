// Package helmtest holds the tests of chatgate's Helm chart (k8s/helm/chatgate)
// and of its observability files (k8s/observability): it renders the chart with
// the Helm Go SDK and compares it with the kustomize overlays, and parses the
// alert rules and the dashboard's queries with Prometheus' own packages.
//
// It is a module of its own so that the chatgate binary's module never
// requires Helm or Prometheus' server code; scripts/test.sh runs it.
package helmtest
