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
	if frames != n+1 || writes > frames/2 {
		t.Errorf("%d frames in %d writes; want %d frames in at most half as many writes", frames, writes, n+1)
	}
}
