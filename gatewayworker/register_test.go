package gatewayworker_test

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/gatewayworker"
	"github.com/chatgate/chatgate/internal/redistest"
	"github.com/chatgate/chatgate/session"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// testStore returns a Store on a fresh redis-server.
func testStore(t *testing.T) *session.Store {
	t.Helper()
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rdb.Close() })
	return session.New(rdb, &session.Options{Logger: quietLog()})
}

// startRegister serves a Register over a fresh store and returns its address.
func startRegister(t *testing.T, store *session.Store, opts gatewayworker.RegisterOptions) string {
	t.Helper()
	opts.Logger = quietLog()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := gatewayworker.NewRegister(store, &opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

type lineConn struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func dialLine(t *testing.T, addr string) *lineConn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &lineConn{t, nc, bufio.NewReader(nc)}
}

func (c *lineConn) send(s string) {
	c.t.Helper()
	if _, err := c.nc.Write([]byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

// next reads one line, or returns "EOF" when the Register closed.
func (c *lineConn) next(d time.Duration) string {
	c.t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(d))
	line, err := c.br.ReadString('\n')
	if err == io.EOF {
		return "EOF"
	}
	if err != nil {
		c.t.Fatalf("read: %v (got %q)", err, line)
	}
	return strings.TrimSuffix(line, "\n")
}

// The Register protocol on a real Redis: worker_connect is answered with
// the live compatible gateways and re-broadcast on change; keys, bad
// requests, unknown events and silence close the connection as on
// GatewayWorker.
func TestRegister(t *testing.T) {
	t.Parallel()
	store := testStore(t)
	ctx := context.Background()
	for _, gw := range []string{"7f0000010b54", "plaingw"} { // the plain gateway is not listed
		if _, err := store.MarkAlive(ctx, gw, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	addr := startRegister(t, store, gatewayworker.RegisterOptions{SecretKey: "k", Refresh: 50 * time.Millisecond, AuthTimeout: 300 * time.Millisecond, MaxLine: 256})

	w := dialLine(t, addr)
	w.send(`{"event":"worker_connect","secret_key":"k"}` + "\r\n")
	if got := w.next(5 * time.Second); got != `{"event":"broadcast_addresses","addresses":["127.0.0.1:2900"]}` {
		t.Fatalf("worker_connect reply %s", got)
	}
	w.send(`{"event":"ping"}` + "\n")
	// A gateway comes, then one goes: the open worker connection hears both.
	if _, err := store.MarkAlive(ctx, "0a0000020b55", time.Minute); err != nil {
		t.Fatal(err)
	}
	if got := w.next(5 * time.Second); got != `{"event":"broadcast_addresses","addresses":["10.0.0.2:2901","127.0.0.1:2900"]}` {
		t.Fatalf("after a gateway came: %s", got)
	}
	if err := store.RemoveGateway(ctx, "7f0000010b54"); err != nil {
		t.Fatal(err)
	}
	if got := w.next(5 * time.Second); got != `{"event":"broadcast_addresses","addresses":["10.0.0.2:2901"]}` {
		t.Fatalf("after a gateway went: %s", got)
	}

	for _, tc := range []struct{ name, send, want string }{
		{"wrong key", `{"event":"worker_connect","secret_key":"x"}` + "\n", "EOF"},
		{"missing key", `{"event":"worker_connect"}` + "\n", "EOF"},
		{"number key", `{"event":"worker_connect","secret_key":1}` + "\n", "EOF"},
		{"bad json", "hello\n", "Bad request for Register service. Request info(IP:127.0.0.1, Request Buffer:hello)"},
		{"no event", `{"x":1}` + "\n", `Bad request for Register service. Request info(IP:127.0.0.1, Request Buffer:{"x":1})`},
		{"too long", strings.Repeat("x", 300) + "\n", "Bad request for Register service. Request info(IP:127.0.0.1, Request Buffer:" + strings.Repeat("x", 256) + ")"},
		{"unknown event", `{"event":"dance"}` + "\n", "EOF"},
		{"gateway_connect without address", `{"event":"gateway_connect","secret_key":"k"}` + "\n", "EOF"},
		{"silence", "", "EOF"},
	} {
		c := dialLine(t, addr)
		c.send(tc.send)
		if got := c.next(5 * time.Second); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
		if tc.want != "EOF" {
			if got := c.next(5 * time.Second); got != "EOF" {
				t.Errorf("%s: connection not closed after the error line: %q", tc.name, got)
			}
		}
	}
	// A gateway_connect with key and address is kept open (and answered with nothing).
	g := dialLine(t, addr)
	g.send(`{"event":"gateway_connect", "address":"127.0.0.1:2900", "secret_key":"k"}` + "\n")
	g.send(`{"event":"worker_connect","secret_key":"k"}` + "\n")
	if got := g.next(5 * time.Second); got != `{"event":"broadcast_addresses","addresses":["10.0.0.2:2901"]}` {
		t.Fatalf("gateway_connect was not kept open: %s", got)
	}
}
