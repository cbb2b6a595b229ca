package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/gateway"
	"github.com/chatgate/chatgate/internal/redistest"
	"github.com/chatgate/chatgate/session"
)

// Benchmarks of the delivery hot path: one message to 1,000 local
// connections, handed to the gateway directly (decode excluded) and sent
// through Redis with Store.SendToGroup (one EVALSHA, pub/sub, decode).
// ns/op and allocs/op cover the whole delivery to all 1,000 connections,
// including the in-process raw clients' reads (which allocate nothing).
//
//	go test ./gateway -run '^$' -bench . -benchmem
//
// docs/BENCHMARKS.md quotes them.

const benchConns = 1000

// benchPayload is a 64-byte chat message in the chat app's shape.
var benchPayload = `{"type":"say","from":"u12","content":"` + strings.Repeat("x", 64) + `","ts":1732612345123456}`

// benchGateway is one gateway on a real redis-server with n raw clients in
// group "room". Its readers count every text frame into got.
type benchGateway struct {
	g      *gateway.Gateway
	store  *session.Store
	srv    *httptest.Server
	cancel context.CancelFunc
	done   chan error
	conns  []net.Conn
	cids   []string

	got     atomic.Int64
	want    atomic.Int64
	reached chan struct{}
	readers sync.WaitGroup
}

// benchEngines are the engines the benchmarks compare (sub-benchmarks).
var benchEngines = []string{gateway.EngineStd, gateway.EngineNbio}

func newBenchGateway(b *testing.B, engine string, n int) *benchGateway {
	b.Helper()
	rs := redistest.Start(b)
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr(), ContextTimeoutEnabled: true})
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	store := session.New(rdb, &session.Options{Logger: quiet})
	g, err := gateway.New(store, &gateway.Options{Engine: engine, PingInterval: -1, MaxConnsPerIP: -1, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	bg := &benchGateway{g: g, store: store, srv: httptest.NewServer(g), cancel: cancel, done: make(chan error, 1), reached: make(chan struct{}, 1)}
	go func() { bg.done <- g.Run(ctx) }()
	b.Cleanup(func() { bg.stop(b); _ = rdb.Close() })
	deadline := time.Now().Add(20 * time.Second)
	for g.Ready() != nil {
		if time.Now().After(deadline) {
			b.Fatalf("gateway not ready: %v", g.Ready())
		}
		time.Sleep(10 * time.Millisecond)
	}
	for range n {
		c, cid, rest, err := benchDial(bg.srv.Listener.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		bg.conns = append(bg.conns, c)
		bg.cids = append(bg.cids, cid)
		// Redis membership for SendToGroup, and the local index at once
		// (the inbox applies the same join again, idempotently).
		if err := store.JoinGroup(context.Background(), cid, "room"); err != nil {
			b.Fatal(err)
		}
		g.HandleEnvelope(&session.Envelope{Op: session.OpJoin, Clients: []string{cid}, Groups: []string{"room"}})
		bg.readers.Add(1)
		go bg.read(c, rest)
	}
	return bg
}

// stop closes the clients first (the gateway forgets them at once), then
// drains the gateway and waits for everything to end.
func (bg *benchGateway) stop(b *testing.B) {
	for _, c := range bg.conns {
		_ = c.Close()
	}
	bg.readers.Wait()
	bg.cancel()
	select {
	case <-bg.done:
	case <-time.After(30 * time.Second):
		b.Error("gateway did not stop")
	}
	bg.srv.Close()
}

// benchDial opens a raw WebSocket client connection and reads the init frame.
func benchDial(addr string) (net.Conn, string, []byte, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, "", nil, err
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET / HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		return nil, "", nil, err
	}
	br := bufio.NewReader(c)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return nil, "", nil, fmt.Errorf("upgrade: %w", err)
		}
		if line == "\r\n" {
			break
		}
	}
	var hdr [2]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return nil, "", nil, err
	}
	init := make([]byte, hdr[1]&0x7f)
	if _, err := io.ReadFull(br, init); err != nil {
		return nil, "", nil, err
	}
	const k = `"client_id":"`
	i := bytes.Index(init, []byte(k))
	if i < 0 {
		return nil, "", nil, fmt.Errorf("bad init frame %q", init)
	}
	cid, _, _ := bytes.Cut(init[i+len(k):], []byte(`"`))
	rest, _ := br.Peek(br.Buffered())
	_ = c.SetDeadline(time.Time{})
	return c, string(cid), append([]byte(nil), rest...), nil
}

