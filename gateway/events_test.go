package gateway_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/chatgate/chatgate/gateway"
	"github.com/chatgate/chatgate/session"
)

// gatedStore holds every AppendEvents call until open is closed, so that
// events pile up in the gateway's queue.
type gatedStore struct {
	*session.Store
	open    chan struct{}
	mu      sync.Mutex
	batches []int // size of each AppendEvents call
}

func (s *gatedStore) AppendEvents(ctx context.Context, es []*session.Event, maxLen int64) error {
	select {
	case <-s.open:
	case <-ctx.Done():
		return ctx.Err()
	}
	s.mu.Lock()
	s.batches = append(s.batches, len(es))
	s.mu.Unlock()
	return s.Store.AppendEvents(ctx, es, maxLen)
}

// streamOf returns the events of the stream in order, as "type client data".
func streamOf(t *testing.T, e *env) []string {
	t.Helper()
	msgs, err := e.rdb.XRange(context.Background(), e.store.EventsStream(), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(msgs))
	for i, m := range msgs {
		data, _ := m.Values["data"].(string)
		out[i] = fmt.Sprint(m.Values["type"], " ", m.Values["client_id"], " ", data)
	}
	return out
}

// sendFrames sends n text frames "<prefix><i>" from c.
func sendFrames(t *testing.T, c *client, prefix string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range n {
		if err := c.ws.Write(ctx, websocket.MessageText, []byte(prefix+strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
}

// wantEvents is what one client's events must be, in order: connect, its
// frames, close.
func wantEvents(cid, prefix string, n int) []string {
	out := []string{"connect " + cid + " "}
	for i := range n {
		out = append(out, "message "+cid+" "+prefix+strconv.Itoa(i))
	}
	return append(out, "close "+cid+" ")
}

// only keeps the events of client cid.
func only(events []string, cid string) []string {
	var out []string
	for _, ev := range events {
		var typ, c string
		fmt.Sscan(ev, &typ, &c)
		if c == cid {
			out = append(out, ev)
		}
	}
	return out
}

// Events queued while the writer was held up are all written, in order and
// in batches of at most EventsBatch, when the gateway stops: the drain
// closes the client (its last frames are read first) and Run returns only
// once the queue is written.
func TestEventsDrainedAtStopInOrder(t *testing.T) {
	t.Parallel()
	e := standaloneEnv(t)
	store := &gatedStore{Store: session.New(e.rdb, &session.Options{Logger: testLogger(t)}), open: make(chan struct{})}
	g, err := gateway.New(store, withTestEngine(&gateway.Options{Events: true, EventsBatch: 7, FrameRate: -1, ByteRate: -1,
		RedisTimeout: 20 * time.Second, Logger: testLogger(t)}))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	waitFor(t, 10*time.Second, "gateway ready", func() bool { return g.Ready() == nil })
	tg := &testGateway{srv: srv}
	a, b := dialRaw(t, tg.url(), nil), dialRaw(t, tg.url(), nil)
	a.startReading()
	b.startReading()
	const n = 60
	sendFrames(t, a, "a", n)
	sendFrames(t, b, "b", n)
	// Frames still unread when the drain closes a client are dropped by the
	// close handshake: stop only once all of them were read (and queued).
	waitFor(t, 10*time.Second, "frames read", func() bool { return g.Stats().FramesIn >= 2*n })
	cancel()
	waitFor(t, 10*time.Second, "gateway draining", func() bool { return g.Ready() != nil })
	if got := streamOf(t, e); len(got) != 0 {
		t.Fatalf("events written while the writer was held: %q", got)
	}
	close(store.open)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return")
	}
	got := streamOf(t, e)
	for _, c := range []struct {
		cl     *client
		prefix string
	}{{a, "a"}, {b, "b"}} {
		want := wantEvents(c.cl.id, c.prefix, n)
		if got := only(got, c.cl.id); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("client %s events:\n got %q\nwant %q", c.prefix, got, want)
		}
	}
	if len(got) != 2*(n+2) {
		t.Errorf("stream holds %d events, want %d", len(got), 2*(n+2))
	}
	store.mu.Lock()
	defer store.mu.Unlock()
	for _, size := range store.batches {
		if size > 7 {
			t.Errorf("a batch of %d events, over EventsBatch 7: %v", size, store.batches)
		}
	}
	if len(store.batches) < 2*(n+2)/7 {
		t.Errorf("%d batches for %d events: %v", len(store.batches), len(got), store.batches)
	}
}
