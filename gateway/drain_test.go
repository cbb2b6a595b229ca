package gateway_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/chatgate/chatgate/gateway"
	"github.com/chatgate/chatgate/session"
)

// A connection upgraded while the drain begins (its handshake was in flight
// when the drain took its list of clients) is closed with 1012 at once, and
// the drain does not wait for it until DrainTimeout.
func TestDrainClosesLateUpgradeAtOnce(t *testing.T) {
	t.Parallel()
	const drainTimeout = 20 * time.Second
	e := standaloneEnv(t)
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	gw := e.addGateway(gateway.Options{DrainTimeout: drainTimeout, Authenticate: func(r *http.Request) (string, error) {
		if r.URL.Query().Get("late") != "" {
			once.Do(func() { close(entered) })
			<-release // hold the upgrade until the drain has begun
		}
		return "", nil
	}})
	early := e.dial(gw)

	type dialed struct {
		ws  *websocket.Conn
		err error
	}
	late := make(chan dialed, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go func() {
		ws, _, err := websocket.Dial(ctx, gw.url()+"?late=1", nil)
		late <- dialed{ws, err}
	}()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the late upgrade did not reach the gateway")
	}
	start := time.Now()
	stopped := make(chan struct{})
	go func() { defer close(stopped); gw.stop() }()
	waitFor(t, 10*time.Second, "the drain to begin", func() bool {
		err := gw.g.Ready()
		return err != nil && err.Error() == "draining"
	})
	close(release)

	d := <-late
	if d.err != nil {
		t.Fatalf("late dial: %v", d.err)
	}
	defer d.ws.CloseNow()
	rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
	defer rcancel()
	var err error
	for err == nil {
		_, _, err = d.ws.Read(rctx)
	}
	if code := websocket.CloseStatus(err); code != websocket.StatusServiceRestart {
		t.Fatalf("late client: read ended with %v after %v; want close 1012 at once", err, time.Since(start).Round(time.Millisecond))
	}
	if code := early.closeStatus(); code != websocket.StatusServiceRestart {
		t.Fatalf("early client closed with %v, want 1012", code)
	}
	select {
	case <-stopped:
	case <-time.After(drainTimeout / 2):
		t.Fatalf("Run did not return within %v of the drain (DrainTimeout %v): it waited for the late client", drainTimeout/2, drainTimeout)
	}
	t.Logf("late client closed with 1012; Run returned %v after the drain began", time.Since(start).Round(time.Millisecond))
}

// Past DrainTimeout, Run drops the clients left and still returns only once
// every reader and request has ended: one reader is stuck on a client that
// never answers the close handshake, another in a Redis call that does not
// answer (its ForgetClient stalls until its deadline), and an upgrade
// request is still checking its token (Authenticate, which may use the
// store) when the deadline passes. Nothing touches the store after Run
// returned, and the drain still cleans both clients out of Redis.
func TestRunWaitsForReadersAfterDrainTimeout(t *testing.T) {
	t.Parallel()
	const drainTimeout = 500 * time.Millisecond
	e := standaloneEnv(t)
	store := &watchedStore{real: session.New(e.rdb, &session.Options{Logger: testLogger(t)})}
	authEntered := make(chan struct{})
	slowAuth := func(r *http.Request) (string, error) {
		if r.URL.Query().Get("slow") != "" {
			defer store.call("Authenticate")()
			close(authEntered)
			time.Sleep(drainTimeout + time.Second) // ends well after the drain's deadline
		}
		return "", nil
	}
	g, err := gateway.New(store, withTestEngine(&gateway.Options{DrainTimeout: drainTimeout, RedisTimeout: 10 * time.Second, Authenticate: slowAuth, Logger: testLogger(t)}))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = g.Run(ctx)
		store.runReturned()
	}()
	waitFor(t, 10*time.Second, "gateway ready", func() bool { return g.Ready() == nil })
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/"

	stalled := dialRaw(t, url, nil) // answers the close, then its forget stalls in Redis
	stalled.startReading()
	store.stall(stalled.id)
	mute := dialRaw(t, url, nil) // never reads again: never answers the close handshake
	slowDone := make(chan struct{})
	go func() {
		defer close(slowDone)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if ws, _, err := websocket.Dial(ctx, url+"?slow=1", nil); err == nil {
			ws.CloseNow() // refused by then: the gateway drained
		}
	}()
	defer func() { <-slowDone }()
	<-authEntered

	start := time.Now()
	cancel()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return")
	}
	took := time.Since(start)
	if calls := store.lateCalls(); len(calls) > 0 {
		t.Fatalf("store calls in progress or made after Run returned: %v", calls)
	}
	// The bound is DrainTimeout plus Redis work; 4s is under the 5s a close
	// handshake may take and the 10s RedisTimeout of the stalled call.
	if took > 4*time.Second {
		t.Fatalf("Run returned %v after ctx ended (DrainTimeout %v)", took, drainTimeout)
	}
	if code := stalled.closeStatus(); code != websocket.StatusServiceRestart {
		t.Fatalf("client closed with %v, want 1012", code)
	}
	for _, c := range []*client{stalled, mute} {
		if on, err := e.store.IsOnline(context.Background(), c.id); err != nil || on {
			t.Fatalf("client %s still online after the drain (%v)", c.id, err)
		}
	}
	for _, k := range allKeys(t, e.rdb) {
		if strings.Contains(k, g.ID()) {
			t.Fatalf("key %q of the drained gateway remains", k)
		}
	}
	t.Logf("Run returned %v after ctx ended, every reader stopped (DrainTimeout %v)", took.Round(time.Millisecond), drainTimeout)
}

