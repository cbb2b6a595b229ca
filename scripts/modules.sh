# modules.sh is sourced by the other scripts: the Go modules of this
# repository. The binary's module is the root; test-only heavyweights live in
# modules of their own so that `go mod download` for the binary never fetches
# them (issue 11): tests/ (chromedp, the browser and multi-process tests),
# k8s/ (k8s.io, kustomize) and bench/plot (gonum).
# shellcheck shell=bash
MODULES=(. tests k8s k8s/helmtest bench/plot)
