package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatgate/chatgate/internal/redistest"
	"github.com/chatgate/chatgate/internal/testwait"
	"github.com/chatgate/chatgate/session"
)

// faultTraffic publishes numbered messages to the rooms round-robin and
// counts who received what.
type faultTraffic struct {
	st    *session.Store
	rooms int
	size  map[string]int64 // members per room (the test's model; nobody leaves)

	mu   sync.Mutex
	sent []faultSent

	recv []atomic.Int64 // per seq, receptions
}

type faultSent struct {
	at   time.Time
	room string
	ok   bool // PUBLISH answered (false while Redis is down)
}

const faultMaxSeq = 20000

func newFaultTraffic(st *session.Store, ms []*faultMember, rooms int) *faultTraffic {
	tr := &faultTraffic{st: st, rooms: rooms, size: map[string]int64{}, recv: make([]atomic.Int64, faultMaxSeq)}
	for _, m := range ms {
		tr.size[m.room]++
	}
	return tr
}

// onMsg is the members' message handler.
func (tr *faultTraffic) onMsg(_ *faultClient, data []byte) {
	var m struct {
		Type string `json:"type"`
		Seq  int    `json:"seq"`
	}
	if json.Unmarshal(data, &m) == nil && m.Type == "seq" && m.Seq >= 0 && m.Seq < faultMaxSeq {
		tr.recv[m.Seq].Add(1)
	}
}

// run publishes one message every tick until ctx ends.
func (tr *faultTraffic) run(ctx context.Context, tick time.Duration) {
	t := time.NewTicker(tick)
	defer t.Stop()
	for seq := 0; seq < faultMaxSeq; seq++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		room := fmt.Sprintf("room%d", seq%tr.rooms)
		pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		at := time.Now()
		err := tr.st.SendToGroup(pctx, room, fmt.Appendf(nil, `{"type":"seq","seq":%d}`, seq))
		cancel()
		tr.mu.Lock()
		tr.sent = append(tr.sent, faultSent{at: at, room: room, ok: err == nil})
		tr.mu.Unlock()
	}
}

// firstDeliveredAfter returns the send time of the first message sent at or
// after t that every member of its room received.
func (tr *faultTraffic) firstDeliveredAfter(t time.Time) (time.Time, bool) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for seq, s := range tr.sent {
		if !s.at.Before(t) && s.ok && tr.recv[seq].Load() == tr.size[s.room] {
			return s.at, true
		}
	}
	return time.Time{}, false
}

// tally counts, for messages sent in [from, to): published, failed to
// publish, deliveries expected and deliveries received.
func (tr *faultTraffic) tally(from, to time.Time) (published, failed int, want, got int64) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for seq, s := range tr.sent {
		if s.at.Before(from) || !s.at.Before(to) {
			continue
		}
		if !s.ok {
			failed++
			continue
		}
		published++
		want += tr.size[s.room]
		got += tr.recv[seq].Load()
	}
	return
}

func (tr *faultTraffic) last() time.Time {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if len(tr.sent) == 0 {
		return time.Time{}
	}
	return tr.sent[len(tr.sent)-1].at
}

