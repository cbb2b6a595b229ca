package gateway_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/gateway"
	"github.com/chatgate/chatgate/internal/redistest"
)

func standaloneEnv(t *testing.T) *env {
	srv := redistest.Start(t)
	return newEnv(t, redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true}))
}

// A client that never reads must not delay a normal client on the same
// gateway, and must itself be closed with 1008 when its send queue fills.
func TestSlowReaderIsClosedAndDelaysNoOne(t *testing.T) {
	t.Parallel()
	// Generous for a loaded 2-core machine: this guards "delays no one" (a
	// delivery that waited for the stalled client would take seconds), it
	// is not a performance figure.
	const maxP99 = 500 * time.Millisecond
	e := standaloneEnv(t)
	// A write timeout far beyond the test: the slow client must be closed
	// because its queue filled (1008), not dropped for a stalled write.
	gw := e.addGateway(gateway.Options{SendQueue: 32, WriteTimeout: time.Minute})
	ctx := context.Background()
	slow := dialRaw(t, gw.url(), nil, withReceiveBuffer(4096)) // never reads, until closed
	fast := e.dial(gw)
	for _, c := range []*client{slow, fast} {
		if err := e.store.JoinGroup(ctx, c.id, "room"); err != nil {
			t.Fatal(err)
		}
	}
	// Once the gateway has decided to close it, the slow client reads what
	// the kernels buffered, then the close frame.
	slowDone := make(chan struct{})
	go func() {
		defer close(slowDone)
		deadline := time.Now().Add(30 * time.Second)
		for gw.g.Stats().SlowCloses == 0 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		slow.startReading()
	}()
	payload := strings.Repeat("x", 32<<10) // fills socket buffers quickly
	var lat []time.Duration
	for i := range 400 {
		start := time.Now()
		if err := e.store.SendToGroup(ctx, "room", []byte(payload)); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-fast.frames:
			if got != payload {
				t.Fatalf("message %d: wrong payload", i)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("fast client stalled at message %d", i)
		}
		lat = append(lat, time.Since(start))
	}
	<-slowDone
	if code := slow.closeStatus(); code != websocket.StatusPolicyViolation {
		t.Fatalf("slow client: close code %v, want 1008 (send queue full)", code)
	}
	if n := gw.g.CloseReasons()["slow_client"]; n != 1 {
		t.Fatalf("slow_client closes = %d, want 1", n)
	}
	waitFor(t, 15*time.Second, "slow client forgotten", func() bool {
		on, _ := e.store.IsOnline(ctx, slow.id)
		return !on
	})
	slices.Sort(lat)
	p50, p99, worst := lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1]
	t.Logf("400 x 32 KiB to a group with a non-reading member: fast-client latency p50 %v, p99 %v, max %v (bound p99 %v)",
		p50, p99, worst, maxP99)
	if p99 > maxP99 {
		t.Fatalf("fast client latency p99 %v over %v: the stalled client delayed it", p99, maxP99)
	}
}

// A frame over the read limit closes the connection with 1009.
func TestOversizedFrameCloses1009(t *testing.T) {
	t.Parallel()
	e := standaloneEnv(t)
	gw := e.addGateway(gateway.Options{ReadLimit: 1024})
	c := e.dial(gw)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, []byte(strings.Repeat("y", 2048))); err != nil {
		t.Fatal(err)
	}
	if code := c.closeStatus(); code != websocket.StatusMessageTooBig {
		t.Fatalf("close code %v, want 1009", code)
	}
	waitFor(t, 10*time.Second, "client forgotten", func() bool { on, _ := e.store.IsOnline(ctx, c.id); return !on })
}

