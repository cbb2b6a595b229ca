package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/chatgate/chatgate/internal/app"
	"github.com/chatgate/chatgate/internal/config"
	"github.com/chatgate/chatgate/internal/redistest"
	"github.com/chatgate/chatgate/internal/testwait"
	"github.com/chatgate/chatgate/session"
)

// startGateways runs n real gateways in-process on a real redis-server and
// returns their WebSocket addresses and the Redis URL.
func startGateways(t *testing.T, n int) ([]*net.TCPAddr, string) {
	t.Helper()
	rs := redistest.Start(t)
	var addrs []*net.TCPAddr
	for i := range n {
		cfg, err := config.Load("bench-test", []string{"--redis-url", rs.URL(), "--ws-addr", "127.0.0.1:0",
			"--http-addr", "127.0.0.1:0", "--internal-addr", "127.0.0.1:0", "--ping-interval", "0", "--events=false", "--allow-unsigned", "--gateway-id", "t" + strconv.Itoa(i)},
			func(string) string { return "" }, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		started := make(chan app.Started, 1)
		done := make(chan error, 1)
		go func() {
			done <- app.Run(ctx, app.RoleGateway, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), func(s app.Started) { started <- s })
		}()
		t.Cleanup(func() { cancel(); <-done })
		select {
		case s := <-started:
			// started comes before the inbox subscription is up; until
			// then the gateway refuses upgrades (503).
			testwait.StatusOK(t, 20*time.Second, "http://"+s.InternalAddr+"/readyz")
			a, err := net.ResolveTCPAddr("tcp4", s.WSAddr)
			if err != nil {
				t.Fatal(err)
			}
			addrs = append(addrs, a)
		case err := <-done:
			done <- err // for the cleanup
			t.Fatalf("gateway %d: %v", i, err)
		case <-time.After(20 * time.Second):
			t.Fatalf("gateway %d did not start (see scripts/test.sh for redis-server)", i)
		}
	}
	return addrs, rs.URL()
}

// The client worker opens its connections over two gateways, binds and joins
// them, and counts each delivery of a message sent inside its window, and
// only those: a generator that miscounts would make every figure wrong.
func TestClientWorkerCountsDeliveries(t *testing.T) {
	addrs, url := startGateways(t, 2)
	const conns, rooms = 40, 2 // 20 members per room, 10 on each gateway
	w, err := newClientWorker(clientConfig{sys: sysChatgate, targets: addrs, count: conns, rooms: rooms,
		redisURL: url, prefix: session.DefaultPrefix, dialConc: 4, loops: 2, timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer w.shutdown()
	rep := w.setup()
	if rep.Connected != conns || rep.Failed != 0 || rep.Rooms[0] != 20 || rep.Rooms[1] != 20 {
		t.Fatalf("setup: %+v", rep)
	}
	store, err := session.Open(context.Background(), url, 5*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()

	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	served := make(chan error, 1)
	go func() { served <- w.serve(inR, json.NewEncoder(outW)) }()
	dec := json.NewDecoder(outR)
	send := func(c command) {
		t.Helper()
		b, _ := json.Marshal(c)
		if _, err := inW.Write(append(b, '\n')); err != nil {
			t.Fatal(err)
		}
	}

	now := time.Now().UnixMicro()
	send(command{Cmd: "step", WinStart: now, WinEnd: now + 60e6})
	body := content(64)
	ctx := context.Background()
	// Two messages inside the window (one per room), one before it.
	for _, m := range []struct {
		room string
		ts   int64
	}{{"r0", now + 1}, {"r1", now + 2}, {"r0", now - 1000}} {
		if err := store.SendToGroup(ctx, m.room, serverPayload(sysChatgate, m.room, body, m.ts)); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	var r stepReport
	for {
		send(command{Cmd: "report"})
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		if r.Count+r.Outside >= 60 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if r.Count != 40 || r.Outside != 20 || r.Closed != 0 {
		t.Fatalf("report: count %d (want 40), outside %d (want 20), closed %d", r.Count, r.Outside, r.Closed)
	}
	h := newHist()
	h.merge(r.Hist, r.Max)
	if h.n != 40 || h.quantile(0.5) <= 0 {
		t.Fatalf("histogram: n=%d p50=%dµs", h.n, h.quantile(0.5))
	}
	send(command{Cmd: "quit"})
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	_ = inW.Close()
	_ = outW.Close()
}
