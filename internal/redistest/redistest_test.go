package redistest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestStartSetGet(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := Start(t)

	if !strings.HasPrefix(s.Addr(), "127.0.0.1:") {
		t.Fatalf("Addr() = %q", s.Addr())
	}
	if want := "redis://" + s.Addr() + "/0"; s.URL() != want {
		t.Fatalf("URL() = %q, want %q", s.URL(), want)
	}
	if s.PID() <= 0 {
		t.Fatalf("PID() = %d", s.PID())
	}
	if _, err := redis.ParseURL(s.URL()); err != nil {
		t.Fatalf("ParseURL(%q): %v", s.URL(), err)
	}

	rdb := s.Client(t)
	if err := rdb.Set(ctx, "greeting", "hello", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	if got, err := rdb.Get(ctx, "greeting").Result(); err != nil || got != "hello" {
		t.Fatalf("GET = %q, %v", got, err)
	}

	// Persistence is off.
	for param, want := range map[string]string{"save": "", "appendonly": "no"} {
		cfg, err := rdb.ConfigGet(ctx, param).Result()
		if err != nil {
			t.Fatalf("CONFIG GET %s: %v", param, err)
		}
		if got, ok := cfg[param]; !ok || got != want {
			t.Fatalf("CONFIG GET %s = %q (present %v), want %q", param, got, ok, want)
		}
	}
}

func TestKillRestart(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := Start(t)
	addr, oldPID := s.Addr(), s.PID()

	if err := s.Client(t).Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}

	s.Kill(t)
	s.Kill(t) // idempotent
	if s.PID() != 0 {
		t.Fatalf("PID() after Kill = %d, want 0", s.PID())
	}
	if _, err := command(addr, 200*time.Millisecond, "PING"); err == nil {
		t.Fatal("server still answers after Kill")
	}

	s.Restart(t)
	if s.Addr() != addr {
		t.Fatalf("Addr changed across Restart: %q -> %q", addr, s.Addr())
	}
	if s.PID() <= 0 || s.PID() == oldPID {
		t.Fatalf("PID after Restart = %d (old %d)", s.PID(), oldPID)
	}
	rdb := s.Client(t)
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING after Restart: %v", err)
	}
	if err := rdb.Get(ctx, "k").Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("GET k after Kill+Restart: err = %v, want redis.Nil (data must be gone)", err)
	}
}

func TestStopRestart(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := Start(t)
	rdb := s.Client(t)
	if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}

	s.Stop(t)
	s.Stop(t) // idempotent
	if s.PID() != 0 {
		t.Fatalf("PID() after Stop = %d, want 0", s.PID())
	}
	log, err := os.ReadFile(filepath.Join(s.dir, logName))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "User requested shutdown") {
		t.Fatalf("Stop did not go through SHUTDOWN; log:\n%s", log)
	}

	s.Restart(t)
	s.Restart(t) // restarting a running server stops it first
	// The client created before the restarts reconnects by itself.
	if err := rdb.Get(ctx, "k").Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("GET k after Stop+Restart: err = %v, want redis.Nil", err)
	}
}

// TestParallelStart checks that concurrent Starts get distinct, working servers.
func TestParallelStart(t *testing.T) {
	t.Parallel()
	for i := range 8 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			s := Start(t)
			rdb := s.Client(t)
			key := fmt.Sprint("owner-", i)
			if err := rdb.Set(t.Context(), key, s.PID(), 0).Err(); err != nil {
				t.Fatalf("SET: %v", err)
			}
			if n, err := rdb.DBSize(t.Context()).Result(); err != nil || n != 1 {
				t.Fatalf("DBSIZE = %d, %v; want 1 (server shared with another test?)", n, err)
			}
		})
	}
}

func TestCluster(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	begin := time.Now()
	c := StartCluster(t, 3)
	t.Logf("3-node cluster ready in %v", time.Since(begin).Round(time.Millisecond))

	addrs := c.Addrs()
	if len(addrs) != 3 {
		t.Fatalf("Addrs() = %v", addrs)
	}
	rdb := c.Client(t)

	// SET/GET keys until every master has served at least one.
	byMaster := map[string]string{} // master addr -> a key it owns
	for i := 0; len(byMaster) < len(addrs) && i < 1000; i++ {
		key := fmt.Sprint("key-", i)
		if err := rdb.Set(ctx, key, i, 0).Err(); err != nil {
			t.Fatalf("SET %s: %v", key, err)
		}
		if got, err := rdb.Get(ctx, key).Int(); err != nil || got != i {
			t.Fatalf("GET %s = %d, %v", key, got, err)
		}
		m, err := rdb.MasterForKey(ctx, key)
		if err != nil {
			t.Fatalf("MasterForKey(%s): %v", key, err)
		}
		if _, ok := byMaster[m.Options().Addr]; !ok {
			byMaster[m.Options().Addr] = key
		}
	}
	if len(byMaster) != len(addrs) {
		t.Fatalf("keys landed on masters %v, want all of %v", byMaster, addrs)
	}

	// Sharded pub/sub round trip on a channel owned by each master.
	for master, key := range byMaster {
		channel := "room:{" + key + "}" // same slot as key, so same master
		ps := rdb.SSubscribe(ctx, channel)
		msg, err := ps.Receive(ctx)
		if err != nil {
			t.Fatalf("SSUBSCRIBE %s: %v", channel, err)
		}
		if sub, ok := msg.(*redis.Subscription); !ok || sub.Kind != "ssubscribe" || sub.Channel != channel {
			t.Fatalf("SSUBSCRIBE %s confirmation = %#v", channel, msg)
		}
		n, err := rdb.SPublish(ctx, channel, "hi "+master).Result()
		if err != nil || n != 1 {
			t.Fatalf("SPUBLISH %s = %d, %v; want 1 receiver", channel, n, err)
		}
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		m, err := ps.ReceiveMessage(rctx)
		cancel()
		if err != nil {
			t.Fatalf("receive on %s: %v", channel, err)
		}
		if m.Channel != channel || m.Payload != "hi "+master {
			t.Fatalf("got message %q on %q, want %q on %q", m.Payload, m.Channel, "hi "+master, channel)
		}
		if err := ps.Close(); err != nil {
			t.Fatalf("close pubsub: %v", err)
		}
	}
}
