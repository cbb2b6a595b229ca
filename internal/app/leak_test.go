package app

import (
	"testing"

	"go.uber.org/goleak"
)

// Leaked goroutines fail the package: Run must end every goroutine it
// started (gateway, HTTP app, internal listener, reaper, embedded Redis)
// before it returns.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// fasthttp v1.51's worker pool cleaner sleeps out its interval
		// (10 s) after Shutdown before it sees the stop flag and returns.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
		// fasthttp's process-wide Date header ticker, started once, never stopped.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		// nbio's websocket package starts two pool goroutines for its
		// package-level DefaultEngine when it is initialised (unused).
		goleak.IgnoreTopFunction("github.com/lesismal/nbio/taskpool.New.func3"))
}
