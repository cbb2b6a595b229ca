package httpapi

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/chatdata"
	"github.com/chatgate/chatgate/internal/redistest"
	"github.com/chatgate/chatgate/internal/testwait"
	"github.com/chatgate/chatgate/internal/token"
	"github.com/chatgate/chatgate/session"
)

// pauseHook runs a function once, right after the n-th command (or
// pipeline) a client sends while armed: a fault injected between two steps
// of a request, on a real Redis.
type pauseHook struct {
	mu    sync.Mutex
	left  int // commands until the pause; 0: disarmed
	pause func()
}

func (h *pauseHook) arm(n int, pause func()) {
	h.mu.Lock()
	h.left, h.pause = n, pause
	h.mu.Unlock()
}

// disarm returns whether the pause ran.
func (h *pauseHook) disarm() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	ran := h.left == 0 && h.pause == nil
	h.left, h.pause = 0, nil
	return ran
}

func (h *pauseHook) step() {
	h.mu.Lock()
	var run func()
	if h.left > 0 {
		if h.left--; h.left == 0 {
			run, h.pause = h.pause, nil
		}
	}
	h.mu.Unlock()
	if run != nil {
		run()
	}
}

func (h *pauseHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *pauseHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		h.step()
		return err
	}
}

func (h *pauseHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		h.step()
		return err
	}
}

// TestPresenceConvergesWhenBindRacesClose (issue 10 item 8): a connection
// that closes while its bind is under way must not stay announced in
// members:{room}. Two replicas share one real redis-server: one serves the
// binds, its Redis client pausing after its k-th command (k swept over every
// step of a bind) while the connection closes as a gateway closes it and
// the other replica's close-notice consumer handles the close event; every
// other iteration instead races the close against the bind freely. After
// each, members:{room} must not hold the user.
func TestPresenceConvergesWhenBindRacesClose(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	const prefix = "presence:"
	hook := &pauseHook{}
	binderRdb := redis.NewClient(&redis.Options{Addr: rs.Addr(), ContextTimeoutEnabled: true})
	binderRdb.AddHook(hook)
	plainRdb := redis.NewClient(&redis.Options{Addr: rs.Addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = binderRdb.Close(); _ = plainRdb.Close() })
	signer := token.NewSigner([]byte("test-secret"), time.Minute)
	binder, err := New(session.New(binderRdb, &session.Options{Prefix: prefix}), chatdata.New(binderRdb, &chatdata.Options{Prefix: prefix}), &Options{Tokens: signer, Logger: testLogger(t), DefaultRoom: "-",
		LoginPerMinute: -1, EnterPerMinute: -1, BindPerMinute: -1})
	if err != nil {
		t.Fatal(err)
	}
	plain := session.New(plainRdb, &session.Options{Prefix: prefix})
	plainChat := chatdata.New(plainRdb, &chatdata.Options{Prefix: prefix})
	consumer, err := New(plain, plainChat, &Options{Tokens: signer, Logger: testLogger(t), DefaultRoom: "-"})
	if err != nil {
		t.Fatal(err)
	}
	e := &testEnv{t: t, store: plain, chat: plainChat, srv: binder, signer: signer}
	e.run(consumer)
	ctx := context.Background()
	members := func(room string) []string {
		t.Helper()
		m, err := plainRdb.SMembers(ctx, prefix+"members:{"+room+"}").Result()
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	// settled waits until the consumer has handled every close event.
	settled := func() {
		t.Helper()
		testwait.For(t, 10*time.Second, "close events handled", func() error {
			last, err := plainRdb.XRevRangeN(ctx, prefix+"events", "+", "-", 1).Result()
			if err != nil || len(last) == 0 {
				return fmt.Errorf("no events: %v", err)
			}
			groups, err := plainRdb.XInfoGroups(ctx, prefix+"events").Result()
			if err != nil {
				return err
			}
			for _, g := range groups {
				if g.Name == "chat-notices" && g.LastDeliveredID == last[0].ID && g.Pending == 0 {
					return nil
				}
			}
			return fmt.Errorf("consumer behind: %+v, last %s", groups, last[0].ID)
		})
	}
	e.room("race")
	const iterations, steps = 96, 16
	var paused atomic.Int32
	for i := range iterations {
		c := e.client()
		c.login(fmt.Sprintf("U%d", i))
		c.enter("race")
		cid := e.connect("gwa", "")
		closeConn := func() { e.closeLikeGateway(cid, c.me.Uid, "race") }
		if i%2 == 0 {
			hook.arm(i/2%steps+1, func() { closeConn(); settled(); paused.Add(1) })
			c.do("POST", "/api/bind", bindRequest{ClientID: cid})
			if !hook.disarm() {
				closeConn() // the bind had fewer commands: close after it
			}
		} else {
			var wg sync.WaitGroup
			wg.Go(func() { c.do("POST", "/api/bind", bindRequest{ClientID: cid}) })
			wg.Go(closeConn)
			wg.Wait()
		}
		settled()
		if m := members("race"); slices.Contains(m, c.me.Uid) {
			t.Fatalf("iteration %d (pause after command %d): %s's only connection closed, yet members:{race} = %v", i, i/2%steps+1, c.me.Uid, m)
		}
	}
	if paused.Load() < steps/2 {
		t.Fatalf("the pause ran in %d iterations only: the sweep does not cover a bind", paused.Load())
	}
	// The marker: a bind that nothing races is announced and stays.
	c := e.client()
	c.login("Stays")
	c.enter("race")
	if r := c.do("POST", "/api/bind", bindRequest{ClientID: e.connect("gwa", "")}); r.status != 200 {
		t.Fatalf("bind: %d %s", r.status, r.body)
	}
	if m := members("race"); !slices.Equal(m, []string{c.me.Uid}) {
		t.Fatalf("members:{race} = %v, want only %s", m, c.me.Uid)
	}
}
