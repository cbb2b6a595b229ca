package session

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestLuaKeysMatchBuilders: the few scripts that build a key or channel name
// from the prefix (a name only known inside the script: a previous uid, a
// member's groups set, a gateway's inbox) build exactly what keys.go builds.
func TestLuaKeysMatchBuilders(t *testing.T) {
	t.Parallel()
	k := keys{"p:"}
	tests := []struct {
		script string
		want   []Key // in the order the script builds them
	}{
		{"op_bind", []Key{k.uid("ID")}},
		{"op_ungroup", []Key{k.clientGroups("ID"), k.inbox("ID")}},
		{"send_group", []Key{k.inbox("ID")}},
		{"send_group_log", []Key{k.inbox("ID")}},
		{"send_uid", []Key{k.inbox("ID")}},
	}
	// ARGV[n] .. 'literal' .. variable [.. 'literal']: the prefix, then the
	// name's text around the id. A literal with a double quote is JSON text
	// (an envelope), never a key or channel name.
	build := regexp.MustCompile(`ARGV\[\d\] \.\. '([^'"]*)' \.\. [a-z_]+(?: \.\. '([^'"]*)')?`)
	covered := map[string]bool{}
	for _, tc := range tests {
		covered[tc.script] = true
		t.Run(tc.script, func(t *testing.T) {
			b, err := luaFiles.ReadFile("lua/" + tc.script + ".lua")
			if err != nil {
				t.Fatal(err)
			}
			var got []Key
			for _, m := range build.FindAllStringSubmatch(stripLuaComments(string(b)), -1) {
				got = append(got, Key("p:"+m[1]+"ID"+m[2]))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("script builds %v, keys.go builds %v", got, tc.want)
			}
		})
	}
	// Every other script takes all of its names in KEYS (or builds none).
	files, err := luaFiles.ReadDir("lua")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(f.Name(), ".lua")
		if covered[name] {
			continue
		}
		b, _ := luaFiles.ReadFile("lua/" + f.Name())
		if m := build.FindString(stripLuaComments(string(b))); m != "" {
			t.Errorf("%s builds a name (%s): add it to this test", name, m)
		}
	}
}

var luaComment = regexp.MustCompile(`(?m)--.*$`)

func stripLuaComments(s string) string { return luaComment.ReplaceAllString(s, "") }
