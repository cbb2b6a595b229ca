package metrics_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/chatgate/chatgate/gateway"
	"github.com/chatgate/chatgate/internal/metrics"
	"github.com/chatgate/chatgate/internal/redistest"
	"github.com/chatgate/chatgate/internal/testwait"
	"github.com/chatgate/chatgate/session"
)

const deadline = 30 * time.Second // generous: a loaded 2-core machine

// scrape GETs /metrics from url and parses the text format.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: status %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// value sums a family's samples whose labels include want (counter, gauge,
// or a histogram's sample count).
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
	var sum float64
	for _, m := range f.GetMetric() {
		if !hasLabels(m, want) {
			continue
		}
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Histogram != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		case m.Untyped != nil:
			sum += m.GetUntyped().GetValue()
		}
	}
	return sum, true
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	for k, v := range want {
		found := false
		for _, l := range m.GetLabel() {
			if l.GetName() == k && l.GetValue() == v {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// eventually is testwait.For with a check that says what it saw.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	testwait.For(t, deadline, what, func() error {
		if ok, msg := cond(); !ok {
			return errors.New(msg)
		}
		return nil
	})
}

func TestObserveRedisCountsErrorsOnly(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		cmd       string
		err       error
		wantCount float64
		wantErrs  float64
	}{
		{name: "success", cmd: "hset", wantCount: 1},
		{name: "failure", cmd: "publish", err: errors.New("connection refused"), wantCount: 1, wantErrs: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := metrics.New(&metrics.Options{Role: "gateway", NoRuntime: true})
			m.ObserveRedis(tt.cmd, 3*time.Millisecond, tt.err)
			srv := httptest.NewServer(m.Handler())
			defer srv.Close()
			resp, err := http.Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			p := expfmt.NewTextParser(model.UTF8Validation)
			fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			lbl := map[string]string{"command": tt.cmd}
			if got, _ := value(fams, "chatgate_redis_command_duration_seconds", lbl); got != tt.wantCount {
				t.Errorf("duration count = %v, want %v", got, tt.wantCount)
			}
			if got, _ := value(fams, "chatgate_redis_command_errors_total", lbl); got != tt.wantErrs {
				t.Errorf("errors = %v, want %v", got, tt.wantErrs)
			}
			if got, ok := value(fams, "chatgate_build_info", map[string]string{"role": "gateway"}); !ok || got != 1 {
				t.Errorf("chatgate_build_info{role=gateway} = %v (present %v), want 1", got, ok)
			}
		})
	}
}

func TestInboxLagNeverNegative(t *testing.T) {
	t.Parallel()
	m := metrics.New(&metrics.Options{NoRuntime: true})
	m.ObserveInboxLag(-time.Second) // publisher clock ahead
	m.ObserveInboxLag(2 * time.Millisecond)
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == "chatgate_gateway_inbox_lag_seconds" {
			h := f.GetMetric()[0].GetHistogram()
			if h.GetSampleCount() != 2 || h.GetSampleSum() < 0 {
				t.Fatalf("inbox lag: count %d sum %v, want 2 and >= 0", h.GetSampleCount(), h.GetSampleSum())
			}
			return
		}
	}
	t.Fatal("chatgate_gateway_inbox_lag_seconds missing")
}

// fixture is a real gateway over a real redis-server, instrumented.
type fixture struct {
	redis *redistest.Server
	store *session.Store
	gw    *gateway.Gateway
	srv   *httptest.Server
	m     *metrics.Metrics
}

func newFixture(t *testing.T, gopts *gateway.Options) *fixture {
	t.Helper()
	r := redistest.Start(t)
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	store, err := session.Open(ctx, r.URL(), 5*time.Second, &session.Options{Prefix: "metrics:", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	m := metrics.New(&metrics.Options{Role: "gateway"})
	store.Instrument(m.ObserveRedis)
	gopts.RedisTimeout = 2 * time.Second
	gopts.Logger = log
	gopts.Recovery = store.Recovery
	gw, err := gateway.New(store, gopts)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.WatchGateway(gw); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- gw.Run(runCtx) }()
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	mux.Handle("/", gw) // any other path is the WebSocket, as on a gateway's public port
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		stop()
		select {
		case <-done:
		case <-time.After(deadline):
			t.Error("gateway did not stop")
		}
		srv.Close()
	})
	eventually(t, "gateway ready", func() (bool, string) {
		err := gw.Ready()
		return err == nil, ""
	})
	return &fixture{redis: r, store: store, gw: gw, srv: srv, m: m}
}

