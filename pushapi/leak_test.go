package pushapi

import (
	"testing"

	"go.uber.org/goleak"
)

// Leaked goroutines fail the package (the Fiber app's listener and the
// test inboxes must end with their tests).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// fasthttp v1.51's worker pool cleaner sleeps out its interval
		// (10 s) after Shutdown before it sees the stop flag and returns.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
		// fasthttp's process-wide Date header ticker, started once, never stopped.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"))
}
