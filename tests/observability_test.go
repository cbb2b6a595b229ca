package tests

import (
	"os"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/chatgate/chatgate/internal/redistest"
)

// observabilityMetrics reads k8s/observability/metrics.txt: every metric the
// Grafana dashboard and the alert rules use (k8s/helmtest checks the list
// against them, parsing their PromQL).
func observabilityMetrics(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../k8s/observability/metrics.txt")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			names = append(names, l)
		}
	}
	if len(names) < 10 {
		t.Fatalf("metrics.txt lists only %d metrics", len(names))
	}
	return names
}

// served reports whether a scrape has the series name: a family of that
// name, or a histogram's _bucket, _sum or _count series.
func served(fams map[string]*dto.MetricFamily, name string) bool {
	if _, ok := fams[name]; ok {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			if f, ok := fams[base]; ok && f.GetType() == dto.MetricType_HISTOGRAM {
				return true
			}
		}
	}
	return false
}

// TestBinaryServesDashboardMetrics runs the built binary as a gateway and as
// an HTTP app on a real redis-server and requires every metric of the
// dashboard and the alert rules on their internal listeners (/metrics), so a
// renamed metric cannot leave a panel or an alert silently empty.
func TestBinaryServesDashboardMetrics(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	gw := faultStartGateway(t, rs.URL(), "--ping-interval", "0", "--gateway-id", "obsgw")
	web := faultStartRole(t, "http app listening", "http", "--redis-url", rs.URL(), "--http-addr", "127.0.0.1:0",
		"--internal-addr", "127.0.0.1:0", "--token-secret", "obs-secret", "--log-format", "json")
	scrapes := map[string]map[string]*dto.MetricFamily{}
	for role, addr := range map[string]string{"gateway": gw.internal, "http": web.internal} {
		fams, err := metricsScrape(addr)
		if err != nil {
			t.Fatalf("%s /metrics: %v", role, err)
		}
		scrapes[role] = fams
	}
	for _, name := range observabilityMetrics(t) {
		// The gateway serves every metric; the HTTP app the process-wide
		// ones (Redis, reaper, build info), which the dashboard sums over
		// both roles.
		roles := []string{"gateway"}
		if !strings.HasPrefix(name, "chatgate_gateway_") {
			roles = append(roles, "http")
		}
		for _, role := range roles {
			if !served(scrapes[role], name) {
				t.Errorf("%s: %s is used by the dashboard or an alert but not served", role, name)
			}
		}
	}
}
