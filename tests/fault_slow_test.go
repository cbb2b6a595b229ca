package tests

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/chatgate/chatgate/internal/redistest"
	"github.com/chatgate/chatgate/internal/testwait"
)

// TestFaultSlowClients runs 1,000 clients that never read plus 100 normal
// ones on one gateway process while a steady broadcast stream flows. The
// normal clients must get every message with bounded latency; the slow ones
// must be closed (1008 "send queue full", or dropped on write timeout); the
// gateway's memory must stay bounded.
func TestFaultSlowClients(t *testing.T) {
	const (
		slow     = 1000
		normal   = 100
		messages = 300
		rate     = 100 // messages per second
		padding  = 1000
		// Bounds, generous for a loaded 2-core machine.
		maxRSSMB   = 128
		maxP99     = 3 * time.Second
		maxLatency = 10 * time.Second
	)
	rs := redistest.Start(t)
	gw := faultStartGateway(t, rs.URL(), "--send-queue", "16", "--write-timeout", "1s", "--ping-interval", "0", "--events=false",
		"--max-conns-per-ip", "0") // all 1,100 clients dial from 127.0.0.1
	st := faultOpenStore(t, rs.URL())

	type normalState struct {
		mu   sync.Mutex
		seen []bool
		lat  []time.Duration
	}
	normals := make([]*normalState, normal)
	for i := range normals {
		ns := &normalState{seen: make([]bool, messages)}
		normals[i] = ns
		faultConnect(t, gw.addr, func(_ *faultClient, data []byte) {
			now := time.Now()
			seq, ts, ok := faultParseLoad(data)
			if !ok || seq < 0 || seq >= messages {
				return
			}
			ns.mu.Lock()
			if !ns.seen[seq] {
				ns.seen[seq] = true
				ns.lat = append(ns.lat, now.Sub(time.Unix(0, ts)))
			}
			ns.mu.Unlock()
		})
	}

	// Slow clients: a tiny receive buffer (set before connect, so the window
	// stays small) and no reader after the init frame.
	setup := time.Now()
	slows := make([]*websocket.Conn, slow)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	var dialErr atomic.Pointer[error]
	for i := range slows {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			ws, _, _, err := faultDial(t.Context(), gw.addr, faultDialOptions{rcvBuf: 4096, mss: 1024})
			if err != nil {
				dialErr.Store(&err)
				return
			}
			slows[i] = ws
		}()
	}
	wg.Wait()
	if p := dialErr.Load(); p != nil {
		t.Fatalf("dial slow client: %v", *p)
	}
	t.Cleanup(func() {
		for _, ws := range slows {
			ws.CloseNow()
		}
	})
	testwait.For(t, 30*time.Second, "all clients registered", func() error {
		if n, err := st.ClientCount(t.Context()); err != nil || n != slow+normal {
			return fmt.Errorf("ClientCount = %d, %v", n, err)
		}
		return nil
	})
	rssStart, _ := gw.rssKB()
	t.Logf("connected %d slow clients in %v", slow, time.Since(setup).Round(time.Millisecond))

	// The stream, and an RSS sampler.
	var maxRSS atomic.Int64
	maxRSS.Store(int64(rssStart))
	ctx, stop := context.WithCancel(t.Context())
	samplerDone := make(chan struct{})
	go func() {
		defer close(samplerDone)
		tk := time.NewTicker(50 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
			}
			if kb, err := gw.rssKB(); err == nil && int64(kb) > maxRSS.Load() {
				maxRSS.Store(int64(kb))
			}
		}
	}()
	t.Cleanup(func() { stop(); <-samplerDone })
	pad := strings.Repeat("x", padding)
	start := time.Now()
	tk := time.NewTicker(time.Second / rate)
	for seq := range messages {
		<-tk.C
		msg := fmt.Sprintf(`{"type":"load","seq":%d,"ts":%d,"pad":"%s"}`, seq, time.Now().UnixNano(), pad)
		if err := st.SendToAll(t.Context(), []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	tk.Stop()
	streamed := time.Since(start)

	testwait.For(t, 30*time.Second, "normal clients get every message", func() error {
		for i, ns := range normals {
			ns.mu.Lock()
			n := len(ns.lat)
			ns.mu.Unlock()
			if n != messages {
				return fmt.Errorf("normal client %d has %d of %d messages", i, n, messages)
			}
		}
		return nil
	})
	closedIn := testwait.For(t, 30*time.Second, "slow clients closed and forgotten", func() error {
		if n, err := st.ClientCount(t.Context()); err != nil || n != normal {
			return fmt.Errorf("ClientCount = %d, %v; want %d", n, err, normal)
		}
		return nil
	})
	rssEnd, _ := gw.rssKB()

	var lat []time.Duration
	for _, ns := range normals {
		lat = append(lat, ns.lat...)
	}
	slices.Sort(lat)
	p50, p99, worst := faultPercentile(lat, 50), faultPercentile(lat, 99), lat[len(lat)-1]
	t.Logf("slow clients: %d messages of %d B at %d/s to %d normal + %d non-reading clients (streamed in %v)",
		messages, padding+60, rate, normal, slow, streamed.Round(time.Millisecond))
	t.Logf("normal clients: all %d got all %d messages; latency p50 %v, p99 %v, max %v (bounds p99 %v, max %v)",
		normal, messages, p50.Round(time.Microsecond), p99.Round(time.Microsecond), worst.Round(time.Microsecond), maxP99, maxLatency)
	t.Logf("gateway RSS: %d MiB with %d clients before the stream, peak %d MiB, %d MiB after the slow ones were closed (bound %d MiB)",
		rssStart>>10, slow+normal, maxRSS.Load()>>10, rssEnd>>10, maxRSSMB)
	if p99 > maxP99 || worst > maxLatency {
		t.Errorf("latency p99 %v / max %v over the bounds %v / %v", p99, worst, maxP99, maxLatency)
	}
	if maxRSS.Load()>>10 > maxRSSMB {
		t.Errorf("gateway peak RSS %d MiB over the bound %d MiB", maxRSS.Load()>>10, maxRSSMB)
	}

	// How each slow client was closed: read what the kernel buffered, then
	// the close frame (1008) or the end of the stream (write timeout: no frame).
	readback := time.Now()
	codes := map[string]int{}
	var mu sync.Mutex
	for _, ws := range slows {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			rctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			kind := ""
			for kind == "" {
				_, _, err := ws.Read(rctx)
				switch {
				case err == nil:
				case websocket.CloseStatus(err) != -1:
					kind = fmt.Sprintf("close %d", websocket.CloseStatus(err))
				case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
					strings.Contains(err.Error(), "reset by peer") || strings.Contains(err.Error(), "EOF"):
					kind = "connection dropped (write timeout)"
				default:
					kind = "other: " + err.Error()
				}
			}
			mu.Lock()
			codes[kind]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	t.Logf("read back what the slow clients had buffered in %v", time.Since(readback).Round(time.Millisecond))
	t.Logf("slow clients closed within %v after the stream: %v", closedIn.Round(time.Millisecond), codes)
	for kind, n := range codes {
		if kind != "close 1008" && kind != "connection dropped (write timeout)" {
			t.Errorf("%d slow clients ended with %s", n, kind)
		}
	}
}

// faultParseLoad reads seq and ts from {"type":"load","seq":N,"ts":N,...}
// without decoding the padding (the readers must stay cheap under -race).
func faultParseLoad(data []byte) (seq int, ts int64, ok bool) {
	const head = `{"type":"load","seq":`
	rest, found := strings.CutPrefix(string(data), head)
	if !found {
		return 0, 0, false
	}
	seqText, rest, found := strings.Cut(rest, `,"ts":`)
	if !found {
		return 0, 0, false
	}
	tsText, _, found := strings.Cut(rest, ",")
	if !found {
		return 0, 0, false
	}
	seq, err1 := strconv.Atoi(seqText)
	ts, err2 := strconv.ParseInt(tsText, 10, 64)
	return seq, ts, err1 == nil && err2 == nil
}
