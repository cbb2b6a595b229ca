package session_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Leaked goroutines fail the package (Listen, reaper loops and the like must
// end with their ctx).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
