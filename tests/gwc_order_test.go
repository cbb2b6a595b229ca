package tests

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/chatgate/chatgate/internal/redistest"
)

// Read-your-writes through fresh TCP connections, as GatewayClient makes
// them: a joinGroup (or bindUid) written on one connection, closed at once,
// then a sendToGroup (sendToUid) on new connections to every gateway, 500
// times each, without waiting: the client gets every message, in order.
func TestGatewayWorkerReadYourWrites(t *testing.T) {
	t.Parallel()
	c := gwcStartCluster(t)
	x := pushConnect(t, c.gws[1].ws)
	addrs := c.cl.addresses() // GatewayClient caches the list too
	const n = 500
	var want []string
	for i := range n {
		g, u := fmt.Sprintf("rw%d", i), fmt.Sprintf("ru%d", i)
		c.cl.toClient(gwcJoinGroup, x.ID, g, "")
		for _, a := range addrs {
			c.cl.send(a, gwcPacket(gwcSendToGroup, 0, 0, `{"group":["`+g+`"],"exclude":null}`, "g"+g))
		}
		c.cl.toClient(gwcBindUid, x.ID, u, "")
		for _, a := range addrs {
			c.cl.send(a, gwcPacket(gwcSendToUid, 0, 0, `["`+u+`"]`, "u"+u))
		}
		want = append(want, "g"+g, "u"+u)
	}
	got := x.waitFramesFor(t, "X", len(want), 60*time.Second)
	if !slices.Equal(got, want) {
		missing := 0
		for _, w := range want {
			if !slices.Contains(got, w) {
				missing++
			}
		}
		t.Fatalf("got %d of %d messages (%d missing); first difference at %d", len(got), len(want), missing, firstDiff(got, want))
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// waitFramesFor waits until the client has n frames (or d passed, plus a
// moment for stragglers) and returns them.
func (c *pushClient) waitFramesFor(t *testing.T, name string, n int, d time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(d)
	for len(c.Frames()) < n && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	return c.Frames()
}

// gwcConn is one raw connection to an inner listener, for persistent use.
type gwcConn struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func gwcDial(t *testing.T, addr string) *gwcConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &gwcConn{t, nc, bufio.NewReader(nc)}
}

func (c *gwcConn) write(pkts ...[]byte) {
	c.t.Helper()
	for _, p := range pkts {
		if _, err := c.nc.Write(p); err != nil {
			c.t.Fatal(err)
		}
	}
}

// reply reads one reply; "EOF" when the gateway closed the connection.
func (c *gwcConn) reply() string {
	c.t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var n [4]byte
	if _, err := io.ReadFull(c.br, n[:]); err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			c.t.Fatalf("no reply and not closed: %v", err)
		}
		return "EOF" // closed (FIN or reset)
	}
	b := make([]byte, binary.BigEndian.Uint32(n[:]))
	if _, err := io.ReadFull(c.br, b); err != nil {
		c.t.Fatal(err)
	}
	return string(b)
}

// secretKey rules (protocol §2.4), persistent connections (the auth packet
// before every packet), unknown commands (ignored, connection kept) and the
// Register's key check.
func TestGatewayWorkerSecretKeyAndPersistent(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	keyed := gwcStartGateway(t, rs.URL(), "--gw-secret-key", "k", "--gw-register-addr", "127.0.0.1:0")
	keyless := gwcStartGateway(t, rs.URL())
	x := pushConnect(t, keyed.ws)
	y := pushConnect(t, keyless.ws)
	_, nx := gwcSplit(t, x.ID)
	_, ny := gwcSplit(t, y.ID)
	auth := func(key string) []byte { return gwcPacket(gwcClientAuth, 0, 0, "", `{"secret_key":"`+key+`"}`) }
	isOnline := func(n uint32) []byte { return gwcPacket(gwcIsOnline, n, 0, "", "") }

	// Persistent connection with the key: many packets, each after an auth packet.
	p := gwcDial(t, keyed.inner)
	p.write(auth("k"), gwcPacket(gwcJoinGroup, nx, 0, "room", ""), auth("k"), isOnline(nx))
	if got := p.reply(); got != "i:1;" {
		t.Fatalf("persistent isOnline = %q", got)
	}
	p.write(auth("k"), gwcPacket(99, 0, 0, "", ""), auth("k"), gwcPacket(gwcCountByGroup, 0, 0, "room", ""))
	if got := p.reply(); got != "i:1;" {
		t.Fatalf("count after an unknown command on the same connection = %q (it must be ignored, connection kept)", got)
	}
	for _, tc := range []struct {
		name string
		addr string
		pkts [][]byte
	}{
		{"wrong key", keyed.inner, [][]byte{auth("x"), isOnline(nx)}},
		{"no key", keyed.inner, [][]byte{isOnline(nx)}},
		{"auth body not JSON", keyed.inner, [][]byte{gwcPacket(gwcClientAuth, 0, 0, "", "k"), isOnline(nx)}},
		{"a key to a gateway without one", keyless.inner, [][]byte{auth("k"), isOnline(ny)}},
	} {
		c := gwcDial(t, tc.addr)
		c.write(tc.pkts...)
		if got := c.reply(); got != "EOF" {
			t.Errorf("%s: got reply %q, want the connection closed", tc.name, got)
		}
	}
	// A command after a wrong key is not executed.
	bad := gwcDial(t, keyed.inner)
	bad.write(auth("x"), gwcPacket(gwcJoinGroup, nx, 0, "intruders", ""))
	_ = bad.reply()
	ok := gwcDial(t, keyed.inner)
	ok.write(auth("k"), gwcPacket(gwcCountByGroup, 0, 0, "intruders", ""))
	if got := ok.reply(); got != "i:0;" {
		t.Errorf("a join sent with a wrong key was executed: count %q", got)
	}
	// Keyless gateway, no auth packet: fine.
	free := gwcDial(t, keyless.inner)
	free.write(isOnline(ny))
	if got := free.reply(); got != "i:1;" {
		t.Errorf("keyless isOnline = %q", got)
	}
	// The Register checks the key too: no reply line, closed.
	r := gwcDial(t, keyed.register)
	fmt.Fprintf(r.nc, `{"event":"worker_connect","secret_key":"x"}`+"\n")
	_ = r.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if line, err := r.br.ReadString('\n'); err == nil {
		t.Errorf("Register answered a wrong key: %q", line)
	}
	if got := (&gwcClient{t: t, register: keyed.register, key: "k"}).addresses(); len(got) != 2 {
		t.Errorf("Register with the key lists %v", got)
	}
}
