package tests

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chatgate/chatgate/internal/redistest"
	"github.com/chatgate/chatgate/internal/testwait"
	"github.com/chatgate/chatgate/session"
	"github.com/redis/go-redis/v9"
)

// TestFaultDrainDuringRedisStall stops a gateway (SIGTERM) while Redis
// refuses writes (CLIENT PAUSE WRITE), so that no reader can forget its
// client within the drain's deadline. Whatever the stall's length, nothing
// may be left behind, each client gets a close event, and the gateway never
// unregisters with clients left (that would make them orphans, found only
// by the slow orphan sweep, see TestFaultOrphanSweep):
//   - Redis back before the drain's last Redis step: the drain forgets the
//     clients itself, then unregisters;
//   - Redis back later: the gateway exits still registered with its
//     clients, and the crash reaper of a surviving process (the test's, with
//     the orphan sweep off) cleans up once its liveness key expired.
func TestFaultDrainDuringRedisStall(t *testing.T) {
	t.Parallel()
	const clients = 20
	tests := []struct {
		name     string
		pause    time.Duration
		drainLog string // what the gateway logs when it deals with the failed forgets
		reaped   bool   // the crash reaper cleans up, not the drain
	}{
		{"stall shorter than the drain", 2500 * time.Millisecond, `"msg":"forgot stale clients","gateway":"gwstall0","clients":20,"reason":"` + session.ReasonStale + `"`, false},
		{"stall longer than the drain", 10 * time.Second, "leaving this gateway's clients to the crash reaper", true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gwID := fmt.Sprint("gwstall", i)
			rs := redistest.Start(t)
			gw := faultStartGateway(t, rs.URL(), "--gateway-id", gwID, "--redis-timeout", "2s", "--drain-timeout", "1s", "--alive-ttl", "3s")
			st := faultOpenStore(t, rs.URL())
			ids := faultJoinClients(t, st, gw.addr, clients)
			if err := rs.Client(t).Do(t.Context(), "CLIENT", "PAUSE", fmt.Sprint(tt.pause.Milliseconds()), "WRITE").Err(); err != nil {
				t.Fatal(err)
			}
			paused := time.Now()
			_ = gw.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-gw.done:
			case <-time.After(30 * time.Second):
				t.Fatal("gateway did not exit 30s after SIGTERM")
			}
			exited := time.Since(paused)
			if !strings.Contains(gw.tail(), tt.drainLog) {
				t.Fatalf("the gateway did not log %q:\n%s", tt.drainLog, gw.tail())
			}
			if !tt.reaped {
				// No reaper runs: the drain itself left nothing.
				if n, err := st.ClientCountByGroup(t.Context(), "room"); err != nil || n != 0 {
					t.Fatalf("after the drain: %d clients in the room (%v), want 0", n, err)
				}
				faultRunReaper(t, st, nil, -1, ids) // checks every trace is gone
				t.Logf("gateway exited %v after SIGTERM (write pause %v); its drain forgot every client once Redis answered", exited.Round(time.Millisecond), tt.pause)
				faultCheckCloseEach(t, rs.Client(t), st, ids)
				return
			}
			if exited >= tt.pause {
				t.Fatalf("gateway exited %v after SIGTERM, after the %v write pause: the test needs it to exit during the pause", exited, tt.pause)
			}
			// Reads still work during the pause: the gateway is still
			// registered with all its clients, and they are in their room.
			if n, err := st.ClientCount(t.Context()); err != nil || n != clients {
				t.Fatalf("after the drain: ClientCount %d (%v), want %d: the gateway must stay registered with the clients it could not forget", n, err, clients)
			}
			log := &faultLog{}
			took := faultRunReaper(t, st, log, -1, ids)
			t.Logf("gateway exited %v after SIGTERM, during the %v write pause, still registered; the crash reaper (orphan sweep off) cleaned up %v later",
				exited.Round(time.Millisecond), tt.pause, took.Round(time.Millisecond))
			if !log.await("reaped crashed gateway", "gateway", gwID, "clients", clients) {
				t.Errorf("no reaper log line for %s with %d clients; got %v", gwID, clients, log.all())
			}
			faultCheckCloseEach(t, rs.Client(t), st, ids)
		})
	}
}

