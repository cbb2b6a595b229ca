package gateway_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Leaked goroutines fail the package: every goroutine a gateway starts must
// end when Run returns.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
