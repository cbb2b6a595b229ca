package helmtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	kubefake "helm.sh/helm/v4/pkg/kube/fake"
	release "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage"
	"helm.sh/helm/v4/pkg/storage/driver"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apiyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
)

const (
	chartDir = "../helm/chatgate"
	k8sDir   = ".."
)

// object is one rendered manifest: its typed value, strictly decoded, and the
// same value as generic JSON for comparisons.
type object struct {
	kind, name, namespace string
	typed                 any
	tree                  map[string]any
}

// rendered maps "Kind/name" to its object.
type rendered map[string]*object

// newTyped returns a new value of the Go type of apiVersion/kind; chatgate
// renders nothing else.
func newTyped(apiVersion, kind string) (any, error) {
	switch apiVersion + " " + kind {
	case "apps/v1 Deployment":
		return new(appsv1.Deployment), nil
	case "apps/v1 StatefulSet":
		return new(appsv1.StatefulSet), nil
	case "v1 Service":
		return new(corev1.Service), nil
	case "v1 ConfigMap":
		return new(corev1.ConfigMap), nil
	case "v1 Secret":
		return new(corev1.Secret), nil
	case "networking.k8s.io/v1 Ingress":
		return new(networkingv1.Ingress), nil
	case "networking.k8s.io/v1 NetworkPolicy":
		return new(networkingv1.NetworkPolicy), nil
	case "autoscaling/v2 HorizontalPodAutoscaler":
		return new(autoscalingv2.HorizontalPodAutoscaler), nil
	case "policy/v1 PodDisruptionBudget":
		return new(policyv1.PodDisruptionBudget), nil
	case "monitoring.coreos.com/v1 PodMonitor":
		return new(monitoringv1.PodMonitor), nil
	case "monitoring.coreos.com/v1 PrometheusRule":
		return new(monitoringv1.PrometheusRule), nil
	}
	return nil, fmt.Errorf("%s %s: kind not expected in chatgate's manifests", apiVersion, kind)
}

// decodeStrict decodes one YAML document into its typed struct (an unknown or
// duplicate field fails) and records it in r.
func (r rendered) decodeStrict(doc []byte) error {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	}
	if err := yaml.Unmarshal(doc, &head); err != nil {
		return fmt.Errorf("decode head: %w\n%s", err, doc)
	}
	typed, err := newTyped(head.APIVersion, head.Kind)
	if err != nil {
		return err
	}
	key := head.Kind + "/" + head.Metadata.Name
	if err := yaml.UnmarshalStrict(doc, typed); err != nil {
		return fmt.Errorf("strict decode %s: %w\n%s", key, err, doc)
	}
	if _, dup := r[key]; dup {
		return fmt.Errorf("%s rendered twice", key)
	}
	// The tree is the typed value re-encoded: equal trees mean equal objects
	// as the API server would read them (quantities, int-or-strings, defaults
	// of the YAML syntax all normalised).
	j, err := json.Marshal(typed)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	var tree map[string]any
	if err := json.Unmarshal(j, &tree); err != nil {
		return fmt.Errorf("re-decode %s: %w", key, err)
	}
	r[key] = &object{kind: head.Kind, name: head.Metadata.Name, namespace: head.Metadata.Namespace, typed: typed, tree: tree}
	return nil
}

// decodeStream decodes a multi-document YAML stream; empty documents (a
// template that rendered nothing) are skipped.
func (r rendered) decodeStream(stream []byte) error {
	rd := apiyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(stream)))
	for {
		doc, err := rd.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		var probe map[string]any
		if err := yaml.Unmarshal(doc, &probe); err != nil {
			return fmt.Errorf("decode document: %w\n%s", err, doc)
		}
		if len(probe) == 0 {
			continue // a template that rendered only comments
		}
		if err := r.decodeStrict(doc); err != nil {
			return err
		}
	}
}

