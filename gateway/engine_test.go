package gateway_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
	blocked chan struct{}
	seen    chan string
}

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
			close(hook.release)
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
