package gateway_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/coder/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/gateway"
	"github.com/chatgate/chatgate/session"
)

// The gateway's frame limit and frame budget in FuzzClientFrames: the budget
// refills slowly (fuzzRefill per second of frames, and 1 KiB of bytes), so
// that within a run it is about the burst.
const (
	fuzzReadLimit  = 4096
	fuzzBurst      = 16
	fuzzByteBurst  = 4 * fuzzReadLimit
	fuzzRefill     = 1
	fuzzRunSeconds = 10 // the longest a run can take (its ctx)
)

// FuzzClientFrames sends arbitrary client frames (text or binary, one or
// several) through a real gateway on miniredis. Whatever a client sends, the
// gateway must not panic, and the connection must either survive (a message
// pushed to it afterwards arrives), or, for a frame over the read limit,
// close with 1009, or, for more frames or bytes than its budget, close with
// 1008 (within the burst it must survive; over what the budget can refill
// during the run it must close).
func FuzzClientFrames(f *testing.F) {
	for _, s := range []struct {
		binary bool
		data   string
	}{
		{false, `{"type":"pong"}`},
		{false, `{"type":"say","content":"hi"}`},
		{false, ``},
		{false, "\xff\xfe not utf-8"},
		{true, "\x00\x01\x02"},
		{false, `{"type":"init","client_id":"gw.AAAAAAAAAAAAAAAAAAAAAA"}`},
		{false, `{"op":"close","clients":["x.y"]}`},
		{false, strings.Repeat("a", fuzzReadLimit)},
		{false, strings.Repeat("a", fuzzReadLimit+1)},
		{false, "first\x00second\x00third"},  // NUL splits into several frames
		{false, strings.Repeat("m\x00", 40)}, // over the frame budget: 1008
	} {
		f.Add(s.binary, []byte(s.data))
	}
	url, store := fuzzGateway(f)
	f.Fuzz(func(t *testing.T, binary bool, data []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ws, _, err := websocket.Dial(ctx, url, nil)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer ws.CloseNow()
		_, initFrame, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("read init: %v", err)
		}
		cid := strings.TrimSuffix(strings.TrimPrefix(string(initFrame), `{"type":"init","client_id":"`), `"}`)
		typ := websocket.MessageText
		if binary {
			typ = websocket.MessageBinary
		}
		frames := strings.Split(string(data), "\x00")
		tooBig := false
		n, bytes := 0, 0 // frames and bytes sent within the read limit
		for _, fr := range frames {
			if len(fr) > fuzzReadLimit {
				tooBig = true
			} else {
				n, bytes = n+1, bytes+len(fr)
			}
			if err := ws.Write(ctx, typ, []byte(fr)); err != nil {
				break // the gateway may already have closed (1009, 1008)
			}
			if tooBig {
				break
			}
		}
		within := n <= fuzzBurst && bytes <= fuzzByteBurst
		over := n > fuzzBurst+fuzzRefill*fuzzRunSeconds || bytes > fuzzByteBurst+1024*fuzzRunSeconds
		const marker = `{"type":"fuzz-marker"}`
		if err := store.SendToClient(ctx, cid, []byte(marker)); err != nil {
			t.Fatalf("push marker: %v", err)
		}
		for {
			_, got, err := ws.Read(ctx)
			if err != nil {
				code := websocket.CloseStatus(err)
				if tooBig && code == websocket.StatusMessageTooBig || !within && code == websocket.StatusPolicyViolation {
					return
				}
				t.Fatalf("frames %q: connection ended with %v (close code %d)", frames, err, code)
			}
			// Over a limit the marker may still arrive before the gateway
			// reads the frame: keep reading until the close.
			if string(got) == marker && !tooBig && !over {
				return
			}
		}
	})
}

// fuzzGateway runs one gateway for the whole fuzz run and returns its
// WebSocket URL and a Store to push with.
func fuzzGateway(f *testing.F) (string, *session.Store) {
	f.Helper()
	mr := miniredis.RunT(f)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), ContextTimeoutEnabled: true})
	f.Cleanup(func() { _ = rdb.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	store := session.New(rdb, &session.Options{Logger: log})
	g, err := gateway.New(store, withTestEngine(&gateway.Options{
		ReadLimit: fuzzReadLimit, Events: true, PingInterval: -1, Logger: log, Recovery: store.Recovery,
		FrameRate: fuzzRefill, FrameBurst: fuzzBurst, ByteRate: 1024, ByteBurst: fuzzByteBurst,
	}))
	if err != nil {
		f.Fatal(err)
	}
	srv := httptest.NewServer(g)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	f.Cleanup(func() {
		cancel()
		<-done
		srv.Close()
	})
	deadline := time.Now().Add(10 * time.Second)
	for g.Ready() != nil {
		if time.Now().After(deadline) {
			f.Fatalf("gateway not ready: %v", g.Ready())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/", store
}
