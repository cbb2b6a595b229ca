package gateway

import (
	"testing"
	"time"

	"github.com/chatgate/chatgate/session"
)

// TestPingSlots checks that the sweeper's slots cover an interval and that
// connections spread evenly over them: no slot holds more than twice its
// share, so no sweep pings every connection at once.
func TestPingSlots(t *testing.T) {
	for d, want := range map[time.Duration]int{25 * time.Second: 25, 1500 * time.Millisecond: 1, time.Second: 1, 100 * time.Millisecond: 1} {
		if got := pingSlots(d); got != want {
			t.Errorf("pingSlots(%v) = %d, want %d", d, got, want)
		}
	}
	const slots, conns = 25, 10000
	counts := make([]int, slots)
	for range conns {
		id := session.NewClientID("gw1")
		s := pingSlot(id, slots)
		if s < 0 || s >= slots {
			t.Fatalf("pingSlot(%q) = %d, outside 0..%d", id, s, slots-1)
		}
		if again := pingSlot(id, slots); again != s {
			t.Fatalf("pingSlot(%q) not stable: %d then %d", id, s, again)
		}
		counts[s]++
	}
	for s, n := range counts {
		if n < conns/slots/2 || n > 2*conns/slots {
			t.Errorf("slot %d holds %d of %d connections (share %d): %v", s, n, conns, conns/slots, counts)
		}
	}
}