// renderHelm renders the chart as `helm template RELEASE k8s/helm/chatgate
// -n namespace -f valueFiles…` does, with the Helm Go SDK and no cluster.
func renderHelm(t *testing.T, release, namespace string, valueFiles ...string) rendered {
	t.Helper()
	r, err := tryRenderHelm(release, namespace, nil, valueFiles...)
	if err != nil {
		t.Fatalf("helm template %s %v: %v", release, valueFiles, err)
	}
	return r
}

func tryRenderHelm(releaseName, namespace string, set map[string]any, valueFiles ...string) (rendered, error) {
	chrt, err := loader.Load(chartDir)
	if err != nil {
		return nil, fmt.Errorf("load chart: %w", err)
	}
	vals := map[string]any{}
	for _, f := range valueFiles {
		v, err := common.ReadValuesFile(filepath.Join(chartDir, f))
		if err != nil {
			return nil, err
		}
		vals = mergeValues(vals, v)
	}
	vals = mergeValues(vals, set)
	cfg := &action.Configuration{
		Releases:     storage.Init(driver.NewMemory()),
		KubeClient:   &kubefake.PrintingKubeClient{Out: io.Discard},
		Capabilities: common.DefaultCapabilities,
	}
	inst := action.NewInstall(cfg)
	inst.DryRunStrategy = action.DryRunClient
	inst.Replace = true
	inst.ReleaseName = releaseName
	inst.Namespace = namespace
	inst.KubeVersion = &common.KubeVersion{Version: "v1.33.0", Major: "1", Minor: "33"}
	rel, err := inst.Run(chrt, vals)
	if err != nil {
		return nil, err
	}
	rl, ok := rel.(*release.Release)
	if !ok {
		return nil, fmt.Errorf("release is a %T", rel)
	}
	if len(rl.Hooks) != 0 {
		return nil, fmt.Errorf("chart has %d hooks; it should have none", len(rl.Hooks))
	}
	out := rendered{}
	return out, out.decodeStream([]byte(rl.Manifest))
}

// mergeValues merges src into dst as Helm merges value files (maps deeply,
// anything else replaced).
func mergeValues(dst, src map[string]any) map[string]any {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				dst[k] = mergeValues(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
	return dst
}

// renderKustomize builds a kustomization under k8s/ with the kustomize API.
func renderKustomize(t *testing.T, dir string) rendered {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(k8sDir, dir))
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	out := rendered{}
	for _, res := range rm.Resources() {
		y, err := res.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		if err := out.decodeStrict(y); err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
	}
	return out
}

// dropHPAReplicas removes spec.replicas from the Deployments an HPA scales:
// the chart leaves it out then (so a helm upgrade never resets what the HPA
// chose), the kustomize overlay sets it to the HPA's minimum.
func dropHPAReplicas(r rendered) {
	for _, o := range r {
		if o.kind != "HorizontalPodAutoscaler" {
			continue
		}
		target := o.tree["spec"].(map[string]any)["scaleTargetRef"].(map[string]any)["name"].(string)
		if d, ok := r["Deployment/"+target]; ok {
			delete(d.tree["spec"].(map[string]any), "replicas")
		}
	}
}

// TestChartRendersLikeKustomize renders the chart with the values that
// mirror each kustomization and requires the same objects with the same
// fields (after normalize): the chart's defaults are the base's, and
// values-dev.yaml / values-production.yaml are the overlays.
func TestChartRendersLikeKustomize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, kustomization, namespace string
		valueFiles                     []string
	}{
		{name: "defaults are the base", kustomization: "base", namespace: "default"},
		{name: "values-dev is overlays/dev", kustomization: "overlays/dev", namespace: "chatgate-dev", valueFiles: []string{"values-dev.yaml"}},
		{name: "values-production is overlays/production", kustomization: "overlays/production", namespace: "chatgate", valueFiles: []string{"values-production.yaml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			helm := renderHelm(t, "chatgate", tt.namespace, tt.valueFiles...)
			kust := renderKustomize(t, tt.kustomization)
			base := tt.kustomization == "base"
			normalize(helm, base)
			normalize(kust, base)
			dropHPAReplicas(helm)
			dropHPAReplicas(kust)
			if len(kust) < 8 {
				t.Fatalf("kustomize rendered only %d objects", len(kust))
			}
			compareRendered(t, helm, kust)
		})
	}
}