// dial connects a WebSocket client at path and returns it with its client id.
func (f *fixture) dial(t *testing.T, path string) (*websocket.Conn, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(f.srv.URL, "http")+path, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", path, err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	_, data, err := ws.Read(ctx)
	if err != nil {
		t.Fatalf("read init: %v", err)
	}
	s := string(data)
	i := strings.Index(s, `"client_id":"`)
	if i < 0 {
		t.Fatalf("init frame %s has no client_id", s)
	}
	id := s[i+len(`"client_id":"`):]
	return ws, id[:strings.IndexByte(id, '"')]
}

func TestGatewaySeriesAfterTraffic(t *testing.T) {
	t.Parallel()
	f := newFixture(t, &gateway.Options{SendQueue: 2, Events: true})
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()

	// Two readers (one at /ws, the Ingress path), one client that never reads.
	a, aID := f.dial(t, "/")
	b, _ := f.dial(t, "/ws")
	_, slowID := f.dial(t, "/ws")
	const n = 5
	for i := range n {
		if err := f.store.SendToAll(ctx, []byte(`{"type":"all","n":`+string(rune('0'+i))+`}`)); err != nil {
			t.Fatal(err)
		}
		for _, c := range []*websocket.Conn{a, b} {
			if _, _, err := c.Read(ctx); err != nil {
				t.Fatalf("read broadcast %d: %v", i, err)
			}
		}
	}
	if err := a.Write(ctx, websocket.MessageText, []byte(`{"hello":1}`)); err != nil {
		t.Fatal(err)
	}
	// Fill the silent client's socket buffers, then its 2-frame queue: it is
	// closed as a slow client. Bounded: at most 400 × 64 KiB.
	big := []byte(`"` + strings.Repeat("x", 64<<10) + `"`)
	for i := 0; i < 400 && f.gw.Stats().SlowCloses == 0; i++ {
		if err := f.store.SendToClient(ctx, slowID, big); err != nil && !errors.Is(err, session.ErrNoClient) {
			t.Fatal(err)
		}
	}
	if err := b.Close(websocket.StatusNormalClosure, "bye"); err != nil {
		t.Fatal(err)
	}
	// A member of a recoverable group asks for its log.
	if err := f.store.JoinGroup(ctx, aID, "rg"); err != nil {
		t.Fatal(err)
	}
	if err := f.store.SendToGroup(ctx, "rg", []byte(`{"k":1}`), session.Recoverable()); err != nil {
		t.Fatal(err)
	}
	if err := a.Write(ctx, websocket.MessageText, []byte(`{"type":"recover","group":"rg","epoch":"","since":0}`)); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		_, data, err := a.Read(ctx)
		if err != nil || i > 10 {
			t.Fatalf("no recovered frame: %v", err)
		}
		if strings.HasPrefix(string(data), `{"type":"recovered"`) {
			break
		}
	}

	eventually(t, "series after traffic", func() (bool, string) {
		fams := scrape(t, f.srv.URL)
		checks := []struct {
			name   string
			labels map[string]string
			min    float64
		}{
			{"chatgate_gateway_connections", nil, 1},
			{"chatgate_gateway_connects_total", nil, 3},
			{"chatgate_gateway_closes_total", nil, 2},
			{"chatgate_gateway_slow_closes_total", nil, 1},
			{"chatgate_gateway_messages_in_total", nil, 1},
			{"chatgate_gateway_messages_out_total", nil, 3 + 2*n},
			{"chatgate_gateway_bytes_out_total", nil, 100},
			{"chatgate_gateway_envelopes_total", nil, n},
			{"chatgate_gateway_subscribed", nil, 1},
			{"chatgate_gateway_queued_frames", nil, 0},
			{"chatgate_gateway_pubsub_reconnects_total", nil, 0},
			{"chatgate_gateway_resyncs_total", nil, 0},
			{"chatgate_gateway_recoveries_total", nil, 1},
			{"chatgate_gateway_caught_up_total", nil, 0},
			{"chatgate_gateway_inbox_lag_seconds", nil, 0},
			{"chatgate_redis_command_duration_seconds", map[string]string{"command": "publish"}, n},
			{"chatgate_redis_command_duration_seconds", map[string]string{"command": "evalsha"}, 1},
			{"chatgate_build_info", map[string]string{"role": "gateway"}, 1},
			{"go_goroutines", nil, 1},
			{"process_open_fds", nil, 1},
		}
		// Normal traffic on a healthy Redis (connection handshakes and
		// NOSCRIPT fallbacks included) counts no Redis errors.
		if v, ok := value(fams, "chatgate_redis_command_errors_total", nil); ok && v != 0 {
			t.Fatalf("chatgate_redis_command_errors_total = %v on a healthy Redis", v)
		}
		for _, c := range checks {
			v, ok := value(fams, c.name, c.labels)
			if !ok || v < c.min {
				return false, c.name + " " + fmtLabels(c.labels) + ": got " + fmtFloat(v, ok)
			}
		}
		return true, ""
	})
}

