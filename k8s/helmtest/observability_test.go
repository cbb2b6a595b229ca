package helmtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

const obsDir = "../observability"

// promql parses PromQL as Prometheus does.
var promql = parser.NewParser(parser.Options{})

// metricNames returns the metric names expr selects, after replacing
// Grafana's variables with values PromQL accepts.
func metricNames(expr string) ([]string, error) {
	expr = strings.NewReplacer("$__rate_interval", "5m", "$namespace", "ns").Replace(expr)
	e, err := promql.ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			if vs.Name == "" {
				err = fmt.Errorf("selector %s has no metric name", vs)
			}
			names = append(names, vs.Name)
		}
		return nil
	})
	return names, err
}

// alertExprs parses the alert rule file strictly (unknown fields fail,
// every expression and template must parse) and returns its expressions.
func alertExprs(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(obsDir, "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	rgs, errs := rulefmt.Parse(b, false, model.UTF8Validation, promql, slog.New(slog.DiscardHandler))
	if len(errs) != 0 {
		t.Fatalf("alerts.yaml: %v", errs)
	}
	out := map[string]string{}
	for _, g := range rgs.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || r.Annotations["summary"] == "" || r.Labels["severity"] == "" {
				t.Errorf("rule %q: want an alert name, a severity label and a summary", r.Alert)
			}
			out["alert "+r.Alert] = r.Expr
		}
	}
	return out
}

// dashboard is the subset of Grafana's dashboard JSON model chatgate's
// dashboard uses; decoding rejects any other field, so a typo shows.
type dashboard struct {
	Title         string                    `json:"title"`
	UID           string                    `json:"uid"`
	Description   string                    `json:"description"`
	Tags          []string                  `json:"tags"`
	Timezone      string                    `json:"timezone"`
	SchemaVersion int                       `json:"schemaVersion"`
	Version       int                       `json:"version"`
	Editable      bool                      `json:"editable"`
	Refresh       string                    `json:"refresh"`
	Time          struct{ From, To string } `json:"time"`
	Templating    struct {
		List []struct {
			Name       string          `json:"name"`
			Label      string          `json:"label"`
			Type       string          `json:"type"`
			Query      string          `json:"query"`
			Datasource *datasourceRef  `json:"datasource"`
			IncludeAll bool            `json:"includeAll"`
			AllValue   string          `json:"allValue"`
			Multi      bool            `json:"multi"`
			Refresh    int             `json:"refresh"`
			Current    json.RawMessage `json:"current"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		ID          int                      `json:"id"`
		Type        string                   `json:"type"`
		Title       string                   `json:"title"`
		Datasource  *datasourceRef           `json:"datasource"`
		GridPos     struct{ H, W, X, Y int } `json:"gridPos"`
		FieldConfig struct {
			Defaults  struct{ Unit string } `json:"defaults"`
			Overrides []json.RawMessage     `json:"overrides"`
		} `json:"fieldConfig"`
		Targets []struct {
			RefID        string         `json:"refId"`
			Expr         string         `json:"expr"`
			LegendFormat string         `json:"legendFormat"`
			Datasource   *datasourceRef `json:"datasource"`
		} `json:"targets"`
	} `json:"panels"`
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// dashboardExprs decodes dashboard.json strictly and returns every query.
func dashboardExprs(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(obsDir, "dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("dashboard.json: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Fatalf("dashboard.json: data after the dashboard")
	}
	if d.UID == "" || d.Title == "" || len(d.Panels) == 0 {
		t.Fatalf("dashboard.json: uid %q, title %q, %d panels", d.UID, d.Title, len(d.Panels))
	}
	out := map[string]string{}
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			out[fmt.Sprintf("panel %q %s", p.Title, tg.RefID)] = tg.Expr
		}
	}
	for _, v := range d.Templating.List {
		if strings.HasPrefix(v.Query, "label_values(") {
			metric, _, _ := strings.Cut(strings.TrimPrefix(v.Query, "label_values("), ",")
			out["variable "+v.Name] = metric
		}
	}
	return out
}

// TestObservabilityQueriesParse: every alert and dashboard expression is
// valid PromQL, and the metric names they use are exactly those listed in
// k8s/observability/metrics.txt, which tests/observability_test.go checks
// against what the chatgate binary serves.
func TestObservabilityQueriesParse(t *testing.T) {
	t.Parallel()
	used := map[string][]string{} // metric → where
	for _, src := range []map[string]string{alertExprs(t), dashboardExprs(t)} {
		for where, expr := range src {
			names, err := metricNames(expr)
			if err != nil {
				t.Errorf("%s: %v\n  %s", where, err, expr)
				continue
			}
			if len(names) == 0 {
				t.Errorf("%s uses no metric: %s", where, expr)
			}
			for _, n := range names {
				used[n] = append(used[n], where)
			}
		}
	}
	b, err := os.ReadFile(filepath.Join(obsDir, "metrics.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			listed = append(listed, l)
		}
	}
	for n, where := range used {
		if !slices.Contains(listed, n) {
			t.Errorf("metric %s (used by %s) missing from metrics.txt", n, where[0])
		}
	}
	for _, n := range listed {
		if _, ok := used[n]; !ok {
			t.Errorf("metrics.txt lists %s, which no alert or panel uses", n)
		}
	}
	if !slices.IsSorted(listed) {
		t.Error("metrics.txt is not sorted")
	}
}

// TestMetricNamesFindsEverySelector guards the extraction above.
func TestMetricNamesFindsEverySelector(t *testing.T) {
	t.Parallel()
	got, err := metricNames(`sum(rate(a_total{x="1"}[$__rate_interval])) / on() b + histogram_quantile(0.9, rate(c_bucket[5m]))`)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a_total", "b", "c_bucket"}; !slices.Equal(got, want) {
		t.Errorf("names %v, want %v", got, want)
	}
	if _, err := metricNames(`sum(rate(a_total[5m])`); err == nil {
		t.Error("an unbalanced expression parsed")
	}
	if _, err := metricNames(`{job="x"}`); err == nil {
		t.Error("a selector without a metric name was accepted")
	}
}

// TestPodMonitorFile decodes k8s/observability/podmonitor.yaml strictly into
// the Prometheus Operator's type and checks that it selects the gateway and
// HTTP pods of every overlay.
func TestPodMonitorFile(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join(obsDir, "podmonitor.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	r := rendered{}
	if err := r.decodeStrict(b); err != nil {
		t.Fatal(err)
	}
	pm := r["PodMonitor/chatgate"].typed.(*monitoringv1.PodMonitor)
	for _, dir := range []string{"overlays/dev", "overlays/production"} {
		t.Run(dir, func(t *testing.T) {
			checkPodMonitorSelects(t, pm, renderKustomize(t, dir))
		})
	}
}
