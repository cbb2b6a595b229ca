package session

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

type observation struct {
	cmd string
	err error
}

// TestInstrumentObserves checks what Instrument reports for commands,
// pipelines, missing keys (not an error), failures and dials.
func TestInstrumentObserves(t *testing.T) {
	t.Parallel()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	s := New(rdb, &Options{Prefix: "inst:"})
	var (
		mu  sync.Mutex
		got []observation
	)
	s.Instrument(func(cmd string, d time.Duration, err error) {
		if d < 0 {
			t.Errorf("%s: negative duration %v", cmd, d)
		}
		mu.Lock()
		got = append(got, observation{cmd, err})
		mu.Unlock()
	})
	s.Instrument(nil) // ignored
	ctx := context.Background()
	take := func() []observation {
		mu.Lock()
		defer mu.Unlock()
		out := got
		got = nil
		return out
	}
	tests := []struct {
		name    string
		do      func() error
		wantCmd string
		wantErr bool
	}{
		{name: "command", do: func() error { return s.rdb.Set(ctx, "inst:k", "v", 0).Err() }, wantCmd: "set"},
		{name: "missing key is not an error", do: func() error {
			if err := s.rdb.Get(ctx, "inst:none").Err(); !errors.Is(err, redis.Nil) {
				return err
			}
			return nil
		}, wantCmd: "get"},
		{name: "pipeline", do: func() error {
			_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
				p.Incr(ctx, "inst:n")
				p.Incr(ctx, "inst:n")
				return nil
			})
			return err
		}, wantCmd: "pipeline"},
		{name: "NOSCRIPT is not an error", do: func() error {
			return redis.NewScript("return 1").Run(ctx, s.rdb, []string{"inst:x"}).Err()
		}, wantCmd: "evalsha"},
		{name: "failure", do: func() error {
			if err := s.rdb.Incr(ctx, "inst:k").Err(); err == nil {
				return errors.New("INCR of a string succeeded")
			}
			return nil
		}, wantCmd: "incr", wantErr: true},
	}
	// The first command dials; the connection handshake (HELLO, CLIENT
	// SETINFO, which miniredis rejects) is not reported.
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if obs := take(); len(obs) != 2 || obs[0].cmd != "dial" || obs[1].cmd != "ping" || obs[1].err != nil {
		t.Fatalf("first command: got %+v, want dial then ping, no handshake", obs)
	}
	for _, tt := range tests { // sequential: they share the observer
		if err := tt.do(); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		var obs []observation
		for _, o := range take() {
			if o.cmd != "dial" { // pipelines may dial their own pool
				obs = append(obs, o)
			}
		}
		if len(obs) > 0 && obs[0].cmd == "evalsha" && len(obs) == 2 && obs[1].cmd == "eval" {
			obs = obs[:1] // the NOSCRIPT fallback
		}
		if len(obs) != 1 || obs[0].cmd != tt.wantCmd || (obs[0].err != nil) != tt.wantErr {
			t.Errorf("%s: got %+v, want one %q with error %v", tt.name, obs, tt.wantCmd, tt.wantErr)
		}
	}
}