// Graceful drain closes clients with 1012 and leaves no key of the gateway.
func TestDrainCloses1012AndCleansRedis(t *testing.T) {
	t.Parallel()
	e := standaloneEnv(t)
	gw := e.addGateway(gateway.Options{})
	other := e.addGateway(gateway.Options{})
	ctx := context.Background()
	var cs []*client
	for range 5 {
		c := e.dial(gw)
		if err := e.store.BindUid(ctx, c.id, "u-"+c.id); err != nil {
			t.Fatal(err)
		}
		if err := e.store.JoinGroup(ctx, c.id, "room"); err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	survivor := e.dial(other)
	gw.stop()
	for _, c := range cs {
		if code := c.closeStatus(); code != websocket.StatusServiceRestart {
			t.Fatalf("close code %v, want 1012", code)
		}
	}
	for _, k := range allKeys(t, e.rdb) {
		if strings.Contains(k, gw.g.ID()) {
			t.Fatalf("key %q of the drained gateway remains", k)
		}
	}
	if n, _ := e.store.ClientCount(ctx); n != 1 {
		t.Fatalf("ClientCount after drain = %d, want 1 (the other gateway's client)", n)
	}
	if err := e.store.SendToClient(ctx, survivor.id, []byte("still here")); err != nil {
		t.Fatal(err)
	}
	survivor.expect("still here")
}

// Heartbeat: a reading client gets the text ping and stays; a client that
// answers nothing is closed after PingNotResponseLimit intervals.
func TestHeartbeat(t *testing.T) {
	t.Parallel()
	e := standaloneEnv(t)
	gw := e.addGateway(gateway.Options{PingInterval: time.Second, PingNotResponseLimit: 1})
	alive := dialRaw(t, gw.url(), nil)
	silent := dialRaw(t, gw.url(), nil) // never reads: answers neither pings nor pongs
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, data, err := alive.ws.Read(ctx) // also answers protocol pings while reading
	if err != nil || string(data) != gateway.DefaultPingData {
		t.Fatalf("first frame after init = %q, %v; want the ping", data, err)
	}
	alive.startReading()
	waitFor(t, 15*time.Second, "silent client closed", func() bool {
		on, _ := e.store.IsOnline(context.Background(), silent.id)
		return !on
	})
	if on, _ := e.store.IsOnline(context.Background(), alive.id); !on {
		t.Fatal("a client that answers pings was closed")
	}
	// The close is counted under its cause (passed by the heartbeat, not
	// guessed from the reason text).
	if n := gw.g.CloseReasons()["heartbeat"]; n != 1 {
		t.Fatalf("heartbeat closes = %d, want 1 (%v)", n, gw.g.CloseReasons())
	}
}

// Heartbeats spread over the interval (3 sweeps per interval here) still
// ping every connection and still close every silent one, whatever its slot.
func TestHeartbeatSpread(t *testing.T) {
	t.Parallel()
	e := standaloneEnv(t)
	gw := e.addGateway(gateway.Options{PingInterval: 3 * time.Second, PingNotResponseLimit: 1})
	var alive, silent []*client
	for range 6 {
		alive = append(alive, dialRaw(t, gw.url(), nil))
		silent = append(silent, dialRaw(t, gw.url(), nil))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for _, c := range alive {
		if _, data, err := c.ws.Read(ctx); err != nil || string(data) != gateway.DefaultPingData {
			t.Fatalf("first frame after init = %q, %v; want the ping", data, err)
		}
		c.startReading()
	}
	waitFor(t, 20*time.Second, "every silent client closed", func() bool {
		for _, c := range silent {
			if on, _ := e.store.IsOnline(context.Background(), c.id); on {
				return false
			}
		}
		return true
	})
	for _, c := range alive {
		if on, _ := e.store.IsOnline(context.Background(), c.id); !on {
			t.Fatal("a client that answers pings was closed")
		}
	}
}

// The Origin allowlist refuses pages from other sites.
func TestOriginAllowlist(t *testing.T) {
	t.Parallel()
	e := standaloneEnv(t)
	gw := e.addGateway(gateway.Options{OriginPatterns: []string{"chat.example.com"}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for origin, ok := range map[string]bool{"https://chat.example.com": true, "https://evil.example.net": false} {
		ws, resp, err := websocket.Dial(ctx, gw.url(), &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {origin}}})
		if ok != (err == nil) {
			t.Fatalf("origin %s: err %v, want ok=%v", origin, err, ok)
		}
		if err == nil {
			ws.CloseNow()
		} else if resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("origin %s: response %v, want 403", origin, resp)
		}
	}
}

// By default a page from the gateway's own host on another port (the HTTP
// app's) may connect; another host may not.
func TestDefaultOriginSameHostAnyPort(t *testing.T) {
	t.Parallel()
	e := standaloneEnv(t)
	gw := e.addGateway(gateway.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for origin, ok := range map[string]bool{"http://127.0.0.1:8080": true, "http://127.0.0.1": true, "http://evil.example.net:8080": false} {
		ws, _, err := websocket.Dial(ctx, gw.url(), &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {origin}}})
		if ok != (err == nil) {
			t.Fatalf("origin %s: err %v, want ok=%v", origin, err, ok)
		}
		if err == nil {
			ws.CloseNow()
		}
	}
}

// Frames the gateway builds itself are read correctly by a real client for
// every length encoding (7-bit, 16-bit, 64-bit).
func TestFrameSizes(t *testing.T) {
	t.Parallel()
	e := standaloneEnv(t)
	gw := e.addGateway(gateway.Options{})
	c := e.dial(gw)
	for _, n := range []int{0, 1, 125, 126, 127, 65535, 65536, 200000} {
		payload := strings.Repeat("é", n/2) + strings.Repeat("z", n%2)
		if err := e.store.SendToClient(context.Background(), c.id, []byte(payload)); err != nil {
			t.Fatal(err)
		}
		c.expect(payload)
	}
}
