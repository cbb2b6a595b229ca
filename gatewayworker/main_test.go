package gatewayworker_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Leaked goroutines fail the package: Serve must end every connection's
// goroutine and its own loops when ctx ends.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
