package gatewayworker_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chatgate/chatgate/gatewayworker"
	"github.com/chatgate/chatgate/session"
)

// workerConn is a BusinessWorker link opened by hand.
type workerConn struct {
	t  *testing.T
	nc net.Conn
}

func dialWorker(t *testing.T, addr, key string) *workerConn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	hello := &gatewayworker.Packet{Cmd: gatewayworker.CmdWorkerConnect, Flag: gatewayworker.FlagBodyIsScalar,
		Body: []byte(`{"worker_key":"` + key + `","secret_key":""}`)}
	if _, err := nc.Write(hello.Append(nil)); err != nil {
		t.Fatal(err)
	}
	return &workerConn{t, nc}
}

// next reads the next packet other than a ping; nil when the gateway
// closed the link.
func (w *workerConn) next() *gatewayworker.Packet {
	w.t.Helper()
	_ = w.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		var head [4]byte
		if _, err := io.ReadFull(w.nc, head[:]); errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
			return nil
		} else if err != nil {
			w.t.Fatalf("read packet: %v", err)
		}
		b := make([]byte, binary.BigEndian.Uint32(head[:]))
		copy(b, head[:])
		if _, err := io.ReadFull(w.nc, b[4:]); err != nil {
			w.t.Fatalf("read packet: %v", err)
		}
		p, _, err := gatewayworker.NextPacket(b, 1<<20)
		if err != nil {
			w.t.Fatal(err)
		}
		if p.Cmd != gatewayworker.CmdPing {
			return p
		}
	}
}

// serveInner serves in on a loopback port until stop (or the test's end);
// stop returns Serve's result, or an error when it does not return in 10s.
func serveInner(t *testing.T, in *gatewayworker.Inner) (addr string, stop func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Serve(ctx, ln) }()
	stop = sync.OnceValue(func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			return errors.New("Serve did not return after ctx ended")
		}
	})
	t.Cleanup(func() { _ = stop() })
	return ln.Addr().String(), stop
}

func waitLinks(t *testing.T, in *gatewayworker.Inner, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); in.WorkerStats().Links != n; {
		if time.Now().After(deadline) {
			t.Fatalf("links = %d, want %d", in.WorkerStats().Links, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// handshakeRequest is the request of the doc's onWebSocketConnect example.
func handshakeRequest() *http.Request {
	r := httptest.NewRequest("GET", "/chat?room=1&x=a&x=b", nil)
	r.Host = "chat.example.com:7272"
	r.RemoteAddr = "192.0.2.7:5555"
	r.Header.Set("Cookie", "sid=abc")
	return r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, &net.TCPAddr{IP: net.IPv4(10, 0, 0, 5), Port: 7272}))
}

// Client events on a BusinessWorker link, in-process: dropped and counted
// with no link; connect, websocket connect (the doc's example), message and
// close with the header fields and the session as PHP reads it; an event
// larger than the link's buffer dropped; a second link with the same key
// replacing the first.
func TestWorkerLinkEvents(t *testing.T) {
	t.Parallel()
	const gw = "7f0000010b54" // 127.0.0.1:2900
	cid := gw + "0000002a"
	in, err := gatewayworker.NewInner(testStore(t), &gatewayworker.InnerOptions{GatewayID: gw, WorkerBuffer: 4096, WorkerPing: 20 * time.Millisecond, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := serveInner(t, in)

	in.ClientMessage(cid, []byte("lost"), nil)
	if s := in.WorkerStats(); s.DroppedNoWorker != 1 || s.Events != 0 {
		t.Fatalf("stats with no worker: %+v", s)
	}
	w := dialWorker(t, addr, "bw:0")
	waitLinks(t, in, 1)

	in.ClientConnected(cid, "192.0.2.7", handshakeRequest())
	p := w.next()
	if p.Cmd != gatewayworker.CmdOnConnect || p.LocalIP != 0x7f000001 || p.LocalPort != 2900 || p.ClientIP != 0xc0000207 ||
		p.ClientPort != 5555 || p.ConnectionID != 42 || p.GatewayPort != 7272 || p.Flag != gatewayworker.FlagBodyIsScalar || len(p.ExtData) != 0 || len(p.Body) != 0 {
		t.Fatalf("connect packet %+v", p)
	}
	p = w.next()
	doc, err := os.ReadFile("../docs/gatewayworker.md")
	if err != nil {
		t.Fatal(err)
	}
	_, example, _ := strings.Cut(string(doc), "<!-- handshake:begin -->\n```\n")
	example, _, _ = strings.Cut(example, "\n```")
	if p.Cmd != gatewayworker.CmdOnWebSocketConnect || p.Flag != 0 || string(p.Body) != example {
		t.Fatalf("websocket connect packet cmd %d flag %d body\n%s\nwant the doc's example\n%s", p.Cmd, p.Flag, p.Body, example)
	}

	php := `a:2:{s:4:"name";s:3:"ann";s:1:"n";i:1;}`
	in.ClientMessage(cid, []byte("hi"), session.Session{"name": "ann", "n": "1", "_php": php})
	if p = w.next(); p.Cmd != gatewayworker.CmdOnMessage || string(p.Body) != "hi" || string(p.ExtData) != php {
		t.Fatalf("message packet cmd %d body %q ext %q", p.Cmd, p.Body, p.ExtData)
	}
	// A field the Go API changed shows in PHP's view.
	in.ClientMessage(cid, []byte("again"), session.Session{"name": "bob", "n": "1", "_php": php})
	if p = w.next(); string(p.ExtData) != `a:2:{s:4:"name";s:3:"bob";s:1:"n";i:1;}` {
		t.Fatalf("message after a Go change: ext %q", p.ExtData)
	}
	in.ClientMessage(cid, make([]byte, 5000), nil) // larger than WorkerBuffer
	in.ClientClosed(cid, session.Session{"name": "bob"})
	if p = w.next(); p.Cmd != gatewayworker.CmdOnClose || string(p.ExtData) != `a:1:{s:4:"name";s:3:"bob";}` {
		t.Fatalf("close packet cmd %d ext %q", p.Cmd, p.ExtData)
	}
	if s := in.WorkerStats(); s.DroppedFull != 1 || s.Events != 5 || s.Links != 1 {
		t.Fatalf("stats: %+v", s)
	}

	// The same worker key again: the older link is closed, the new one gets
	// the events.
	w2 := dialWorker(t, addr, "bw:0")
	if p = w.next(); p != nil {
		t.Fatalf("older link got %+v, want it closed", p)
	}
	waitLinks(t, in, 1)
	in.ClientMessage(cid, []byte("to the new link"), nil)
	if p = w2.next(); p == nil || string(p.Body) != "to the new link" {
		t.Fatalf("new link got %+v", p)
	}
}
