package testwait

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fatalTB records a Fatalf and stops its goroutine, as testing.T does.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// fatalOf runs f on a fatalTB in its own goroutine (Fatalf ends it) and
// returns the failure message, "" if f returned.
func fatalOf(t *testing.T, f func(testing.TB)) string {
	tb := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(tb)
	}()
	<-done
	return tb.msg
}

func TestFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		passAt    int // the call that returns nil; 0: none
		d         time.Duration
		wantCalls int // exact when passAt > 0, at least otherwise
		wantMsg   string
	}{
		{name: "passes at once", passAt: 1, d: time.Second, wantCalls: 1},
		{name: "passes on the third call", passAt: 3, d: 10 * time.Second, wantCalls: 3},
		{name: "never passes", d: 5 * Interval, wantCalls: 2,
			wantMsg: "timed out after 100ms waiting for the thing: not yet (call"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			calls := 0
			start := time.Now()
			msg := fatalOf(t, func(tb testing.TB) {
				For(tb, tt.d, "the thing", func() error {
					calls++
					if calls == tt.passAt {
						return nil
					}
					return fmt.Errorf("not yet (call %d)", calls)
				})
			})
			took := time.Since(start)
			if tt.passAt > 0 {
				if msg != "" || calls != tt.wantCalls {
					t.Fatalf("failed with %q after %d calls, want success after %d", msg, calls, tt.wantCalls)
				}
				return
			}
			if !strings.HasPrefix(msg, tt.wantMsg) || calls < tt.wantCalls {
				t.Fatalf("message %q after %d calls, want %q... after at least %d", msg, calls, tt.wantMsg, tt.wantCalls)
			}
			if !strings.HasSuffix(msg, fmt.Sprintf("(call %d)", calls)) {
				t.Fatalf("message %q does not carry the last error (call %d)", msg, calls)
			}
			if took < tt.d {
				t.Fatalf("gave up after %v, before the deadline %v", took, tt.d)
			}
		})
	}
}

// For returns how long the wait took.
func TestForReturnsTheWait(t *testing.T) {
	t.Parallel()
	ready := time.Now().Add(3 * Interval)
	took := For(t, 10*time.Second, "the clock", func() error {
		if time.Now().Before(ready) {
			return errors.New("too early")
		}
		return nil
	})
	if took < 3*Interval {
		t.Fatalf("For returned %v, want at least %v", took, 3*Interval)
	}
}

// StatusOK waits through 503s for the first 200, and fails on a server that
// never gets ready, naming its last status.
func TestStatusOK(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/never" || hits.Add(1) < 3 {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(srv.Close)
	StatusOK(t, 10*time.Second, srv.URL+"/readyz")
	if n := hits.Load(); n != 3 {
		t.Fatalf("%d requests, want 3 (two 503s, then 200)", n)
	}
	msg := fatalOf(t, func(tb testing.TB) { StatusOK(tb, 3*Interval, srv.URL+"/never") })
	if want := "waiting for 200 OK from " + srv.URL + "/never: status 503 Service Unavailable"; !strings.Contains(msg, want) {
		t.Fatalf("message %q, want it to contain %q", msg, want)
	}
}

// A check that passes only once the deadline has passed still counts: the
// call that would fail the test is made after the deadline.
func TestForLastCallAfterDeadline(t *testing.T) {
	t.Parallel()
	const d = 3 * Interval
	start := time.Now()
	msg := fatalOf(t, func(tb testing.TB) {
		For(tb, d, "the late thing", func() error {
			if time.Since(start) <= d {
				return errors.New("not yet")
			}
			return nil
		})
	})
	if msg != "" {
		t.Fatalf("For failed with %q: a check passing after the deadline must count", msg)
	}
}
