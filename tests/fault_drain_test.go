package tests

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/chatgate/chatgate/internal/redistest"
	"github.com/chatgate/chatgate/session"
)

// TestFaultDrainDuringRedisStall stops a gateway (SIGTERM) while Redis
// refuses writes for a moment (CLIENT PAUSE WRITE), so the drain cannot
// forget its clients but may still unregister the gateway. The orphan sweep
// of a surviving process (here the test's; it runs in every process) must
// remove what is left, with a close event per client.
func TestFaultDrainDuringRedisStall(t *testing.T) {
	t.Parallel()
	const clients = 20
	rs := redistest.Start(t)
	gw := faultStartGateway(t, rs.URL(), "--redis-timeout", "1s", "--drain-timeout", "2s")
	st := faultOpenStore(t, rs.URL())
	var ids []string
	for i := range clients {
		c := faultConnect(t, gw.addr, nil)
		ids = append(ids, c.id)
		if err := st.JoinGroup(t.Context(), c.id, "room"); err != nil {
			t.Fatal(err)
		}
		if err := st.BindUid(t.Context(), c.id, fmt.Sprint("u", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := rs.Client(t).Do(t.Context(), "CLIENT", "PAUSE", "2500", "WRITE").Err(); err != nil {
		t.Fatal(err)
	}
	_ = gw.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-gw.done:
	case <-time.After(30 * time.Second):
		t.Fatal("gateway did not exit 30s after SIGTERM")
	}
	stopped := time.Now()
	n, _ := st.ClientCountByGroup(t.Context(), "room")
	t.Logf("after the drain during a 2.5s write pause, %d of %d clients were left in their room", n, clients)

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- st.RunReaper(ctx, 100*time.Millisecond, &session.ReaperOptions{OrphanSweep: 300 * time.Millisecond})
	}()
	t.Cleanup(func() { cancel(); <-done })
	took := faultWaitFor(t, 30*time.Second, "no client of the drained gateway left", func() error {
		for _, id := range ids {
			if on, err := st.IsOnline(t.Context(), id); err != nil || on {
				return fmt.Errorf("client %s still online (%v)", id, err)
			}
		}
		if n, err := st.ClientCountByGroup(t.Context(), "room"); err != nil || n != 0 {
			return fmt.Errorf("room has %d members (%v)", n, err)
		}
		if n, err := st.UidCount(t.Context()); err != nil || n != 0 {
			return fmt.Errorf("UidCount %d (%v)", n, err)
		}
		return nil
	})
	t.Logf("orphan sweep (every 300ms here, default 5m) cleaned up %v after the gateway exited (%v after the sweeper started)",
		time.Since(stopped).Round(time.Millisecond), took.Round(time.Millisecond))
	msgs, err := st.Redis().XRange(t.Context(), st.EventsStream(), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	closes := map[string]int{}
	for _, m := range msgs {
		if m.Values["type"] == session.EventClose {
			closes[fmt.Sprint(m.Values["client_id"])]++
		}
	}
	for _, id := range ids {
		if closes[id] < 1 {
			t.Errorf("client %s: no close event", id)
		}
	}
}