// TestChartReleaseNamesAndSelectors: another release name prefixes every
// object, and every selector selects its own release's pods only.
func TestChartReleaseNamesAndSelectors(t *testing.T) {
	t.Parallel()
	r := renderHelm(t, "team-a", "apps", "values-dev.yaml")
	for key, o := range r {
		if !strings.HasPrefix(o.name, "team-a-chatgate") {
			t.Errorf("%s: name not prefixed with the release's fullname team-a-chatgate", key)
		}
		if o.namespace != "apps" {
			t.Errorf("%s: namespace %q, want the release's", key, o.namespace)
		}
	}
	sec := r["Secret/team-a-chatgate-secrets"].typed.(*corev1.Secret)
	if got := sec.StringData["REDIS_URL"]; got != "redis://team-a-chatgate-redis:6379/0" {
		t.Errorf("default REDIS_URL %q, want the release's in-cluster Redis", got)
	}
	for _, c := range []string{"gateway", "http"} {
		d := r["Deployment/team-a-chatgate-"+c].typed.(*appsv1.Deployment)
		if got := d.Spec.Selector.MatchLabels["app.kubernetes.io/instance"]; got != "team-a" {
			t.Errorf("%s selector instance %q, want team-a", c, got)
		}
		svc := r["Service/team-a-chatgate-"+c].typed.(*corev1.Service)
		for k, v := range svc.Spec.Selector {
			if d.Spec.Template.Labels[k] != v {
				t.Errorf("Service %s selects %s=%s, which its pods do not carry", c, k, v)
			}
		}
		env := d.Spec.Template.Spec.Containers[0].EnvFrom
		if env[0].ConfigMapRef.Name != "team-a-chatgate-config" || env[1].SecretRef.Name != "team-a-chatgate-secrets" {
			t.Errorf("%s envFrom %+v does not name the release's ConfigMap and Secret", c, env)
		}
	}
}