// TestFaultRedisDataLoss restarts redis-server without persistence (SHUTDOWN
// NOSAVE: every key is lost), and later runs FLUSHALL, while messages flow to
// rooms. The gateways keep their WebSocket connections and re-assert every
// connection's session, uid and groups: counts and lists become exact again
// and messages flow. Messages published while a gateway's subscription or
// the routing data is gone are lost (pub/sub is at-most-once); none is lost
// before the fault or after recovery.
func TestFaultRedisDataLoss(t *testing.T) {
	const (
		clients = 100
		rooms   = 5 // coprime with the gateway count: every room spans both gateways
		tick    = 10 * time.Millisecond
		bound   = 20 * time.Second // recovery must happen within this
	)
	rs := redistest.Start(t)
	gws := []*faultProc{faultStartGateway(t, rs.URL()), faultStartGateway(t, rs.URL())}
	st := faultOpenStore(t, rs.URL())

	var tr *faultTraffic
	var handler atomic.Pointer[func(*faultClient, []byte)]
	ms := faultPopulateWith(t, st, gws, clients, rooms, func(c *faultClient, data []byte) {
		if h := handler.Load(); h != nil {
			(*h)(c, data)
		}
	})
	tr = newFaultTraffic(st, ms, rooms)
	h := tr.onMsg
	handler.Store(&h)
	if err := faultCheckState(t.Context(), st, ms, rooms); err != nil {
		t.Fatal(err)
	}

	ctx, stop := context.WithCancel(t.Context())
	trafficDone := make(chan struct{})
	go func() { defer close(trafficDone); tr.run(ctx, tick) }()
	t.Cleanup(func() { stop(); <-trafficDone })
	start := time.Now()
	testwait.For(t, 10*time.Second, "traffic flowing", func() error {
		if _, ok := tr.firstDeliveredAfter(start); !ok {
			return fmt.Errorf("no message delivered yet")
		}
		return nil
	})

	faults := []struct {
		name   string
		inject func(t *testing.T) time.Time // returns when Redis serves again (empty)
	}{
		{"redis restart (SHUTDOWN NOSAVE, restart empty)", func(t *testing.T) time.Time {
			down := time.Now()
			rs.Stop(t)
			// Stay down under traffic for a second, with publishes failing.
			testwait.For(t, 20*time.Second, "publishes fail while Redis is down", func() error {
				if _, failed, _, _ := tr.tally(down, time.Now().Add(time.Hour)); failed < 5 || time.Since(down) < time.Second {
					return fmt.Errorf("%d publishes failed so far", failed)
				}
				return nil
			})
			// The gateways notice (their /readyz goes 503).
			testwait.For(t, 20*time.Second, "gateways notice Redis is down", func() error {
				for _, g := range gws {
					resp, err := http.Get("http://" + g.internal + "/readyz")
					if err != nil {
						return err
					}
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						return fmt.Errorf("gateway %s still ready", g.addr)
					}
				}
				return nil
			})
			rs.Restart(t)
			return time.Now()
		}},
		{"FLUSHALL", func(t *testing.T) time.Time {
			if err := rs.Client(t).FlushAll(t.Context()).Err(); err != nil {
				t.Fatal(err)
			}
			return time.Now()
		}},
	}
	for _, f := range faults {
		before := time.Now()
		faultSettle(t, tr, before)
		faultDown := time.Now()
		up := f.inject(t)
		counts := testwait.For(t, bound, f.name+": counts exact again", func() error {
			return faultCheckState(t.Context(), st, ms, rooms)
		})
		countsAt := time.Now()
		var flowAt time.Time
		testwait.For(t, bound, f.name+": messages flow again", func() error {
			var ok bool
			flowAt, ok = tr.firstDeliveredAfter(countsAt)
			if !ok {
				return fmt.Errorf("no message sent after recovery fully delivered yet")
			}
			return nil
		})
		faultSettle(t, tr, flowAt)
		pub, failed, want, got := tr.tally(before, flowAt)
		t.Logf("%s: Redis back after %v; counts and lists exact %v after that; messages flow again (first fully delivered message sent %v after Redis was back)",
			f.name, up.Sub(faultDown).Round(time.Millisecond), counts.Round(time.Millisecond), flowAt.Sub(up).Round(time.Millisecond))
		t.Logf("%s: during the fault window: %d messages published, %d failed to publish (Redis down), deliveries %d of %d (%d lost)",
			f.name, pub, failed, got, want, want-got)
		// Nothing lost before the fault, nor after recovery.
		if pub, _, want, got := tr.tally(start, before); got != want {
			t.Errorf("%s: before the fault %d of %d deliveries arrived (%d messages)", f.name, got, want, pub)
		}
		after := time.Now()
		faultSettle(t, tr, after)
		if pub, _, want, got := tr.tally(flowAt, after); got != want {
			t.Errorf("%s: after recovery %d of %d deliveries arrived (%d messages)", f.name, got, want, pub)
		} else {
			t.Logf("%s: after recovery %d messages, all %d deliveries arrived", f.name, pub, want)
		}
		start = after
	}
	for _, m := range ms {
		select {
		case <-m.c.done:
			t.Errorf("client %s lost its connection: %v", m.c.id, m.c.err)
		default:
		}
	}
}

// faultSettle waits until messages published a little after t went out and
// everything published before has arrived or can no longer arrive.
func faultSettle(t *testing.T, tr *faultTraffic, at time.Time) {
	t.Helper()
	testwait.For(t, 20*time.Second, "traffic settles", func() error {
		if tr.last().Before(at.Add(300 * time.Millisecond)) {
			return fmt.Errorf("waiting for traffic after %v", at)
		}
		if _, ok := tr.firstDeliveredAfter(at.Add(200 * time.Millisecond)); !ok {
			return fmt.Errorf("no later message delivered yet")
		}
		return nil
	})
}
