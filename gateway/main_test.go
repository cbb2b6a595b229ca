package gateway_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Leaked goroutines fail the package: every goroutine a gateway starts must
// end when Run returns. nbio's websocket package starts two pool goroutines
// for its package-level DefaultEngine when it is initialised (the gateway
// does not use that engine): they are the process's, not a gateway's.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/lesismal/nbio/taskpool.New.func3"))
}
