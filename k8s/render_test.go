package k8s_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// overlays are the kustomizations operators apply; base is rendered too.
var overlays = []string{"base", "overlays/dev", "overlays/production"}

// objects is one rendered kustomization, strictly decoded.
type objects struct {
	deployments  map[string]*appsv1.Deployment
	statefulsets map[string]*appsv1.StatefulSet
	services     map[string]*corev1.Service
	configmaps   map[string]*corev1.ConfigMap
	secrets      map[string]*corev1.Secret
	ingresses    map[string]*networkingv1.Ingress
	hpas         map[string]*autoscalingv2.HorizontalPodAutoscaler
	pdbs         map[string]*policyv1.PodDisruptionBudget
	netpols      map[string]*networkingv1.NetworkPolicy
}

// render builds dir with the kustomize API (as `kubectl kustomize`) and
// decodes every object into its typed struct; an unknown field, an unknown
// kind or a duplicate name fails the test.
func render(t *testing.T, dir string) *objects {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, "kustomization.yaml")); err != nil {
		t.Fatalf("kustomization %s: %v", dir, err)
	}
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	o := &objects{
		deployments: map[string]*appsv1.Deployment{}, statefulsets: map[string]*appsv1.StatefulSet{},
		services: map[string]*corev1.Service{}, configmaps: map[string]*corev1.ConfigMap{},
		secrets: map[string]*corev1.Secret{}, ingresses: map[string]*networkingv1.Ingress{},
		hpas: map[string]*autoscalingv2.HorizontalPodAutoscaler{}, pdbs: map[string]*policyv1.PodDisruptionBudget{},
		netpols: map[string]*networkingv1.NetworkPolicy{},
	}
	for _, r := range rm.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			t.Fatalf("%s: %s/%s as YAML: %v", dir, r.GetKind(), r.GetName(), err)
		}
		if err := o.add(r.GetApiVersion(), r.GetKind(), r.GetName(), y); err != nil {
			t.Fatalf("%s: %v\n%s", dir, err, y)
		}
	}
	return o
}

func (o *objects) add(apiVersion, kind, name string, y []byte) error {
	switch apiVersion + " " + kind {
	case "apps/v1 Deployment":
		return decodeInto(o.deployments, name, y)
	case "apps/v1 StatefulSet":
		return decodeInto(o.statefulsets, name, y)
	case "v1 Service":
		return decodeInto(o.services, name, y)
	case "v1 ConfigMap":
		return decodeInto(o.configmaps, name, y)
	case "v1 Secret":
		return decodeInto(o.secrets, name, y)
	case "networking.k8s.io/v1 Ingress":
		return decodeInto(o.ingresses, name, y)
	case "autoscaling/v2 HorizontalPodAutoscaler":
		return decodeInto(o.hpas, name, y)
	case "policy/v1 PodDisruptionBudget":
		return decodeInto(o.pdbs, name, y)
	case "networking.k8s.io/v1 NetworkPolicy":
		return decodeInto(o.netpols, name, y)
	}
	return fmt.Errorf("%s %s %q: kind not expected in chatgate's manifests", apiVersion, kind, name)
}

// decodeInto strictly decodes y (unknown or duplicate fields fail) into a
// new T stored under name.
func decodeInto[T any](m map[string]*T, name string, y []byte) error {
	if _, dup := m[name]; dup {
		return fmt.Errorf("%T %q defined twice", m[name], name)
	}
	v := new(T)
	if err := yaml.UnmarshalStrict(y, v); err != nil {
		return fmt.Errorf("strict decode %T %q: %w", v, name, err)
	}
	m[name] = v
	return nil
}

func TestEveryOverlayRendersStrictly(t *testing.T) {
	t.Parallel()
	for _, dir := range overlays {
		t.Run(dir, func(t *testing.T) {
			t.Parallel()
			o := render(t, dir)
			if len(o.deployments) != 2 {
				t.Errorf("deployments: got %d, want chatgate-gateway and chatgate-http", len(o.deployments))
			}
		})
	}
}

// TestStrictDecodingRejectsUnknownFields proves the decoder used above
// really fails on a misspelled field (so a typo in a manifest cannot pass).
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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := decodeInto(map[string]*corev1.Service{}, "a", []byte(tt.y))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}
