package metrics

import (
	"net/http"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/chatgate/chatgate/internal/version"
)

// namespace prefixes every chatgate metric.
const namespace = "chatgate"

// Options configures New. The zero value is ready to use.
type Options struct {
	// Role labels chatgate_build_info (all, gateway, http). Default "all".
	Role string
	// NoRuntime leaves out the go_* and process_* collectors (tests that run
	// several registries in one process). Default false: they are included.
	NoRuntime bool
}

// Metrics is one process's registry and the collectors chatgate feeds.
type Metrics struct {
	reg      *prometheus.Registry
	redisDur *prometheus.HistogramVec
	redisErr *prometheus.CounterVec
	inboxLag prometheus.Histogram

	reaperRuns   *prometheus.CounterVec
	reaperReaped prometheus.Counter
	reaperLastOK prometheus.Gauge
}

// New returns a registry with build info, Redis command metrics, the inbox
// lag histogram and (unless opts.NoRuntime) the Go runtime and process
// collectors. opts may be nil.
func New(opts *Options) *Metrics {
	o := Options{}
	if opts != nil {
		o = *opts
	}
	if o.Role == "" {
		o.Role = "all"
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		redisDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "redis", Name: "command_duration_seconds",
			Help:    "Duration of Redis commands, pipelines and dials sent by this process.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"command"}),
		redisErr: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "redis", Name: "command_errors_total",
			Help: "Redis commands, pipelines and dials that failed (a missing key is not a failure).",
		}, []string{"command"}),
		inboxLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "gateway", Name: "inbox_lag_seconds",
			Help:    "Time from publishing an envelope to the gateway applying it (needs publisher timestamps).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
	}
	// Export the error counter from the start for the two operations every
	// process performs ("dial", "pipeline"; session.Observer), so that
	// alerts on its rate see 0 rather than no series before the first error.
	m.redisErr.WithLabelValues("dial")
	m.redisErr.WithLabelValues("pipeline")
	m.newReaperMetrics()
	m.reg.MustRegister(m.redisDur, m.redisErr, m.inboxLag, buildInfo(o.Role),
		m.reaperRuns, m.reaperReaped, m.reaperLastOK)
	if !o.NoRuntime {
		m.reg.MustRegister(
			collectors.NewGoCollector(),
			collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		)
	}
	return m
}

// Registry returns the registry, for components that add their own
// collectors (the HTTP app's request metrics).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus text (or OpenMetrics) format:
// mount it at GET /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		Registry:          m.reg, // promhttp_metric_handler_errors_total
		EnableOpenMetrics: true,
		Timeout:           10 * time.Second,
	})
}

// ObserveRedis records one Redis round trip. Its signature is
// session.Observer: pass it to session.Store.Instrument.
func (m *Metrics) ObserveRedis(cmd string, d time.Duration, err error) {
	m.redisDur.WithLabelValues(cmd).Observe(d.Seconds())
	if err != nil {
		m.redisErr.WithLabelValues(cmd).Inc()
	}
}

// ObserveInboxLag records how long an envelope took from its publisher to
// this gateway (publisher and gateway clocks must be synchronised).
func (m *Metrics) ObserveInboxLag(d time.Duration) {
	if d < 0 {
		d = 0 // clock skew
	}
	m.inboxLag.Observe(d.Seconds())
}

// newReaperMetrics makes the reaper's metrics; both results of
// chatgate_reaper_runs_total exist from the start (0), so a rate over them
// is defined before the first failure.
func (m *Metrics) newReaperMetrics() {
	m.reaperRuns = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "reaper", Name: "runs_total",
		Help: "Reaper passes of this process (dead gateways' clients cleaned up), by result: ok or error.",
	}, []string{"result"})
	m.reaperRuns.WithLabelValues("ok")
	m.reaperRuns.WithLabelValues("error")
	m.reaperReaped = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "reaper", Name: "reaped_gateways_total",
		Help: "Dead gateways whose clients this process cleaned up.",
	})
	m.reaperLastOK = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Subsystem: "reaper", Name: "last_success_timestamp_seconds",
		Help: "Unix time of this process's last successful reaper pass; 0 before the first.",
	})
}

// ObserveReaperPass records one reaper pass. Its signature is
// session.ReaperOptions.OnPass.
func (m *Metrics) ObserveReaperPass(reaped int, err error) {
	if err != nil {
		m.reaperRuns.WithLabelValues("error").Inc()
		return
	}
	m.reaperRuns.WithLabelValues("ok").Inc()
	m.reaperReaped.Add(float64(reaped))
	m.reaperLastOK.SetToCurrentTime()
}

// buildInfo is chatgate_build_info{version,goversion,role} 1.
func buildInfo(role string) prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "build_info",
		Help:        "Build of the running chatgate binary; the value is always 1.",
		ConstLabels: prometheus.Labels{"version": version.Get().Version, "goversion": runtime.Version(), "role": role},
	})
	g.Set(1)
	return g
}