// watchedStore passes every call to a real session.Store. ForgetClient for
// the stalled client does not return before its ctx ends, as when Redis does
// not answer. It records calls in progress when Run returned, and later ones.
type watchedStore struct {
	real *session.Store

	mu       sync.Mutex
	stalled  string
	active   map[string]int
	returned bool
	late     []string
}

var _ gateway.Registry = (*watchedStore)(nil)

func (s *watchedStore) stall(cid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stalled = cid
}

// call records a call to name and returns its end.
func (s *watchedStore) call(name string) func() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.active == nil {
		s.active = map[string]int{}
	}
	s.active[name]++
	if s.returned {
		s.late = append(s.late, name+" started after Run returned")
	}
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.active[name]--
		if s.returned {
			s.late = append(s.late, name+" ended after Run returned")
		}
	}
}

func (s *watchedStore) runReturned() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.returned = true
	for name, n := range s.active {
		for range n {
			s.late = append(s.late, name+" in progress when Run returned")
		}
	}
}

func (s *watchedStore) lateCalls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.late...)
}

func (s *watchedStore) RegisterClient(ctx context.Context, c *session.ClientState) error {
	defer s.call("RegisterClient")()
	return s.real.RegisterClient(ctx, c)
}

func (s *watchedStore) RegisterClients(ctx context.Context, cs []*session.ClientState) error {
	defer s.call("RegisterClients")()
	return s.real.RegisterClients(ctx, cs)
}

func (s *watchedStore) ForgetClient(ctx context.Context, c *session.ClientState) (*session.ClientState, error) {
	defer s.call("ForgetClient")()
	s.mu.Lock()
	stall := c.ID == s.stalled
	s.mu.Unlock()
	if stall {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return s.real.ForgetClient(ctx, c)
}

func (s *watchedStore) UndoStray(ctx context.Context, gw string, env *session.Envelope, cid string) error {
	defer s.call("UndoStray")()
	return s.real.UndoStray(ctx, gw, env, cid)
}

func (s *watchedStore) MarkAlive(ctx context.Context, gw string, ttl time.Duration) (bool, error) {
	defer s.call("MarkAlive")()
	return s.real.MarkAlive(ctx, gw, ttl)
}

func (s *watchedStore) RemoveGateway(ctx context.Context, gw string) error {
	defer s.call("RemoveGateway")()
	return s.real.RemoveGateway(ctx, gw)
}

func (s *watchedStore) Listen(ctx context.Context, gw string, h session.InboxHandler, opts *session.ListenOptions) error {
	defer s.call("Listen")()
	return s.real.Listen(ctx, gw, h, opts)
}

func (s *watchedStore) AppendEvents(ctx context.Context, es []*session.Event, maxLen int64) error {
	defer s.call("AppendEvents")()
	return s.real.AppendEvents(ctx, es, maxLen)
}

func (s *watchedStore) ForgetStaleClients(ctx context.Context, gw string, held func(cid string) bool, opts *session.ReaperOptions) (int, error) {
	defer s.call("ForgetStaleClients")()
	return s.real.ForgetStaleClients(ctx, gw, held, opts)
}
