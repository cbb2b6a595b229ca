package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"time"

	"github.com/alicebob/miniredis/v2"
)

// embeddedClockTick is how often the embedded Redis's TTLs count down. A key
// may expire up to one tick early (the elapsed time is taken off every key
// at each tick); each tick walks every key once under the server's lock.
const embeddedClockTick = 250 * time.Millisecond

// embeddedRedis is the in-memory Redis of all-in-one mode (miniredis). It
// requires a random password, so other local users cannot read sessions
// from it (issue 10 item 12); the URL carries it, for local apps that push.
// A goroutine it owns counts TTLs down until Close.
type embeddedRedis struct {
	mr   *miniredis.Miniredis
	url  string
	stop context.CancelFunc
	done chan struct{}
}

// startEmbeddedRedis starts the embedded Redis on addr (host:port, port 0
// picks one).
func startEmbeddedRedis(addr string) (*embeddedRedis, error) {
	pw := make([]byte, 24)
	if _, err := rand.Read(pw); err != nil {
		return nil, fmt.Errorf("generate embedded redis password: %w", err)
	}
	mr := miniredis.NewMiniRedis()
	mr.RequireAuth(hex.EncodeToString(pw))
	if err := mr.StartAddr(addr); err != nil {
		return nil, fmt.Errorf("start embedded redis on %s: %w", addr, err)
	}
	u := url.URL{Scheme: "redis", User: url.UserPassword("", hex.EncodeToString(pw)), Host: mr.Addr(), Path: "/0"}
	ctx, cancel := context.WithCancel(context.Background())
	e := &embeddedRedis{mr: mr, url: u.String(), stop: cancel, done: make(chan struct{})}
	go e.runClock(ctx, embeddedClockTick)
	return e, nil
}

// runClock makes TTLs expire: miniredis moves them only when told
// (FastForward), so without this no key would ever expire — rate-limit
// windows, logins, revocations, profiles (issue 10 item 1). miniredis's own
// ClockTTL would advance them on every command instead, walking and sorting
// every key each time; one walk per tick costs less under load.
func (e *embeddedRedis) runClock(ctx context.Context, tick time.Duration) {
	defer close(e.done)
	t := time.NewTicker(tick)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			e.mr.FastForward(now.Sub(last))
			last = now
		}
	}
}

// Close stops the clock, then the server.
func (e *embeddedRedis) Close() {
	e.stop()
	<-e.done
	e.mr.Close()
}