// TestChartValues covers the values no overlay uses.
func TestChartValues(t *testing.T) {
	t.Parallel()
	t.Run("existingSecret", func(t *testing.T) {
		t.Parallel()
		r, err := tryRenderHelm("chatgate", "x", map[string]any{"secrets": map[string]any{"existingSecret": "mine"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := r["Secret/chatgate-secrets"]; ok {
			t.Error("the chart still renders its Secret beside secrets.existingSecret")
		}
		d := r["Deployment/chatgate-gateway"].typed.(*appsv1.Deployment)
		if got := d.Spec.Template.Spec.Containers[0].EnvFrom[1].SecretRef.Name; got != "mine" {
			t.Errorf("gateway reads Secret %q, want mine", got)
		}
	})
	t.Run("image digest", func(t *testing.T) {
		t.Parallel()
		dg := "sha256:" + strings.Repeat("ab", 32)
		r, err := tryRenderHelm("chatgate", "x", map[string]any{"image": map[string]any{"repository": "reg.example/cg", "digest": dg}})
		if err != nil {
			t.Fatal(err)
		}
		d := r["Deployment/chatgate-http"].typed.(*appsv1.Deployment)
		if got := d.Spec.Template.Spec.Containers[0].Image; got != "reg.example/cg@"+dg {
			t.Errorf("image %q, want the digest", got)
		}
	})
	t.Run("config change rolls the pods", func(t *testing.T) {
		t.Parallel()
		a, err := tryRenderHelm("chatgate", "x", nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := tryRenderHelm("chatgate", "x", map[string]any{"config": map[string]any{"LOG_LEVEL": "debug"}})
		if err != nil {
			t.Fatal(err)
		}
		ca := a["Deployment/chatgate-gateway"].typed.(*appsv1.Deployment).Spec.Template.Annotations["checksum/config"]
		cb := b["Deployment/chatgate-gateway"].typed.(*appsv1.Deployment).Spec.Template.Annotations["checksum/config"]
		if ca == "" || ca == cb {
			t.Errorf("checksum/config %q then %q: a config change must change the pod template", ca, cb)
		}
	})
	t.Run("empty token secret refused", func(t *testing.T) {
		t.Parallel()
		_, err := tryRenderHelm("chatgate", "x", map[string]any{"secrets": map[string]any{"tokenSecret": ""}})
		if err == nil || !strings.Contains(err.Error(), "secrets.tokenSecret is required") {
			t.Errorf("err = %v, want the required tokenSecret message", err)
		}
	})
	t.Run("push-only", func(t *testing.T) {
		t.Parallel()
		r, err := tryRenderHelm("chatgate", "x", map[string]any{
			"http":       map[string]any{"enabled": false},
			"push":       map[string]any{"enabled": true},
			"monitoring": map[string]any{"podMonitor": map[string]any{"enabled": true}},
		})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"ConfigMap/chatgate-config", "Deployment/chatgate-gateway", "Deployment/chatgate-push",
			"Ingress/chatgate-ws", "PodMonitor/chatgate", "Secret/chatgate-secrets", "Service/chatgate-gateway",
			"Service/chatgate-push-internal"}
		if got := slices.Sorted(maps.Keys(r)); !slices.Equal(got, want) {
			t.Fatalf("objects %v, want %v", got, want)
		}
		d := r["Deployment/chatgate-push"].typed.(*appsv1.Deployment)
		c := d.Spec.Template.Spec.Containers[0]
		if len(c.Args) != 1 || c.Args[0] != "push" || len(c.Ports) != 1 || c.Ports[0].Name != "internal" ||
			c.LivenessProbe.HTTPGet.Port.StrVal != "internal" || c.ReadinessProbe.HTTPGet.Port.StrVal != "internal" {
			t.Errorf("push container: args %v, ports %+v, probes on %v/%v; want role push on the internal port only",
				c.Args, c.Ports, c.LivenessProbe.HTTPGet.Port, c.ReadinessProbe.HTTPGet.Port)
		}
		svc := r["Service/chatgate-push-internal"].typed.(*corev1.Service)
		for k, v := range svc.Spec.Selector {
			if d.Spec.Template.Labels[k] != v {
				t.Errorf("Service chatgate-push-internal selects %s=%s, which the push pods do not carry", k, v)
			}
		}
		checkPodMonitorSelects(t, r["PodMonitor/chatgate"].typed.(*monitoringv1.PodMonitor), r)
	})
	t.Run("podMonitor", func(t *testing.T) {
		t.Parallel()
		r, err := tryRenderHelm("chatgate", "x", map[string]any{"monitoring": map[string]any{"podMonitor": map[string]any{"enabled": true}}})
		if err != nil {
			t.Fatal(err)
		}
		pm, ok := r["PodMonitor/chatgate"]
		if len(r) < 10 {
			t.Fatalf("only %d objects: %v", len(r), slices.Sorted(maps.Keys(r)))
		}
		if !ok {
			t.Fatalf("no PodMonitor among %v", slices.Sorted(maps.Keys(r)))
		}
		checkPodMonitorSelects(t, pm.typed.(*monitoringv1.PodMonitor), r)
	})
}

// TestStrictDecodingRejectsUnknownFields proves decodeStrict fails on a
// misspelled or duplicated field.
func TestStrictDecodingRejectsUnknownFields(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		y       string
		wantErr bool
	}{
		{name: "valid", y: "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {sessionAffinity: None}\n"},
		{name: "unknown field", y: "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {sessionAfinity: None}\n", wantErr: true},
		{name: "duplicate field", y: "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nmetadata: {name: b}\n", wantErr: true},
		{name: "unknown kind", y: "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := rendered{}.decodeStrict([]byte(tt.y))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}
