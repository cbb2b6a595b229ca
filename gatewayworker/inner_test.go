package gatewayworker_test

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/chatgate/chatgate/gatewayworker"
	"github.com/chatgate/chatgate/session"
)

// The inner listener in-process: a persistent connection gets replies; a
// malformed or oversized packet closes its connection and no other; Serve
// returns when ctx ends, with every connection closed.
func TestInnerServe(t *testing.T) {
	t.Parallel()
	store := testStore(t)
	const gw = "7f0000010b54"
	if err := store.RegisterClient(context.Background(), &session.ClientState{ID: gw + "00000005", Gateway: gw, ConnectedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	in, err := gatewayworker.NewInner(store, &gatewayworker.InnerOptions{GatewayID: gw, MaxPacket: 1024, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gatewayworker.NewInner(store, &gatewayworker.InnerOptions{GatewayID: "gw1"}); err == nil {
		t.Fatal("NewInner accepted a gateway id that is not compact")
	}
	addr, stop := serveInner(t, in)

	query := func(cmd uint8, conn uint32) []byte {
		return (&gatewayworker.Packet{Cmd: cmd, ConnectionID: conn, Flag: gatewayworker.FlagBodyIsScalar}).Append(nil)
	}
	persistent := dialInner(t, addr)
	for _, want := range []string{"i:1;", "i:1;"} {
		persistent.write(query(gatewayworker.CmdGetClientCountByGroup, 0))
		if got := persistent.reply(); got != want {
			t.Fatalf("count = %q, want %q", got, want)
		}
	}
	for name, pkt := range map[string][]byte{
		"shorter than its header": {0, 0, 0, 20, 5, 0, 0, 0},
		"over MaxPacket":          {0, 0, 8, 0, 5},
	} {
		c := dialInner(t, addr)
		c.write(pkt)
		if got := c.reply(); got != "EOF" {
			t.Errorf("%s: got %q, want the connection closed", name, got)
		}
	}
	persistent.write(query(gatewayworker.CmdIsOnline, 5))
	if got := persistent.reply(); got != "i:1;" {
		t.Fatalf("isOnline on the persistent connection after the others closed: %q", got)
	}
	if err := stop(); err != nil {
		t.Fatalf("Serve = %v", err)
	}
	if got := persistent.reply(); got != "EOF" {
		t.Fatalf("connection still open after Serve returned: %q", got)
	}
}

type innerConn struct {
	t  *testing.T
	nc net.Conn
}

func dialInner(t *testing.T, addr string) *innerConn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &innerConn{t, nc}
}

func (c *innerConn) write(b []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

// reply reads one reply, or "EOF" when the listener closed the connection.
func (c *innerConn) reply() string {
	c.t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var n [4]byte
	if _, err := io.ReadFull(c.nc, n[:]); err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			c.t.Fatal("no reply, connection still open")
		}
		return "EOF"
	}
	b := make([]byte, binary.BigEndian.Uint32(n[:]))
	if _, err := io.ReadFull(c.nc, b); err != nil {
		c.t.Fatal(err)
	}
	return string(b)
}
