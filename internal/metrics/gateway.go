package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/chatgate/chatgate/gateway"
)

// GatewaySource is what the gateway collector reads at scrape time;
// *gateway.Gateway satisfies it.
type GatewaySource interface {
	Stats() gateway.Stats
}

var _ GatewaySource = (*gateway.Gateway)(nil)

// closeReasoner is optionally implemented by a GatewaySource that counts
// closed connections by reason (a small fixed set of reasons). When present,
// chatgate_gateway_closes_by_reason_total{reason} is exported.
type closeReasoner interface {
	CloseReasons() map[string]uint64
}

// WatchGateway exports src's counters and gauges. Call it once per process
// (a second gateway would collide with the first's series).
func (m *Metrics) WatchGateway(src GatewaySource) error {
	return m.reg.Register(&gatewayCollector{src: src})
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, "gateway", name), help, labels, nil)
}

var (
	descConnections  = desc("connections", "Clients connected to this gateway now.")
	descQueued       = desc("queued_frames", "Frames waiting in all per-connection send queues now (queue depth).")
	descSubscribed   = desc("subscribed", "1 when the inbox subscription is up, 0 when it is down.")
	descConnects     = desc("connects_total", "Connections accepted and registered.")
	descCloses       = desc("closes_total", "Connections ended, for any reason.")
	descClosesBy     = desc("closes_by_reason_total", "Connections ended, by reason.", "reason")
	descMessagesIn   = desc("messages_in_total", "Frames received from clients (heartbeat replies included).")
	descMessagesOut  = desc("messages_out_total", "Frames written to clients.")
	descBytesOut     = desc("bytes_out_total", "Payload bytes written to clients.")
	descSlowCloses   = desc("slow_closes_total", "Clients closed because their send queue filled (1008).")
	descEnvelopes    = desc("envelopes_total", "Envelopes received from Redis (inbox and broadcast channels).")
	descPubSubLosses = desc("pubsub_reconnects_total", "Times the inbox subscription went down and had to reconnect.")
	descResyncs      = desc("resyncs_total", "Times the gateway re-asserted its connections in Redis (after data loss).")
	descRecoveries   = desc("recoveries_total", "Recover frames of group members served from the group log (recoverable groups), whatever their result.")
	descCaughtUp     = desc("caught_up_total", "Logged messages of recoverable groups delivered after the inbox subscription came back.")
	gatewayDescs     = []*prometheus.Desc{descConnections, descQueued, descSubscribed, descConnects, descCloses, descMessagesIn, descMessagesOut, descBytesOut, descSlowCloses, descEnvelopes, descPubSubLosses, descResyncs, descRecoveries, descCaughtUp}
	_                = prometheus.Collector((*gatewayCollector)(nil))
)

// gatewayCollector turns one gateway.Stats snapshot into metrics per scrape.
type gatewayCollector struct{ src GatewaySource }

func (c *gatewayCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range gatewayDescs {
		ch <- d
	}
	if _, ok := c.src.(closeReasoner); ok {
		ch <- descClosesBy
	}
}

func (c *gatewayCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.src.Stats()
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	subscribed := 0.0
	if s.Subscribed {
		subscribed = 1
	}
	gauge(descConnections, float64(s.Connections))
	gauge(descQueued, float64(s.QueuedFrames))
	gauge(descSubscribed, subscribed)
	counter(descConnects, s.Connects)
	counter(descCloses, s.Closes)
	counter(descMessagesIn, s.FramesIn)
	counter(descMessagesOut, s.FramesOut)
	counter(descBytesOut, s.BytesOut)
	counter(descSlowCloses, s.SlowCloses)
	counter(descEnvelopes, s.Envelopes)
	counter(descPubSubLosses, s.PubSubLosses)
	counter(descResyncs, s.Resyncs)
	counter(descRecoveries, s.Recoveries)
	counter(descCaughtUp, s.CaughtUp)
	if r, ok := c.src.(closeReasoner); ok {
		for reason, n := range r.CloseReasons() {
			counter(descClosesBy, n, reason)
		}
	}
}
