package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/chatgate/chatgate/gatewayworker"
)

// GatewayWorkerSource is what the BusinessWorker collector reads at scrape
// time; *gatewayworker.Inner satisfies it.
type GatewayWorkerSource interface {
	WorkerStats() gatewayworker.WorkerStats
}

var _ GatewayWorkerSource = (*gatewayworker.Inner)(nil)

// WatchGatewayWorker exports the BusinessWorker links and client events of
// a gateway's inner listener (docs/gatewayworker.md, "BusinessWorker").
func (m *Metrics) WatchGatewayWorker(src GatewayWorkerSource) error {
	return m.reg.Register(&gatewayWorkerCollector{src: src})
}

func gwDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, "gatewayworker", name), help, labels, nil)
}

var (
	descWorkerLinks   = gwDesc("worker_links", "BusinessWorker processes connected to this gateway's inner listener now.")
	descWorkerEvents  = gwDesc("events_total", "Client events (connect, websocket connect, message, close) queued to a BusinessWorker.")
	descWorkerDropped = gwDesc("events_dropped_total", "Client events dropped: no BusinessWorker connected (no_worker), or its link's buffer was full (buffer_full).", "reason")
	_                 = prometheus.Collector((*gatewayWorkerCollector)(nil))
)

type gatewayWorkerCollector struct{ src GatewayWorkerSource }

func (c *gatewayWorkerCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descWorkerLinks
	ch <- descWorkerEvents
	ch <- descWorkerDropped
}

func (c *gatewayWorkerCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.src.WorkerStats()
	ch <- prometheus.MustNewConstMetric(descWorkerLinks, prometheus.GaugeValue, float64(s.Links))
	ch <- prometheus.MustNewConstMetric(descWorkerEvents, prometheus.CounterValue, float64(s.Events))
	ch <- prometheus.MustNewConstMetric(descWorkerDropped, prometheus.CounterValue, float64(s.DroppedNoWorker), "no_worker")
	ch <- prometheus.MustNewConstMetric(descWorkerDropped, prometheus.CounterValue, float64(s.DroppedFull), "buffer_full")
}
