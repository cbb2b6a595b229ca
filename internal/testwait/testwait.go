// Package testwait waits, in tests, for the state a test needs: it polls a
// check until the check passes or a deadline passes, instead of sleeping a
// guessed time (STYLE.md 13: wait by polling to a deadline, never by
// sleeping).
//
// It is test-only code that the root module's tests and the nested tests/
// module (which builds this checkout through its replace directive) share.
// For is safe to call from parallel tests.
package testwait

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// Interval is how long For sleeps between two calls of its check.
const Interval = 20 * time.Millisecond

// For calls check until it returns nil and returns how long that took. If
// check still fails once d has passed, For fails t with what (the state waited
// for) and check's last error. check is called at least once, and the call that
// fails t is made after the deadline, so a check that passes just in time
// still counts. Call For from the test's goroutine (it may call t.Fatalf).
func For(t testing.TB, d time.Duration, what string, check func() error) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		err := check()
		if err == nil {
			return time.Since(start)
		}
		if time.Since(start) > d {
			t.Fatalf("timed out after %v waiting for %s: %v", d, what, err)
		}
		time.Sleep(Interval)
	}
}

// StatusOK waits, as For does, until a GET of url answers 200 OK (a
// process's /readyz, say) and returns how long that took.
func StatusOK(t testing.TB, d time.Duration, url string) time.Duration {
	t.Helper()
	return For(t, d, "200 OK from "+url, func() error {
		resp, err := http.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %s", resp.Status)
		}
		return nil
	})
}
