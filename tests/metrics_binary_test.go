package tests

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/coder/websocket"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/chatgate/chatgate/internal/redistest"
	"github.com/chatgate/chatgate/internal/testwait"
	"github.com/chatgate/chatgate/session"
)

// metricsScrape GETs /metrics from a process's internal listener and parses it.
func metricsScrape(addr string) (map[string]*dto.MetricFamily, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(resp.Body)
}

// metricsValue is the value of name's sample whose labels include labels
// (name/value pairs): a counter, a gauge, or a histogram's sample count.
func metricsValue(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range m.GetLabel() {
				found = found || l.GetName() == labels[i] && l.GetValue() == labels[i+1]
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

// metricsWant polls /metrics until every expectation holds.
func metricsWant(t *testing.T, addr, what string, want map[string]func(float64) bool) {
	t.Helper()
	testwait.For(t, pushDeadline, what, func() error {
		fams, err := metricsScrape(addr)
		if err != nil {
			return err
		}
		for key, ok := range want {
			name, label := cutLabel(key)
			v, found := metricsValue(fams, name, label...)
			if !found {
				return fmt.Errorf("%s missing from /metrics", key)
			}
			if !ok(v) {
				return fmt.Errorf("%s = %v", key, v)
			}
		}
		return nil
	})
}

// cutLabel splits `name{k="v"}` into name and ["k", "v"].
func cutLabel(key string) (string, []string) {
	name, rest, ok := strings.Cut(key, "{")
	if !ok {
		return key, nil
	}
	k, v, _ := strings.Cut(strings.TrimSuffix(rest, "}"), "=")
	v, err := strconv.Unquote(v)
	if err != nil {
		panic("bad metric key " + key)
	}
	return name, []string{k, v}
}

func eq(want float64) func(float64) bool   { return func(v float64) bool { return v == want } }
func atLeast(n float64) func(float64) bool { return func(v float64) bool { return v >= n } }

// TestBinaryExportsGatewayMetrics runs the built chatgate binary (gateway
// role) on a real redis-server and checks, on its internal listener, that
// the gateway's own metrics exist and follow a real WebSocket client:
// connection, a delivery from Redis, a client frame, and a normal close.
func TestBinaryExportsGatewayMetrics(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	p := faultStartGateway(t, rs.URL(), "--ping-interval", "0", "--gateway-id", "metricsgw")
	metricsWant(t, p.internal, "idle gateway", map[string]func(float64) bool{
		`chatgate_build_info{role="gateway"}`: eq(1),
		"chatgate_gateway_connections":        eq(0),
		"chatgate_gateway_connects_total":     eq(0),
		"chatgate_gateway_subscribed":         eq(1),
	})

	store, err := session.Open(context.Background(), rs.URL(), pushDeadline, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	c := pushConnect(t, p.addr)
	if err := store.SendToClient(context.Background(), c.ID, []byte("hello metrics")); err != nil {
		t.Fatal(err)
	}
	c.waitFrames(t, "client", "hello metrics")
	if err := c.conn.Write(context.Background(), websocket.MessageText, []byte("from the client")); err != nil {
		t.Fatal(err)
	}
	metricsWant(t, p.internal, "one client, one delivery, one frame in", map[string]func(float64) bool{
		"chatgate_gateway_connections":            eq(1),
		"chatgate_gateway_connects_total":         eq(1),
		"chatgate_gateway_messages_out_total":     eq(2), // init frame + the delivery
		"chatgate_gateway_bytes_out_total":        atLeast(float64(len("hello metrics") + len(`{"type":"init","client_id":""}`) + len(c.ID))),
		"chatgate_gateway_messages_in_total":      eq(1),
		"chatgate_gateway_envelopes_total":        atLeast(1),
		"chatgate_gateway_inbox_lag_seconds":      atLeast(1),
		"chatgate_gateway_queued_frames":          eq(0),
		"chatgate_gateway_closes_total":           eq(0),
		"chatgate_redis_command_duration_seconds": atLeast(1),
	})

	c.Close()
	metricsWant(t, p.internal, "the client closed", map[string]func(float64) bool{
		"chatgate_gateway_connections":                             eq(0),
		"chatgate_gateway_closes_total":                            eq(1),
		`chatgate_gateway_closes_by_reason_total{reason="client"}`: eq(1),
		`chatgate_gateway_closes_by_reason_total{reason="lost"}`:   eq(0),
	})
}
