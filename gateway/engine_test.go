package gateway_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/chatgate/chatgate/gateway"
	"github.com/chatgate/chatgate/session"
)

// An idle connection on the nbio engine holds no goroutine; on std it holds
// its reader. Either way a broadcast reaches every connection, and closing
// the clients forgets them all. (Counts, not timings: runtime.NumGoroutine
// before and after.)
func TestEngineIdleGoroutines(t *testing.T) {
	const conns = 200
	for _, tt := range []struct {
		engine   string
		min, max int // goroutines added by the idle connections
	}{
		{gateway.EngineStd, conns, 2 * conns},
		{gateway.EngineNbio, 0, conns / 10},
	} {
		t.Run(tt.engine, func(t *testing.T) {
			e := standaloneEnv(t)
			gw := e.addGateway(gateway.Options{Engine: tt.engine, PingInterval: -1, MaxConnsPerIP: -1})
			if got := gw.g.Engine(); got != tt.engine {
				t.Fatalf("Engine() = %q, want %q", got, tt.engine)
			}
			addr := strings.TrimPrefix(gw.srv.URL, "http://")
			before := settledGoroutines()
			var clients []net.Conn
			var rests [][]byte
			t.Cleanup(func() {
				for _, c := range clients {
					_ = c.Close()
				}
			})
			for range conns {
				c, _, rest, err := benchDial(addr)
				if err != nil {
					t.Fatal(err)
				}
				clients, rests = append(clients, c), append(rests, rest)
			}
			waitFor(t, 10*time.Second, "connections registered", func() bool { return gw.g.Connections() == conns })
			added := settledGoroutines() - before
			t.Logf("%s: %d idle connections added %d goroutines", tt.engine, conns, added)
			if added < tt.min || added > tt.max {
				t.Errorf("%d idle connections added %d goroutines, want %d..%d", conns, added, tt.min, tt.max)
			}

			// A broadcast still reaches every connection.
			const marker = `{"type":"all"}`
			if err := e.store.SendToAll(context.Background(), []byte(marker)); err != nil {
				t.Fatal(err)
			}
			var got atomic.Int64
			var wg sync.WaitGroup
			for i, c := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if readFrameText(c, rests[i]) == marker {
						got.Add(1)
					}
				}()
			}
			wg.Wait()
			if got.Load() != conns {
				t.Fatalf("broadcast reached %d of %d connections", got.Load(), conns)
			}

			for _, c := range clients {
				_ = c.Close()
			}
			waitFor(t, 10*time.Second, "connections forgotten", func() bool { return gw.g.Connections() == 0 })
		})
	}
}

