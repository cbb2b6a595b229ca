package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/chatgate/chatgate/internal/redistest"
	"github.com/chatgate/chatgate/pushapi"
	"github.com/chatgate/chatgate/session"
)

// The example client ids of docs/push-api.md: A and B on gw1, C on gw2.
const (
	docA = "gw1.3NqUFiDhbRZ1lkR2Ho6EJw"
	docB = "gw1.Yp0kF5nq2v8h7Tq3LmZx1Q"
	docC = "gw2.Xn1m9Hq0dJ9u5b6Zr2cT4w"
)

// docsBlocks returns the ```sh blocks of docs/push-api.md that use tool.
func docsBlocks(t *testing.T, tool string) []string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(pushRepoRoot(t), "docs", "push-api.md"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range regexp.MustCompile("(?ms)^```sh\n(.*?)^```").FindAllStringSubmatch(string(raw), -1) {
		if strings.Contains(m[1], tool+" ") {
			out = append(out, m[1])
		}
	}
	if len(out) == 0 {
		t.Fatalf("docs/push-api.md has no %s examples", tool)
	}
	return out
}

// docsWorld is a redis-server, gateways gw1 and gw2 and three clients, with
// a replacer from the docs' example ids to the real ones.
type docsWorld struct {
	rs      *redistest.Server
	a, b, c *pushClient
	ids     *strings.Replacer
	shims   string // directory put first on PATH
}

func newDocsWorld(t *testing.T) *docsWorld {
	t.Helper()
	w := &docsWorld{rs: redistest.Start(t)}
	gw1 := pushStartGateway(t, w.rs.URL(), "gw1")
	gw2 := pushStartGateway(t, w.rs.URL(), "gw2")
	w.a, w.b, w.c = pushConnect(t, gw1), pushConnect(t, gw1), pushConnect(t, gw2)
	w.ids = strings.NewReplacer(docA, w.a.ID, docB, w.b.ID, docC, w.c.ID)
	w.shims = t.TempDir()
	return w
}