// TestFaultOrphanSweep: a crashed gateway whose registration is gone too
// (as a drain that unregistered without forgetting its clients left it, or
// keys lost on the Redis side) leaves orphans: clients in groups and uid
// sets of a gateway the crash reaper does not know. The orphan sweep of a
// surviving process must find and remove them, with a close event each.
func TestFaultOrphanSweep(t *testing.T) {
	t.Parallel()
	const (
		clients = 20
		gwID    = "gworphan"
	)
	rs := redistest.Start(t)
	gw := faultStartGateway(t, rs.URL(), "--gateway-id", gwID)
	st := faultOpenStore(t, rs.URL())
	ids := faultJoinClients(t, st, gw.addr, clients)
	gw.kill(t)
	if err := st.RemoveGateway(t.Context(), gwID); err != nil {
		t.Fatal(err)
	}
	if n, err := st.ClientCount(t.Context()); err != nil || n != 0 {
		t.Fatalf("ClientCount %d (%v), want 0: the gateway must be unregistered", n, err)
	}
	if n, err := st.ClientCountByGroup(t.Context(), "room"); err != nil || n != clients {
		t.Fatalf("%d clients in the room (%v), want %d orphans", n, err, clients)
	}

	log := &faultLog{}
	took := faultRunReaper(t, st, log, 300*time.Millisecond, ids)
	t.Logf("orphan sweep (every 300ms here, default 5m) cleaned up %d orphans in %v", clients, took.Round(time.Millisecond))
	// The gateway is not registered, so the crash reaper cannot find it:
	// the clients it reaped were found as strays, by the sweep.
	if !log.await("reaped crashed gateway", "gateway", gwID, "strays", clients) {
		t.Errorf("no orphan sweep log line for %s with %d strays; got %v", gwID, clients, log.all())
	}
	faultCheckCloseEach(t, rs.Client(t), st, ids)
}

// faultJoinClients connects n clients to the gateway at addr, each in group
// "room" and bound to its own uid, and returns their ids.
func faultJoinClients(t *testing.T, st *session.Store, addr string, n int) []string {
	t.Helper()
	var ids []string
	for i := range n {
		c := faultConnect(t, addr, nil)
		ids = append(ids, c.id)
		if err := st.JoinGroup(t.Context(), c.id, "room"); err != nil {
			t.Fatal(err)
		}
		if err := st.BindUid(t.Context(), c.id, fmt.Sprint("u", i)); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// faultRunReaper runs st's reaper (orphan sweep every sweep; negative: off)
// logging to log until none of ids is left anywhere, and returns how long
// that took. With a nil log it runs no reaper: it only waits.
func faultRunReaper(t *testing.T, st *session.Store, log *faultLog, sweep time.Duration, ids []string) time.Duration {
	t.Helper()
	if log != nil {
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() {
			done <- st.RunReaper(ctx, 100*time.Millisecond, &session.ReaperOptions{OrphanSweep: sweep, Logger: slog.New(log), Events: true})
		}()
		t.Cleanup(func() { cancel(); <-done })
	}
	return testwait.For(t, 30*time.Second, "no client of the gateway left", func() error {
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
}

// faultCheckCloseEach checks that the events stream has a close event for
// each of ids.
func faultCheckCloseEach(t *testing.T, rdb redis.UniversalClient, st *session.Store, ids []string) {
	t.Helper()
	msgs, err := rdb.XRange(t.Context(), st.EventsStream(), "-", "+").Result()
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

// faultLog is a slog.Handler that keeps every record, with its attributes.
type faultLog struct {
	mu    sync.Mutex
	recs  []map[string]string
	attrs []slog.Attr // of a handler made by WithAttrs
	root  *faultLog   // where records go; nil for the root itself
}

func (h *faultLog) Enabled(context.Context, slog.Level) bool { return true }

func (h *faultLog) Handle(_ context.Context, r slog.Record) error {
	rec := map[string]string{"msg": r.Message}
	for _, a := range h.attrs {
		rec[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		rec[a.Key] = a.Value.String()
		return true
	})
	root := h.rootLog()
	root.mu.Lock()
	defer root.mu.Unlock()
	root.recs = append(root.recs, rec)
	return nil
}

func (h *faultLog) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &faultLog{attrs: append(append([]slog.Attr(nil), h.attrs...), attrs...), root: h.rootLog()}
}

func (h *faultLog) WithGroup(string) slog.Handler { return h }

func (h *faultLog) rootLog() *faultLog {
	if h.root != nil {
		return h.root
	}
	return h
}

// await reports whether has becomes true within 5 s: the reaper logs a reap
// after its last Redis write, so the log line may trail the state a test
// polled for.
func (h *faultLog) await(msg string, kv ...any) bool {
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if h.has(msg, kv...) {
			return true
		}
		if time.Now().After(end) {
			return false
		}
	}
}

// has reports whether a record with message msg and the given key, value
// pairs was logged.
func (h *faultLog) has(msg string, kv ...any) bool {
	for _, rec := range h.all() {
		ok := rec["msg"] == msg
		for i := 0; ok && i+1 < len(kv); i += 2 {
			ok = rec[fmt.Sprint(kv[i])] == fmt.Sprint(kv[i+1])
		}
		if ok {
			return true
		}
	}
	return false
}

func (h *faultLog) all() []map[string]string {
	root := h.rootLog()
	root.mu.Lock()
	defer root.mu.Unlock()
	return append([]map[string]string(nil), root.recs...)
}