// settledGoroutines is the goroutine count once short-lived ones (handlers
// of frames just read, writers) have ended.
func settledGoroutines() int {
	n := runtime.NumGoroutine()
	for range 50 {
		time.Sleep(20 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m == n {
			return n
		}
		n = m
	}
	return n
}

// readFrameText reads one short unmasked text frame from c (after the bytes
// already read, rest) and returns its payload, or "" on error.
func readFrameText(c net.Conn, rest []byte) string {
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := append([]byte(nil), rest...)
	tmp := make([]byte, 512)
	for {
		if n := benchFrameLen(buf); n > 0 {
			return string(buf[2:n]) // a 2-byte header: the frames here are short
		}
		m, err := c.Read(tmp)
		if err != nil {
			return fmt.Sprint("read: ", err)
		}
		buf = append(buf, tmp[:m]...)
	}
}

// blockingHook holds ClientMessage for frames "block" until release is
// closed, and reports every other frame on seen.
type blockingHook struct {
	release chan struct{}
	freed   sync.Once
	blocked chan struct{}
	seen    chan string
}

// free closes release once: by the test, or by its cleanup when it failed
// first (the gateway's shutdown would wait for the blocked call).
func (h *blockingHook) free() { h.freed.Do(func() { close(h.release) }) }

func (h *blockingHook) ClientConnected(string, string, *http.Request) {}
func (h *blockingHook) ClientClosed(string, session.Session)          {}
func (h *blockingHook) ClientMessage(cid string, data []byte, _ session.Session) {
	if string(data) == "block" {
		h.blocked <- struct{}{}
		<-h.release
		return
	}
	h.seen <- string(data)
}

// A hook that blocks on one client's frame holds up that client only: its
// next frame waits behind it (frames stay in order), another client's
// frame is handled meanwhile.
func TestEngineSlowHandlerDelaysOnlyItsClient(t *testing.T) {
	for _, engine := range []string{gateway.EngineStd, gateway.EngineNbio} {
		t.Run(engine, func(t *testing.T) {
			e := standaloneEnv(t)
			hook := &blockingHook{release: make(chan struct{}), blocked: make(chan struct{}, 1), seen: make(chan string, 4)}
			gw := e.addGateway(gateway.Options{Engine: engine, Hook: hook, PingInterval: -1})
			t.Cleanup(hook.free) // before the gateway's own cleanup
			slow, other := e.dial(gw), e.dial(gw)
			slow.send("block")
			select {
			case <-hook.blocked:
			case <-time.After(10 * time.Second):
				t.Fatal("the hook never got the blocking frame")
			}
			slow.send("after-block")
			other.send("other")
			select {
			case got := <-hook.seen:
				if got != "other" {
					t.Fatalf("while the slow client's hook call blocks, the hook got %q, want the other client's frame", got)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("another client's frame waited for the blocked hook call")
			}
			hook.free()
			select {
			case got := <-hook.seen:
				if got != "after-block" {
					t.Fatalf("after the release the hook got %q, want the slow client's next frame", got)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the slow client's next frame never reached the hook")
			}
		})
	}
}

// Both engines, in the default test run (the whole suite runs on nbio with
// CHATGATE_TEST_WS_ENGINE=nbio): init frame, push delivery, client frames
// as events in order, push close with its code, a client's close, a frame
// over the read limit (1009), and each close counted under its cause.
func TestEngineParity(t *testing.T) {
	for _, engine := range []string{gateway.EngineStd, gateway.EngineNbio} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			e := standaloneEnv(t)
			gw := e.addGateway(gateway.Options{Engine: engine, Events: true, ReadLimit: 1024, PingInterval: -1})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()

			a, b, big := e.dial(gw), e.dial(gw), e.dial(gw) // reading
			for i := range 5 {
				a.send(fmt.Sprint("m", i))
			}
			waitFor(t, 10*time.Second, "a's frames as events", func() bool { n, _ := messageEvents(t, e, a.id); return n == 5 })
			if got := eventData(t, e, a.id); !slices.Equal(got, []string{"m0", "m1", "m2", "m3", "m4"}) {
				t.Fatalf("a's message events %q, want m0..m4 in order", got)
			}
			if err := e.store.SendToClient(ctx, b.id, []byte("to-b")); err != nil {
				t.Fatal(err)
			}
			b.expect("to-b")

			if err := e.store.CloseClient(ctx, b.id, []byte("bye")); err != nil {
				t.Fatal(err)
			}
			b.expect("bye")
			if code := b.closeStatus(); code != websocket.StatusNormalClosure {
				t.Fatalf("pushed close: code %v, want 1000", code)
			}
			if err := big.ws.Write(ctx, websocket.MessageText, []byte(strings.Repeat("y", 2048))); err != nil {
				t.Fatal(err)
			}
			if code := big.closeStatus(); code != websocket.StatusMessageTooBig {
				t.Fatalf("frame over the read limit: code %v, want 1009", code)
			}
			_ = a.ws.Close(websocket.StatusNormalClosure, "")
			waitFor(t, 10*time.Second, "all forgotten", func() bool { return gw.g.Connections() == 0 })
			want := map[string]uint64{"server": 1, "too_big": 1, "client": 1}
			got := gw.g.CloseReasons()
			for why, n := range want {
				if got[why] != n {
					t.Errorf("closes by %s = %d, want %d (%v)", why, got[why], n, got)
				}
			}
		})
	}
}

// eventData returns the data of cid's message events, in stream order.
func eventData(t *testing.T, e *env, cid string) []string {
	t.Helper()
	msgs, err := e.rdb.XRange(context.Background(), e.store.EventsStream(), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		if m.Values["type"] == session.EventMessage && m.Values["client_id"] == cid {
			out = append(out, fmt.Sprint(m.Values["data"]))
		}
	}
	return out
}
