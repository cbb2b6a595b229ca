package k8s_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// kustomizeVersions are the kustomize CLIs every overlay must render with,
// as operators run them (`kustomize build`, `kubectl apply -k`): v5.4.3 and
// v5.6.0 are the oldest embedded in a kubectl still in use (1.31 to 1.33
// embed v5.4.x to v5.6.0), v5.8.2 the newest that builds here (v5.8.3 needs
// Go 1.27 and a kube-openapi version the module proxy does not serve).
// docs/deploy.md states the range.
var kustomizeVersions = []string{"v5.4.3", "v5.6.0", "v5.8.2"}

// installKustomize builds the kustomize CLI at version into dir/version
// with the local Go toolchain (module cache and build cache make a repeat
// run take a few seconds) and returns the binary.
func installKustomize(t *testing.T, dir, version string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go not on PATH: %v; run the tests through scripts/test.sh", err)
	}
	gobin := filepath.Join(dir, version)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "install", "sigs.k8s.io/kustomize/kustomize/v5@"+version)
	cmd.Dir = dir // outside this module: go install pkg@version ignores it anyway
	cmd.Env = append(os.Environ(), "GOBIN="+gobin, "GOTOOLCHAIN=local", "CGO_ENABLED=0")
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go install kustomize %s: %v\n%s", version, err, out)
	}
	t.Logf("kustomize %s built in %v", version, time.Since(start).Round(100*time.Millisecond))
	return filepath.Join(gobin, "kustomize")
}

// rendered is one kustomization's objects as generic JSON values, by
// "kind namespace/name".
type rendered map[string]any

func (r rendered) add(t *testing.T, obj map[string]any) {
	t.Helper()
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any // JSON round trip: the same number and map types on both sides
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	meta, _ := v["metadata"].(map[string]any)
	key := v["kind"].(string) + " " + str(meta["namespace"]) + "/" + str(meta["name"])
	if _, dup := r[key]; dup {
		t.Fatalf("%s rendered twice", key)
	}
	r[key] = v
}

func str(v any) string { s, _ := v.(string); return s }

// apiRender renders dir with the kustomize Go API the other tests use.
func apiRender(t *testing.T, dir string) rendered {
	t.Helper()
	rm, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize API build %s: %v", dir, err)
	}
	out := rendered{}
	for _, r := range rm.Resources() {
		m, err := r.Map()
		if err != nil {
			t.Fatal(err)
		}
		out.add(t, m)
	}
	return out
}

var docSep = regexp.MustCompile(`(?m)^---[ \t]*$`)

// cliRender runs `kustomize build dir` and parses its multi-document output.
func cliRender(t *testing.T, bin, dir string) rendered {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "build", dir)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s build %s: %v\n%s", bin, dir, err, tail(stderr.String(), 30))
	}
	out := rendered{}
	for _, doc := range docSep.Split(stdout.String(), -1) {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			t.Fatalf("%s build %s: bad YAML document: %v\n%s", bin, dir, err, doc)
		}
		out.add(t, m)
	}
	return out
}

func tail(s string, lines int) string {
	l := strings.Split(s, "\n")
	if len(l) > lines {
		l = l[:lines] // a Go panic's first lines say where
	}
	return strings.Join(l, "\n")
}

// TestKustomizeCLIRendersLikeTheAPI renders every overlay with each kustomize
// CLI of kustomizeVersions and requires exactly the objects the kustomize
// API renders (the objects every other test checks). kustomize v5.4.3 to
// v5.6.0 crashed on the production overlay's multi-document `$patch: delete`
// (issue 17); the in-cluster Redis is now a Component that only dev includes.
func TestKustomizeCLIRendersLikeTheAPI(t *testing.T) {
	t.Parallel()
	bins := t.TempDir()
	want := map[string]rendered{}
	for _, dir := range overlays {
		want[dir] = apiRender(t, dir)
	}
	for _, version := range kustomizeVersions {
		t.Run(version, func(t *testing.T) {
			t.Parallel()
			bin := installKustomize(t, bins, version)
			for _, dir := range overlays {
				got := cliRender(t, bin, dir)
				for key, w := range want[dir] {
					g, ok := got[key]
					switch {
					case !ok:
						t.Errorf("kustomize %s build %s: %s missing", version, dir, key)
					case !reflect.DeepEqual(g, w):
						gy, _ := yaml.Marshal(g)
						wy, _ := yaml.Marshal(w)
						t.Errorf("kustomize %s build %s: %s differs from the API's\n--- CLI:\n%s--- API:\n%s", version, dir, key, gy, wy)
					}
				}
				for key := range got {
					if _, ok := want[dir][key]; !ok {
						t.Errorf("kustomize %s build %s: %s is not in the API's render", version, dir, key)
					}
				}
			}
		})
	}
}
