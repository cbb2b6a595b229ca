package metrics_test

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/chatgate/chatgate/internal/app"
	"github.com/chatgate/chatgate/internal/config"
	"github.com/chatgate/chatgate/internal/redistest"
)

// TestReadyzFollowsRedis runs the real gateway role in-process and checks
// that /readyz (on the internal listener) goes red while redis-server is
// down (even with no traffic: the idle subscription is probed) and green
// again once it is back.
func TestReadyzFollowsRedis(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	cfg, err := config.Load("chatgate gateway", []string{
		"--ws-addr", "127.0.0.1:0", "--internal-addr", "127.0.0.1:0", "--redis-url", r.URL(), "--redis-prefix", "ready:",
		"--redis-timeout", "2s", "--alive-ttl", "3s", "--drain-timeout", "2s", "--allow-unsigned",
	}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- app.Run(ctx, app.RoleGateway, cfg, app.NewLogger(cfg, io.Discard), func(s app.Started) { addrs <- s.InternalAddr })
	}()
	stopped := false
	t.Cleanup(func() {
		cancel()
		if stopped {
			return
		}
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("app.Run: %v", err)
			}
		case <-time.After(deadline):
			t.Error("gateway role did not stop")
		}
	})
	var addr string
	select {
	case addr = <-addrs:
	case err := <-done:
		stopped = true
		t.Fatalf("app.Run ended before serving: %v", err)
	case <-time.After(deadline):
		t.Fatal("gateway role did not start")
	}
	readyz := func() (bool, string) {
		c := http.Client{Timeout: 5 * time.Second}
		resp, err := c.Get("http://" + addr + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, strconv.Itoa(resp.StatusCode) + " " + string(body)
	}
	status := func(want bool) func() (bool, string) {
		return func() (bool, string) { ok, msg := readyz(); return ok == want, msg }
	}
	eventually(t, "ready at start", status(true))

	start := time.Now()
	r.Stop(t)
	eventually(t, "not ready while redis-server is down", status(false))
	t.Logf("/readyz red %v after redis-server stopped", time.Since(start).Round(time.Millisecond))

	start = time.Now()
	r.Restart(t)
	eventually(t, "ready again once redis-server is back", status(true))
	t.Logf("/readyz green %v after redis-server restarted", time.Since(start).Round(time.Millisecond))
}
