package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/chatgate/chatgate/internal/redistest"
)

// pushRepoRoot is the repository root (this file is in tests/).
func pushRepoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test file")
	}
	return filepath.Dir(filepath.Dir(file))
}

// phpBinary returns the php CLI with the redis extension, or fails the test
// with a pointer at the setup script.
func phpBinary(t *testing.T) string {
	t.Helper()
	php, err := exec.LookPath("php")
	if err != nil {
		t.Fatal("php not found: scripts/test.sh installs php-cli and php-redis (apt-get install php-cli php-redis)")
	}
	out, err := exec.Command(php, "-r", `echo extension_loaded("redis") ? "yes" : "no";`).Output()
	if err != nil || string(out) != "yes" {
		t.Fatalf("php has no redis extension (%q, %v): scripts/test.sh installs php-redis", out, err)
	}
	return php
}

// runPHP runs a PHP script from the repository with a deadline and returns its stdout.
func runPHP(t *testing.T, script string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), pushDeadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, phpBinary(t), append([]string{filepath.Join(pushRepoRoot(t), script)}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("php %s: %v\nstdout: %s\nstderr: %s", script, err, stdout.Bytes(), stderr.Bytes())
	}
	return stdout.Bytes()
}

// TestPHPClient runs examples/php/demo.php (Chatgate\Gateway over phpredis)
// against a real redis-server and two in-process gateways with three real
// WebSocket clients, then checks what PHP printed and what each client got.
func TestPHPClient(t *testing.T) {
	t.Parallel()
	phpBinary(t)
	rs := redistest.Start(t)
	gw1 := pushStartGateway(t, rs.URL(), "gw1")
	gw2 := pushStartGateway(t, rs.URL(), "gw2")
	a, b := pushConnect(t, gw1), pushConnect(t, gw1)
	c := pushConnect(t, gw2)
	host, port := pushHostPort(rs.Addr())

	start := time.Now()
	out := runPHP(t, "examples/php/demo.php", host, port, "chat:", a.ID, b.ID, c.ID)
	t.Logf("demo.php ran in %v", time.Since(start))

	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("demo.php printed %q: %v", out, err)
	}
	want := phpDemoWant(a.ID, b.ID, c.ID)
	for k, w := range want {
		if !reflect.DeepEqual(got[k], w) {
			t.Errorf("demo.php %s = %#v, want %#v", k, got[k], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("demo.php printed %d keys, test knows %d: %s", len(got), len(want), out)
	}

	toU1 := `{"type":"to","content":"to-u1"}`
	wantA := []string{toU1, "to-all-but-B", "to-A-and-C", "to-u1-u2", "room-after-C-left", "u1-after-B-unbound"}
	wantB := []string{toU1, "bye-B"}
	wantC := []string{"to-room-but-A", "to-all-but-B", "to-C", "to-A-and-C", "to-u1-u2"}
	// Order per client is the order PHP sent in: one gateway applies its
	// inbox in order, and the broadcast channel is read by the same subscriber.
	for _, tc := range []struct {
		name string
		cl   *pushClient
		want []string
	}{{"A", a, wantA}, {"C", c, wantC}, {"B", b, wantB}} {
		tc.cl.waitFrames(t, tc.name, tc.want...)
	}
	if code := b.waitClosed(t, "B"); code != websocket.StatusNormalClosure {
		t.Errorf("B closed with %v, want 1000", code)
	}
	// Nothing beyond what was expected: give stragglers a moment by sending a
	// marker to A and C and checking it arrives last.
	runPHPInline(t, host, port, `Chatgate\Gateway::sendToAll("marker");`)
	for _, tc := range []struct {
		name string
		cl   *pushClient
		want []string
	}{{"A", a, wantA}, {"C", c, wantC}} {
		got := tc.cl.waitFrames(t, tc.name, "marker")
		if !reflect.DeepEqual(got, append(tc.want, "marker")) {
			t.Errorf("client %s got %q, want %q", tc.name, got, append(tc.want, "marker"))
		}
	}
	if got := b.Frames(); !reflect.DeepEqual(got, wantB) {
		t.Errorf("client B got %q, want %q", got, wantB)
	}
}

// phpDemoWant is what examples/php/demo.php must print for clients a, b
// (gateway gw1) and c (gw2).
func phpDemoWant(a, b, c string) map[string]any {
	return map[string]any{
		"bind":                     []any{true, true, true},
		"join":                     []any{true, true},
		"join_unknown":             false,
		"set_session":              true,
		"update_session":           true,
		"session_a":                map[string]any{"uname": "ann", "bubble": "red", "room_id": "1"},
		"session_unknown":          nil,
		"sessions_room":            map[string]any{a: map[string]any{"uname": "ann", "bubble": "red", "room_id": "1"}, c: map[string]any{}},
		"count_room":               2.0,
		"clients_room":             pushSorted(a, c),
		"uids_room":                []any{"u1", "u2"},
		"uid_count_room":           2.0,
		"all_uids":                 []any{"u1", "u2"},
		"all_uid_count":            2.0,
		"all_groups":               []any{"room"},
		"all_client_count":         3.0,
		"all_clients":              pushSorted(a, b, c),
		"all_sessions_a":           map[string]any{"uname": "ann", "bubble": "red", "room_id": "1"},
		"is_online_a":              1.0,
		"is_online_unknown":        0.0,
		"is_uid_online":            []any{1.0, 0.0},
		"batch_online":             map[string]any{"u1": true, "u2": true, "nobody": false},
		"clients_u1":               pushSorted(a, b),
		"batch_clients":            map[string]any{"u2": []any{c}, "nobody": []any{}},
		"uid_of_c":                 "u2",
		"uid_of_b":                 nil,
		"groups_after_ungroup":     []any{},
		"count_room_after_ungroup": 0.0,
	}
}

// runPHPInline runs a snippet of PHP with Chatgate\Gateway configured for host:port.
func runPHPInline(t *testing.T, host, port, code string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), pushDeadline)
	defer cancel()
	src := `require '` + filepath.Join(pushRepoRoot(t), "examples/php/Gateway.php") + `';
Chatgate\Gateway::$redisHost = '` + host + `'; Chatgate\Gateway::$redisPort = ` + port + `; ` + code
	if out, err := exec.CommandContext(ctx, phpBinary(t), "-r", src).CombinedOutput(); err != nil {
		t.Fatalf("php -r: %v: %s", err, out)
	}
}

func pushSorted(ids ...string) []any {
	s := append([]string(nil), ids...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}
