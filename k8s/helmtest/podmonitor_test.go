package helmtest

import (
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// checkPodMonitorSelects requires pm to select the pods of every chatgate
// Deployment of r (gateway, HTTP app, push role; and nothing else rendered
// there, such as Redis) and to scrape /metrics on their named internal port.
func checkPodMonitorSelects(t *testing.T, pm *monitoringv1.PodMonitor, r rendered) {
	t.Helper()
	sel, err := metav1.LabelSelectorAsSelector(&pm.Spec.Selector)
	if err != nil {
		t.Fatalf("PodMonitor selector: %v", err)
	}
	if len(pm.Spec.PodMetricsEndpoints) != 1 {
		t.Fatalf("PodMonitor endpoints %+v, want one", pm.Spec.PodMetricsEndpoints)
	}
	ep := pm.Spec.PodMetricsEndpoints[0]
	if ep.Port == nil || *ep.Port != "internal" || ep.Path != "/metrics" {
		t.Errorf("PodMonitor scrapes port %v path %q, want internal /metrics", ep.Port, ep.Path)
	}
	selected, deployments := 0, 0
	for key, o := range r {
		var tpl map[string]string
		var ports []string
		switch x := o.typed.(type) {
		case *appsv1.Deployment:
			deployments++
			tpl = x.Spec.Template.Labels
			for _, p := range x.Spec.Template.Spec.Containers[0].Ports {
				ports = append(ports, p.Name)
			}
		case *appsv1.StatefulSet:
			tpl = x.Spec.Template.Labels
		default:
			continue
		}
		match := sel.Matches(labels.Set(tpl))
		if o.kind == "StatefulSet" {
			if match {
				t.Errorf("PodMonitor selects %s, which serves no chatgate metrics", key)
			}
			continue
		}
		if !match {
			t.Errorf("PodMonitor does not select %s (pod labels %v)", key, tpl)
			continue
		}
		selected++
		found := false
		for _, p := range ports {
			found = found || p == "internal"
		}
		if !found {
			t.Errorf("%s has no port named internal for the PodMonitor", key)
		}
	}
	if selected != deployments || deployments < 2 {
		t.Errorf("PodMonitor selects %d of %d Deployments, want all", selected, deployments)
	}
}
