package helmtest

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
)

// helmOnlyLabels are the labels the chart adds and the kustomize tree has
// not: Helm's bookkeeping and the release instance (which the chart also puts
// in selectors, so two releases can share a namespace).
var helmOnlyLabels = []string{
	"app.kubernetes.io/instance", "app.kubernetes.io/managed-by",
	"app.kubernetes.io/version", "helm.sh/chart",
}

// normalize removes from a rendered set what legitimately differs between
// the chart and the kustomize tree, in place:
//   - the labels above, wherever they are (metadata, selectors, templates);
//   - the ConfigMap's name hash (kustomize's configMapGenerator) and the
//     chart's checksum/config annotation, its equivalent for rolling pods;
//   - the namespace when the kustomization sets none (the base).
func normalize(r rendered, dropNamespace bool) {
	for _, o := range r {
		if o.kind == "ConfigMap" && strings.HasPrefix(o.name, "chatgate-config-") {
			hashed := o.name
			for _, o2 := range r {
				o2.tree = renameString(o2.tree, hashed, "chatgate-config").(map[string]any)
			}
		}
	}
	for key, o := range r {
		dropKeys(o.tree, helmOnlyLabels...)
		dropKeys(o.tree, "checksum/config")
		if md, ok := o.tree["metadata"].(map[string]any); ok && dropNamespace {
			delete(md, "namespace")
		}
		pruneEmpty(o.tree)
		if strings.HasPrefix(key, "ConfigMap/chatgate-config-") {
			delete(r, key)
			o.name = "chatgate-config"
			o.tree["metadata"].(map[string]any)["name"] = o.name
			r["ConfigMap/"+o.name] = o
		}
	}
}

// renameString replaces every string equal to from with to, in a JSON tree.
func renameString(v any, from, to string) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = renameString(e, from, to)
		}
	case []any:
		for i, e := range x {
			x[i] = renameString(e, from, to)
		}
	case string:
		if x == from {
			return to
		}
	}
	return v
}

// dropKeys deletes the map keys names at any depth.
func dropKeys(v any, names ...string) {
	switch x := v.(type) {
	case map[string]any:
		for _, n := range names {
			delete(x, n)
		}
		for _, e := range x {
			dropKeys(e, names...)
		}
	case []any:
		for _, e := range x {
			dropKeys(e, names...)
		}
	}
}

// pruneEmpty deletes maps left empty by dropKeys (labels: {} and nothing
// are the same object).
func pruneEmpty(v any) {
	m, ok := v.(map[string]any)
	if !ok {
		if l, ok := v.([]any); ok {
			for _, e := range l {
				pruneEmpty(e)
			}
		}
		return
	}
	for k, e := range m {
		pruneEmpty(e)
		if em, ok := e.(map[string]any); ok && len(em) == 0 {
			delete(m, k)
		}
	}
}

// diffTrees lists the paths where a and b differ, with both values.
func diffTrees(path string, a, b any) []string {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		var out []string
		keys := slices.Sorted(maps.Keys(am))
		for k := range bm {
			if _, ok := am[k]; !ok {
				keys = append(keys, k)
			}
		}
		for _, k := range keys {
			out = append(out, diffTrees(path+"."+k, am[k], bm[k])...)
		}
		return out
	}
	al, aok := a.([]any)
	bl, bok := b.([]any)
	if aok && bok && len(al) == len(bl) {
		var out []string
		for i := range al {
			out = append(out, diffTrees(fmt.Sprintf("%s[%d]", path, i), al[i], bl[i])...)
		}
		return out
	}
	if reflect.DeepEqual(a, b) {
		return nil
	}
	return []string{fmt.Sprintf("%s: helm %s, kustomize %s", path, js(a), js(b))}
}

func js(v any) string {
	if v == nil {
		return "(absent)"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// compareRendered fails t for every object or field where the chart's
// render differs from the kustomize one.
func compareRendered(t *testing.T, helm, kust rendered) {
	t.Helper()
	hk, kk := slices.Sorted(maps.Keys(helm)), slices.Sorted(maps.Keys(kust))
	if !slices.Equal(hk, kk) {
		t.Errorf("objects differ:\n  helm:      %v\n  kustomize: %v", hk, kk)
	}
	for _, key := range hk {
		k, ok := kust[key]
		if !ok {
			continue
		}
		d := diffTrees(key, helm[key].tree, k.tree)
		sort.Strings(d)
		for _, line := range d {
			t.Errorf("%s", line)
		}
	}
}
