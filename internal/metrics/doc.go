// Package metrics exposes chatgate's Prometheus metrics: one registry per
// process with the Go runtime and process collectors, build info, Redis
// command latency and errors (fed by session.Store.Instrument), and the
// gateway's counters and gauges (read from gateway.Stats at scrape time).
//
// Every metric is named chatgate_*, except the standard go_* and process_*
// series. docs/deploy.md lists them.
//
// A Metrics is safe for concurrent use. It starts no goroutines: gauges and
// gateway counters are read when Prometheus scrapes.
package metrics
