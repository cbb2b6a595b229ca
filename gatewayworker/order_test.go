package gatewayworker

import (
	"testing"
	"time"
)

// A connection idle for longer than the stall time whose next bytes have
// just arrived (a worker link, a persistent GatewayClient socket) is waited
// for; one that stays idle on a partial packet is given up after stall.
func TestProgressWaitForIdleConnection(t *testing.T) {
	t.Parallel()
	p := newProgress()
	p.setIdle(true)
	time.Sleep(60 * time.Millisecond) // idle for longer than stall
	go func() {
		time.Sleep(10 * time.Millisecond) // the reader wakes up and executes
		p.setIdle(false)
		p.advance(10)
	}()
	if !p.waitFor(10, 50*time.Millisecond, time.Now().Add(5*time.Second)) {
		t.Fatal("gave up on a connection that was executing its new bytes")
	}
	p.setIdle(true)
	start := time.Now()
	if p.waitFor(20, 50*time.Millisecond, time.Now().Add(5*time.Second)) {
		t.Fatal("waitFor reported bytes that never came as executed")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("gave up on a stalled connection after %v, want about the stall time", d)
	}
}