// shim installs an executable named name on the world's PATH.
func (w *docsWorld) shim(t *testing.T, name, script string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(w.shims, name), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

// bash runs a script from the repository root with the shims first on PATH.
func (w *docsWorld) bash(t *testing.T, script string, env ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), pushDeadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = pushRepoRoot(t)
	cmd.Env = append(os.Environ(), append(env, "PATH="+w.shims+":"+os.Getenv("PATH"))...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// TestDocsRedisCLIExamples runs every redis-cli block of docs/push-api.md, in
// order, as one bash script against a real redis-server (redis-cli -e: an
// error reply fails the script) with live gateways gw1 and gw2, then checks
// what the three WebSocket clients received and what Redis holds.
func TestDocsRedisCLIExamples(t *testing.T) {
	t.Parallel()
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Fatal("redis-cli not found: scripts/test.sh installs redis-tools")
	}
	w := newDocsWorld(t)
	host, port := pushHostPort(w.rs.Addr())
	w.shim(t, "redis-cli", "#!/bin/sh\nexec "+cli+" -e -h "+host+" -p "+port+` "$@"`+"\n")
	blocks := docsBlocks(t, "redis-cli")
	script := w.ids.Replace(strings.Join(blocks, "\n"))
	if out, err := w.bash(t, script); err != nil {
		t.Fatalf("redis-cli examples failed: %v\n%s", err, out)
	}
	// The first sendToUid runs before the bind: nobody gets it.
	w.a.waitFrames(t, "A", "hello 42")
	w.b.waitFrames(t, "B", "hello B", "hello everyone but A", "bye B")
	w.c.waitFrames(t, "C", "hello everyone but A", "hello room1")
	if code := w.b.waitClosed(t, "B"); code != 1000 {
		t.Errorf("B closed with %d, want 1000", code)
	}
	w.expectOnly(t, map[string][]string{"A": {"hello 42"}})

	store, err := session.Open(context.Background(), w.rs.URL(), pushDeadline, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()
	sess, err := store.Session(ctx, w.a.ID)
	if err != nil || !reflect.DeepEqual(sess, session.Session{"uname": "ann", "room_id": "1", "bubble": "blue"}) {
		t.Errorf("A session after the examples: %v %v", sess, err)
	}
	groups, _ := store.GroupIDs(ctx)
	uids, _ := store.Uids(ctx)
	if len(groups) != 0 || len(uids) != 0 {
		t.Errorf("after leave/ungroup/unbind examples: groups %v uids %v, want none", groups, uids)
	}
	// The scripts of the push operations are documented, and every script
	// the docs load exists in session (gateway-internal ones need no docs).
	doc := strings.Join(blocks, "\n")
	for _, name := range []string{"op_join", "op_leave", "op_ungroup", "op_bind", "op_unbind",
		"client_join", "group_join", "group_leave", "group_dissolve", "client_bind",
		"client_unbind", "uid_remove", "session_set", "session_update", "send_uid", "send_group"} {
		if !strings.Contains(doc, "session/lua/"+name+".lua") {
			t.Errorf("docs/push-api.md does not load session/lua/%s.lua", name)
		}
	}
	for _, m := range regexp.MustCompile(`session/lua/([a-z_]+\.lua)`).FindAllStringSubmatch(doc, -1) {
		if _, err := fs.Stat(session.LuaScripts(), m[1]); err != nil {
			t.Errorf("docs/push-api.md loads session/lua/%s, which session does not ship", m[1])
		}
	}
}

// docsCommands splits a block into commands (joining "\" continuations),
// each with the JSON response documented on the "# {…}" line after it.
func docsCommands(block string) (cmds, expect []string) {
	lines := strings.Split(block, "\n")
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		switch {
		case l == "":
		case strings.HasPrefix(l, "# {"):
			if n := len(expect); n > 0 {
				expect[n-1] = strings.TrimPrefix(l, "# ")
			}
		case strings.HasPrefix(l, "#"):
		default:
			cmd := l
			for strings.HasSuffix(cmd, `\`) && i+1 < len(lines) {
				i++
				cmd = strings.TrimSuffix(cmd, `\`) + " " + strings.TrimSpace(lines[i])
			}
			cmds, expect = append(cmds, cmd), append(expect, "")
		}
	}
	return cmds, expect
}

var docsCurlRoute = regexp.MustCompile(`http://localhost:9272/api/push(/[a-z/-]*)`)

// TestDocsCurlExamples runs every curl command of docs/push-api.md against
// the push API (mounted at /api/push on a real listener) over a real
// redis-server with live gateways, compares each response documented after a
// command, checks that every route is documented and exercised, and checks
// what the WebSocket clients received.
func TestDocsCurlExamples(t *testing.T) {
	t.Parallel()
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatal("curl not found: scripts/test.sh installs it")
	}
	w := newDocsWorld(t)
	store, err := session.Open(context.Background(), w.rs.URL(), pushDeadline, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	fapp := fiber.New(fiber.Config{DisableStartupMessage: true})
	pushapi.Register(fapp.Group("/api/push"), store, &pushapi.Options{APIKeys: []string{"docs-key"}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- fapp.Listener(ln) }()
	t.Cleanup(func() { _ = fapp.Shutdown(); <-served })
	base := "http://" + ln.Addr().String()
	w.shim(t, "curl", "#!/bin/bash\nargs=()\nfor a in \"$@\"; do args+=(\"${a//http:\\/\\/localhost:9272/$PUSH_BASE}\"); done\nexec "+curl+` "${args[@]}"`+"\n")

	exercised := docsRunCurl(t, w, base)
	docsCheckRoutes(t, exercised)

	wantA := []string{`{"type":"to","content":"hello 42"}`, "hello uids", "hello rooms", "batch: to room1", "batch: to 42"}
	wantB := []string{"hello B", "hello everyone but A", "hello B and C", "batch: to B", "bye B"}
	wantC := []string{"hello room1", "hello everyone but A", "hello B and C", "hello rooms", "batch: to room1"}
	w.a.waitFrames(t, "A", wantA...)
	w.b.waitFrames(t, "B", wantB...)
	w.c.waitFrames(t, "C", wantC...)
	w.b.waitClosed(t, "B")
	w.expectOnly(t, map[string][]string{"A": wantA, "C": wantC})
}

// expectOnly checks that clients A and C (by name) received exactly the
// frames in want, in order, and nothing else: it broadcasts a marker, waits
// for it, and expects it right after want. Each gateway reads its inbox and
// the broadcast channel on one subscription, in publish order, so a frame
// that should not have come, even a late one, comes before the marker.
func (w *docsWorld) expectOnly(t *testing.T, want map[string][]string) {
	t.Helper()
	store, err := session.Open(context.Background(), w.rs.URL(), pushDeadline, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	const marker = "marker: nothing after this"
	if err := store.SendToAll(context.Background(), []byte(marker)); err != nil {
		t.Fatal(err)
	}
	for name, frames := range want {
		c := map[string]*pushClient{"A": w.a, "C": w.c}[name]
		got := c.waitFrames(t, name, marker)
		if want := append(slices.Clone(frames), marker); !reflect.DeepEqual(got, want) {
			t.Errorf("%s got %q, want %q", name, got, want)
		}
	}
}

// docsRunCurl runs each curl command of the docs against base, checks it
// succeeded and matches the response documented after it, and returns the
// routes ("METHOD /path") the commands exercised.
func docsRunCurl(t *testing.T, w *docsWorld, base string) map[string]bool {
	t.Helper()
	exercised := map[string]bool{}
	for _, block := range docsBlocks(t, "curl") {
		cmds, expect := docsCommands(w.ids.Replace(block))
		for i, cmd := range cmds {
			out, err := w.bash(t, cmd, "PUSH_BASE="+base, "API_KEY=docs-key")
			if err != nil || strings.Contains(out, `"error"`) {
				t.Errorf("%s\n→ %v: %s", cmd, err, out)
				continue
			}
			if expect[i] != "" && !docsSameJSON(out, expect[i]) {
				t.Errorf("%s\n→ %s, docs say %s", cmd, out, expect[i])
			}
			method := "GET"
			if strings.Contains(cmd, "-X POST") {
				method = "POST"
			}
			if m := docsCurlRoute.FindStringSubmatch(cmd); m != nil {
				exercised[method+" "+m[1]] = true
			}
		}
	}
	return exercised
}

// docsCheckRoutes checks that the route table of docs/push-api.md lists
// exactly the routes pushapi serves, and that each has a curl example.
func docsCheckRoutes(t *testing.T, exercised map[string]bool) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(pushRepoRoot(t), "docs", "push-api.md"))
	if err != nil {
		t.Fatal(err)
	}
	tableRoutes := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `((?:GET|POST) /[a-z/-]*)` \\|").FindAllStringSubmatch(string(raw), -1) {
		tableRoutes[m[1]] = true
	}
	routes := pushapi.Routes()
	for _, r := range routes {
		if !tableRoutes[r] {
			t.Errorf("route %s is missing from the docs' route table", r)
		}
		if !exercised[r] {
			t.Errorf("route %s has no curl example", r)
		}
	}
	for r := range tableRoutes {
		if !slices.Contains(routes, r) {
			t.Errorf("docs' route table lists %s, which pushapi does not serve", r)
		}
	}
}

// docsSameJSON compares two JSON texts, ignoring key order and, in arrays,
// element order.
func docsSameJSON(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	return reflect.DeepEqual(docsNormalize(x), docsNormalize(y))
}

func docsNormalize(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = docsNormalize(e)
		}
	case []any:
		for i, e := range v {
			v[i] = docsNormalize(e)
		}
		slices.SortFunc(v, func(p, q any) int {
			bp, _ := json.Marshal(p)
			bq, _ := json.Marshal(q)
			return bytes.Compare(bp, bq)
		})
	}
	return v
}