// TestRedisOutageSeries stops Redis under a gateway: the subscription loss,
// the failed commands and the recovery all show in /metrics.
func TestRedisOutageSeries(t *testing.T) {
	t.Parallel()
	f := newFixture(t, &gateway.Options{AliveTTL: 3 * time.Second})
	c, _ := f.dial(t, "/ws")
	_ = c
	f.redis.Stop(t)
	eventually(t, "subscription down and errors counted", func() (bool, string) {
		fams := scrape(t, f.srv.URL)
		sub, _ := value(fams, "chatgate_gateway_subscribed", nil)
		errs, _ := value(fams, "chatgate_redis_command_errors_total", nil)
		return sub == 0 && errs > 0, "subscribed " + fmtFloat(sub, true) + " errors " + fmtFloat(errs, true)
	})
	f.redis.Restart(t)
	eventually(t, "subscription restored and counted", func() (bool, string) {
		fams := scrape(t, f.srv.URL)
		sub, _ := value(fams, "chatgate_gateway_subscribed", nil)
		losses, _ := value(fams, "chatgate_gateway_pubsub_reconnects_total", nil)
		resyncs, _ := value(fams, "chatgate_gateway_resyncs_total", nil)
		return sub == 1 && losses >= 1 && resyncs >= 1,
			"subscribed " + fmtFloat(sub, true) + " reconnects " + fmtFloat(losses, true) + " resyncs " + fmtFloat(resyncs, true)
	})
}

func fmtFloat(v float64, ok bool) string {
	if !ok {
		return "(missing)"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

func fmtLabels(l map[string]string) string {
	var parts []string
	for k, v := range l {
		parts = append(parts, k+"="+v)
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// TestKilledSubscriptionIsCounted kills only the gateway's pub/sub
// connection (Redis itself stays up, so a Ping-only health check would stay
// green): the loss is counted and the subscription comes back.
func TestKilledSubscriptionIsCounted(t *testing.T) {
	t.Parallel()
	f := newFixture(t, &gateway.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	if err := f.redis.Client(t).ClientKillByFilter(ctx, "TYPE", "pubsub").Err(); err != nil {
		t.Fatalf("CLIENT KILL TYPE pubsub: %v", err)
	}
	eventually(t, "subscription loss counted and restored", func() (bool, string) {
		fams := scrape(t, f.srv.URL)
		sub, _ := value(fams, "chatgate_gateway_subscribed", nil)
		losses, _ := value(fams, "chatgate_gateway_pubsub_reconnects_total", nil)
		return sub == 1 && losses >= 1, "subscribed " + fmtFloat(sub, true) + " reconnects " + fmtFloat(losses, true)
	})
}

func TestObserveReaperPass(t *testing.T) {
	t.Parallel()
	m := metrics.New(&metrics.Options{NoRuntime: true})
	before := time.Now()
	m.ObserveReaperPass(2, nil)
	m.ObserveReaperPass(0, errors.New("redis down"))
	m.ObserveReaperPass(1, nil)
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	for _, tt := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"chatgate_reaper_runs_total", map[string]string{"result": "ok"}, 2},
		{"chatgate_reaper_runs_total", map[string]string{"result": "error"}, 1},
		{"chatgate_reaper_reaped_gateways_total", nil, 3},
	} {
		if got, ok := value(fams, tt.name, tt.labels); !ok || got != tt.want {
			t.Errorf("%s%v = %v (present %v), want %v", tt.name, tt.labels, got, ok, tt.want)
		}
	}
	last, _ := value(fams, "chatgate_reaper_last_success_timestamp_seconds", nil)
	if last < float64(before.Unix()) {
		t.Errorf("last success %v, want at least %d", last, before.Unix())
	}
}
