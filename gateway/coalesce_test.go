package gateway_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/chatgate/chatgate/gateway"
	"github.com/chatgate/chatgate/session"
)

// With WriteCoalesce, frames for a busy connection are held and written
// together: they arrive complete and in order, a close sent after them still
// comes after them (the held frames are flushed first), and the gateway
// made fewer writes than frames.
func TestWriteCoalesceKeepsOrderAndFlushesOnClose(t *testing.T) {
	t.Parallel()
	e := standaloneEnv(t)
	tg := e.addGateway(gateway.Options{WriteCoalesce: 200 * time.Millisecond, PingInterval: -1})
	c := e.dial(tg)
	const n = 200
	sends := make([]session.Send, n)
	for i := range sends {
		sends[i] = session.Send{To: session.ToClients, IDs: []string{c.id}, Payload: []byte("f" + strconv.Itoa(i))}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	before := tg.g.Stats()
	if err := e.store.SendBatch(ctx, sends); err != nil {
		t.Fatal(err)
	}
	if err := e.store.CloseClient(ctx, c.id, []byte("bye")); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		c.expect("f" + strconv.Itoa(i))
	}
	c.expect("bye")
	c.closeStatus()
	after := tg.g.Stats()
	frames, writes := after.FramesOut-before.FramesOut, after.Writes-before.Writes
	// (The init frame's count may land after before was taken: at least n+1.)
	if frames < n+1 || writes > frames/2 {
		t.Errorf("%d frames in %d writes; want %d frames in at most half as many writes", frames, writes, n+1)
	}
}

// Held frames never fill the send queue of a client that reads: once half
// the queue is held, they are written at once instead of waiting for the
// window (5 s here), so a burst larger
// than the queue reaches the client instead of closing it as slow (1008).
func TestWriteCoalesceFlushesBeforeQueueFills(t *testing.T) {
	t.Parallel()
	e := standaloneEnv(t)
	// The init frame was just written: the burst comes within its window.
	tg := e.addGateway(gateway.Options{WriteCoalesce: 5 * time.Second, SendQueue: 16, PingInterval: -1})
	c := e.dial(tg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const n = 100
	sends := make([]session.Send, n)
	for i := range sends {
		sends[i] = session.Send{To: session.ToClients, IDs: []string{c.id}, Payload: []byte("f" + strconv.Itoa(i))}
	}
	if err := e.store.SendBatch(ctx, sends); err != nil {
		t.Fatal(err)
	}
	// The last frames of the burst (fewer than the limit) stay held for the
	// window: the marker batch pushes them out by reaching the limit again.
	marks := make([]session.Send, holdLimitForTest)
	for i := range marks {
		marks[i] = session.Send{To: session.ToClients, IDs: []string{c.id}, Payload: []byte("m" + strconv.Itoa(i))}
	}
	if err := e.store.SendBatch(ctx, marks); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		c.expect("f" + strconv.Itoa(i))
	}
	if s := tg.g.Stats(); s.SlowCloses != 0 {
		t.Fatalf("%d clients closed as slow while frames were held", s.SlowCloses)
	}
}

// holdLimitForTest is the hold limit for SendQueue 16 (half of it).
const holdLimitForTest = 8