// read counts whole text frames; it allocates nothing per frame.
func (bg *benchGateway) read(c net.Conn, buf []byte) {
	defer bg.readers.Done()
	data := make([]byte, 0, 64<<10)
	data = append(data, buf...)
	for {
		for {
			n := benchFrameLen(data)
			if n == 0 {
				break
			}
			data = data[:copy(data, data[n:])]
			if bg.got.Add(1) == bg.want.Load() {
				bg.reached <- struct{}{}
			}
		}
		if len(data) == cap(data) {
			return // a frame larger than the buffer: not sent by these benchmarks
		}
		m, err := c.Read(data[len(data):cap(data)])
		if err != nil {
			return
		}
		data = data[:len(data)+m]
	}
}

// benchFrameLen returns the length of the whole unmasked frame at the start
// of b, or 0 when b does not hold one yet.
func benchFrameLen(b []byte) int {
	if len(b) < 2 {
		return 0
	}
	l, h := int(b[1]&0x7f), 2
	switch l {
	case 126:
		if len(b) < 4 {
			return 0
		}
		l, h = int(binary.BigEndian.Uint16(b[2:])), 4
	case 127:
		if len(b) < 10 {
			return 0
		}
		l, h = int(binary.BigEndian.Uint64(b[2:])), 10
	}
	if len(b) < h+l {
		return 0
	}
	return h + l
}

// deliverN sends b.N messages with send, each time waiting until all n
// clients received it.
func (bg *benchGateway) deliverN(b *testing.B, n int, send func() error) {
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		bg.want.Store(int64(i+1) * int64(n))
		if err := send(); err != nil {
			b.Fatal(err)
		}
		select {
		case <-bg.reached:
		case <-time.After(30 * time.Second):
			b.Fatalf("message %d: %d of %d deliveries", i, bg.got.Load()-int64(i*n), n)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
}

func BenchmarkDeliverToGroup(b *testing.B) {
	for _, engine := range benchEngines {
		b.Run(engine, func(b *testing.B) { benchDeliverToGroup(b, engine) })
	}
}

func benchDeliverToGroup(b *testing.B, engine string) {
	bg := newBenchGateway(b, engine, benchConns)
	env := &session.Envelope{Op: session.OpSend, Groups: []string{"room"}, Payload: benchPayload}
	b.Run("local", func(b *testing.B) {
		bg.got.Store(0)
		bg.deliverN(b, benchConns, func() error { bg.g.HandleEnvelope(env); return nil })
	})
	b.Run("via-redis", func(b *testing.B) {
		bg.got.Store(0)
		payload := []byte(benchPayload)
		bg.deliverN(b, benchConns, func() error {
			return bg.store.SendToGroup(context.Background(), "room", payload)
		})
	})
}

// BenchmarkIdleConnMemory opens max(b.N, 1000) idle connections, each bound
// to a uid and in one of 20 groups, and reports the growth per connection of
// this process's heap objects and goroutine stacks (runtime/metrics, after a
// GC), once per engine. The raw clients in this process hold a net.Conn
// each and no goroutine, a few hundred bytes included in heap-B/conn.
func BenchmarkIdleConnMemory(b *testing.B) {
	for _, engine := range benchEngines {
		b.Run(engine, func(b *testing.B) { benchIdleConnMemory(b, engine) })
	}
}

func benchIdleConnMemory(b *testing.B, engine string) {
	n := max(b.N, 1000)
	samples := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/stacks:bytes"},
		{Name: "/sched/goroutines:goroutines"},
	}
	read := func() []float64 {
		// Twice: objects with a finalizer (coder/websocket's Conn, dropped
		// by the nbio engine after the handshake) are freed by the second.
		runtime.GC()
		runtime.GC()
		metrics.Read(samples)
		out := make([]float64, len(samples))
		for i, s := range samples {
			out[i] = float64(s.Value.Uint64())
		}
		return out
	}
	bg := newBenchGateway(b, engine, 0)
	before := read()
	var clients []net.Conn
	defer func() {
		for _, c := range clients {
			_ = c.Close()
		}
	}()
	b.ResetTimer()
	for i := range n {
		c, cid, _, err := benchDial(bg.srv.Listener.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		clients = append(clients, c)
		bg.g.HandleEnvelope(&session.Envelope{Op: session.OpBind, Clients: []string{cid}, Uids: []string{fmt.Sprint("u", i)}})
		bg.g.HandleEnvelope(&session.Envelope{Op: session.OpJoin, Clients: []string{cid}, Groups: []string{fmt.Sprint("room", i%20)}})
	}
	b.StopTimer()
	after := read()
	per := func(i int) float64 { return (after[i] - before[i]) / float64(n) }
	b.ReportMetric(per(0), "heap-B/conn")
	b.ReportMetric(per(1), "stack-B/conn")
	b.ReportMetric(per(2), "goroutines/conn")
	if got := bg.g.Connections(); got != n {
		b.Fatal(fmt.Errorf("%d of %d connections held", got, n))
	}
}
