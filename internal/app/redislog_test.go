package app

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// go-redis's lines reach the logger of the command that runs, and a
// command's writer gets none once it has finished, not even from a line
// being written as it finishes (go-redis logs from goroutines that outlive
// the command; -race catches a write into the finished command's buffer).
func TestRouteRedisLogs(t *testing.T) {
	var outer, inner syncBuffer
	outerLog := slog.New(slog.NewTextHandler(&outer, nil))
	innerLog := slog.New(slog.NewTextHandler(&inner, nil))
	line := func(s string) { redisLogger{}.Printf(context.Background(), "redis: %s\n", s) }

	restoreOuter := routeRedisLogs(outerLog)
	line("one")
	restoreInner := routeRedisLogs(innerLog)
	line("two")
	restoreInner()
	line("three")

	// Writers that go on while the command finishes, as go-redis's do.
	var plain strings.Builder // not safe for concurrent use
	plainLog := slog.New(slog.NewTextHandler(&plain, nil))
	restorePlain := routeRedisLogs(plainLog)
	stop := make(chan struct{})
	var wg, writing sync.WaitGroup
	writing.Add(4)
	for range 4 {
		wg.Go(func() {
			line("busy")
			writing.Done()
			for {
				select {
				case <-stop:
					return
				default:
					line("busy")
				}
			}
		})
	}
	writing.Wait()
	restorePlain()
	got := plain.String() // the race detector flags any write after restore
	close(stop)
	wg.Wait()
	if after := plain.String(); after != got {
		t.Fatalf("lines written after the command finished:\n%s", strings.TrimPrefix(after, got))
	}
	restoreOuter()
	line("four")

	want := map[*syncBuffer][]string{&outer: {"msg=one", "msg=three"}, &inner: {"msg=two"}}
	for buf, msgs := range want {
		for _, m := range msgs {
			if !strings.Contains(buf.String(), "level=WARN "+m+" component=go-redis") {
				t.Errorf("%q missing from:\n%s", m, buf.String())
			}
		}
	}
	for _, m := range []string{"msg=two", "msg=four"} {
		if strings.Contains(outer.String(), m) {
			t.Errorf("%q reached the outer command:\n%s", m, outer.String())
		}
	}
	for _, m := range []string{"msg=one", "msg=three", "msg=four"} {
		if strings.Contains(inner.String(), m) {
			t.Errorf("%q reached the inner command:\n%s", m, inner.String())
		}
	}
}

// Overlapping commands that finish in the order they started: the first
// one's writer gets nothing once it finished, the second one's gets the
// lines while it runs.
func TestRouteRedisLogsOutOfOrder(t *testing.T) {
	var a, b syncBuffer
	line := func(s string) { redisLogger{}.Printf(context.Background(), "redis: %s\n", s) }
	restoreA := routeRedisLogs(slog.New(slog.NewTextHandler(&a, nil)))
	restoreB := routeRedisLogs(slog.New(slog.NewTextHandler(&b, nil)))
	restoreA()
	line("b-runs")
	restoreB()
	line("none-runs")
	if strings.Contains(a.String(), "msg=") {
		t.Errorf("a finished command got lines:\n%s", a.String())
	}
	if !strings.Contains(b.String(), "msg=b-runs") || strings.Contains(b.String(), "msg=none-runs") {
		t.Errorf("the running command's lines, want b-runs only:\n%s", b.String())
	}
}
