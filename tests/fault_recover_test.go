package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/chatgate/chatgate/internal/redistest"
	"github.com/chatgate/chatgate/internal/testwait"
	"github.com/chatgate/chatgate/session"
)

// recvLog records, per client, the n of every frame of the test's room.
type recvLog struct {
	mu  sync.Mutex
	got map[string][]int
}

func (l *recvLog) onMsg(c *faultClient, data []byte) {
	var m struct {
		Type string `json:"type"`
		N    int    `json:"n"`
	}
	if json.Unmarshal(data, &m) != nil || m.Type != "say" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got[c.id] = append(l.got[c.id], m.N)
}

// count returns how many clients got n, and whether any got it twice.
func (l *recvLog) count(n int) (int, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	clients, dup := 0, false
	for _, ns := range l.got {
		k := 0
		for _, x := range ns {
			if x == n {
				k++
			}
		}
		if k > 0 {
			clients++
		}
		dup = dup || k > 1
	}
	return clients, dup
}

// TestFaultRedisRestartAOF restarts a redis-server that persists with AOF (the
// shipped StatefulSet's setting) while 20 members of a recoverable room are
// connected over 2 gateways. Messages sent as soon as Redis answers again,
// and 1 s after, reach 20 of 20 members exactly once (the gateways read the
// room's log when their inbox subscription is back), and the gateways are
// back on their inbox, accepting connections, within about a second.
func TestFaultRedisRestartAOF(t *testing.T) {
	const members = 20
	rs := redistest.StartWith(t, "--appendonly", "yes", "--appendfsync", "always")
	gws := []*faultProc{faultStartGateway(t, rs.URL()), faultStartGateway(t, rs.URL())}
	st := faultOpenStore(t, rs.URL())
	l := &recvLog{got: map[string][]int{}}
	ctx := t.Context()
	for i := range members {
		c := faultConnect(t, gws[i%2].addr, l.onMsg)
		if err := st.JoinGroup(ctx, c.id, "room"); err != nil {
			t.Fatal(err)
		}
	}
	say := func(n int) error {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		return st.SendToGroup(sctx, "room", fmt.Appendf(nil, `{"type":"say","n":%d}`, n), session.Recoverable())
	}
	reached := func(n int) {
		t.Helper()
		testwait.For(t, 10*time.Second, fmt.Sprintf("message %d reaches every member", n), func() error {
			if got, _ := l.count(n); got < members {
				return fmt.Errorf("%d of %d", got, members)
			}
			return nil
		})
	}
	if err := say(1); err != nil {
		t.Fatal(err)
	}
	reached(1)

	rs.Stop(t)
	testwait.For(t, 20*time.Second, "gateways notice Redis is down", func() error {
		for _, g := range gws {
			if code := faultReadyz(g); code == http.StatusOK {
				return fmt.Errorf("gateway %s still ready", g.addr)
			}
		}
		return nil
	})
	time.Sleep(4500 * time.Millisecond) // down long enough for a resubscribe backoff to grow
	rs.Restart(t)
	up := time.Now()
	// Sent as soon as Redis answers: the gateways are not subscribed yet.
	if err := say(2); err != nil {
		t.Fatal(err)
	}
	backAt := make([]time.Duration, len(gws))
	for i, g := range gws {
		testwait.For(t, 10*time.Second, "gateway ready again", func() error {
			if code := faultReadyz(g); code != http.StatusOK {
				return fmt.Errorf("status %d", code)
			}
			return nil
		})
		backAt[i] = time.Since(up)
	}
	var dialAt time.Duration
	testwait.For(t, 10*time.Second, "a new connection is accepted", func() error {
		ws, _, _, err := faultDial(ctx, gws[0].addr, faultDialOptions{})
		if err != nil {
			return err
		}
		ws.CloseNow()
		dialAt = time.Since(up)
		return nil
	})
	time.Sleep(time.Until(up.Add(time.Second)))
	if err := say(3); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{2, 3} {
		reached(n)
	}
	time.Sleep(300 * time.Millisecond) // a duplicate would come now
	for n := 1; n <= 3; n++ {
		got, dup := l.count(n)
		t.Logf("message %d reached %d/%d members (duplicates: %v)", n, got, members, dup)
		if got != members || dup {
			t.Errorf("message %d: %d/%d members, duplicates %v", n, got, members, dup)
		}
	}
	t.Logf("after Redis answered again: gateways ready (back on their inbox) after %v and %v; first new connection accepted after %v",
		backAt[0].Round(time.Millisecond), backAt[1].Round(time.Millisecond), dialAt.Round(time.Millisecond))
	if slowest := max(backAt[0], backAt[1]); slowest > 1200*time.Millisecond {
		t.Errorf("gateways took %v to be back on their inbox", slowest)
	}
}

func faultReadyz(p *faultProc) int {
	resp, err := http.Get("http://" + p.internal + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}
