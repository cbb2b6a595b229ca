package helmtest

import (
	"os"
	"regexp"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
)

// TestREADMEBuildsThePinnedImage: the image the README tells operators to
// build and push (IMAGE=…, VERSION=…) is the one the production overlay and
// values-production.yaml pin, so following the README yields what the
// manifests run.
func TestREADMEBuildsThePinnedImage(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	img := regexp.MustCompile(`(?m)^\s*IMAGE=(\S+)`).FindSubmatch(b)
	ver := regexp.MustCompile(`(?m)^\s*VERSION=(\S+)`).FindSubmatch(b)
	if img == nil || ver == nil {
		t.Fatal("README: no IMAGE=… and VERSION=… lines in the build commands")
	}
	want := string(img[1]) + ":" + string(ver[1])
	for name, r := range map[string]rendered{
		"overlays/production":    renderKustomize(t, "overlays/production"),
		"values-production.yaml": renderHelm(t, "chatgate", "chatgate", "values-production.yaml"),
	} {
		for _, c := range []string{"gateway", "http"} {
			d := r["Deployment/chatgate-"+c].typed.(*appsv1.Deployment)
			if got := d.Spec.Template.Spec.Containers[0].Image; got != want {
				t.Errorf("%s: %s runs %q; the README builds and pushes %q", name, c, got, want)
			}
		}
	}
}
