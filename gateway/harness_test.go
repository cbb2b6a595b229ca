package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/gateway"
	"github.com/chatgate/chatgate/internal/redistest"
	"github.com/chatgate/chatgate/internal/testwait"
	"github.com/chatgate/chatgate/session"
)

// testEngine is the engine gateways under test use when their options do
// not name one: CHATGATE_TEST_WS_ENGINE (scripts/modules.sh runs this
// package once per engine), else the default.
var testEngine = os.Getenv("CHATGATE_TEST_WS_ENGINE")

// withTestEngine sets opts.Engine to testEngine unless the test chose one.
func withTestEngine(opts *gateway.Options) *gateway.Options {
	if opts.Engine == "" {
		opts.Engine = testEngine
	}
	return opts
}

// backend is a Redis deployment the contract suite runs against.
type backend struct {
	name    string
	newConn func(t *testing.T) redis.UniversalClient
}

// backends returns standalone redis-server and a 3-master Redis Cluster.
func backends() []backend {
	return []backend{
		{"standalone", func(t *testing.T) redis.UniversalClient {
			srv := redistest.Start(t)
			return redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true})
		}},
		{"cluster", func(t *testing.T) redis.UniversalClient {
			c := redistest.StartCluster(t, 3)
			return redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), ContextTimeoutEnabled: true})
		}},
	}
}

// env is a Redis plus gateways sharing it, and a push-API store.
type env struct {
	t     *testing.T
	rdb   redis.UniversalClient
	store *session.Store
	gws   []*testGateway
}

type testGateway struct {
	g      *gateway.Gateway
	srv    *httptest.Server
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

func newEnv(t *testing.T, rdb redis.UniversalClient) *env {
	t.Helper()
	t.Cleanup(func() { _ = rdb.Close() })
	return &env{t: t, rdb: rdb, store: session.New(rdb, nil)}
}

// addGateway starts a gateway with its own Store over the shared client.
func (e *env) addGateway(opts gateway.Options) *testGateway {
	e.t.Helper()
	opts.Logger = testLogger(e.t)
	store := session.New(e.rdb, &session.Options{Logger: opts.Logger})
	opts.Recovery = store.Recovery
	withTestEngine(&opts)
	g, err := gateway.New(store, &opts)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tg := &testGateway{g: g, srv: httptest.NewServer(g), cancel: cancel, done: make(chan error, 1)}
	go func() { tg.done <- g.Run(ctx) }()
	e.t.Cleanup(tg.stop)
	waitFor(e.t, 10*time.Second, "gateway ready", func() bool { return g.Ready() == nil })
	e.gws = append(e.gws, tg)
	return tg
}

// stop drains the gateway and waits for Run to return.
func (tg *testGateway) stop() {
	tg.once.Do(func() {
		tg.cancel()
		select {
		case <-tg.done:
		case <-time.After(30 * time.Second):
			panic("gateway did not stop")
		}
		tg.srv.Close()
	})
}

func (tg *testGateway) url() string { return "ws" + strings.TrimPrefix(tg.srv.URL, "http") + "/" }

// client is a real WebSocket client that collects the text frames it reads.
type client struct {
	t      *testing.T
	ws     *websocket.Conn
	id     string
	frames chan string
	done   chan struct{}
	mu     sync.Mutex
	err    error // why reading ended
}

// dial connects to gateway tg, reads the init frame and starts reading.
func (e *env) dial(tg *testGateway) *client {
	e.t.Helper()
	c := dialRaw(e.t, tg.url(), nil)
	c.startReading()
	return c
}

// dialRaw connects and reads the init frame but starts no reader.
func dialRaw(t *testing.T, url string, h http.Header, opts ...func(*net.Dialer)) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d := &net.Dialer{}
	for _, o := range opts {
		o(d)
	}
	hc := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: h, HTTPClient: hc})
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	ws.SetReadLimit(1 << 20)
	_, data, err := ws.Read(ctx)
	if err != nil {
		t.Fatalf("read init frame: %v", err)
	}
	var init struct{ Type, ClientID string }
	if err := json.Unmarshal(data, &struct {
		Type     *string `json:"type"`
		ClientID *string `json:"client_id"`
	}{&init.Type, &init.ClientID}); err != nil || init.Type != "init" || init.ClientID == "" {
		t.Fatalf("bad init frame %q: %v", data, err)
	}
	c := &client{t: t, ws: ws, id: init.ClientID, frames: make(chan string, 10000), done: make(chan struct{})}
	t.Cleanup(func() { ws.CloseNow() })
	return c
}

// withReceiveBuffer sets the client socket's receive buffer before it
// connects, so that the window stays small: a client that does not read
// then fills its buffers quickly (the kernel's default grows to megabytes).
func withReceiveBuffer(n int) func(*net.Dialer) {
	return func(d *net.Dialer) {
		d.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, n)
			}); err != nil {
				return err
			}
			return serr
		}
	}
}

func (c *client) startReading() {
	go func() {
		defer close(c.done)
		for {
			_, data, err := c.ws.Read(context.Background())
			if err != nil {
				c.mu.Lock()
				c.err = err
				c.mu.Unlock()
				return
			}
			if string(data) == gateway.DefaultPingData {
				continue
			}
			select {
			case c.frames <- string(data):
			default:
				panic("test client buffer full")
			}
		}
	}()
}

// expect waits for the next frame and checks it.
func (c *client) expect(want string) {
	c.t.Helper()
	select {
	case got := <-c.frames:
		if got != want {
			c.t.Fatalf("client %s: got frame %q, want %q", c.id, got, want)
		}
	case <-time.After(10 * time.Second):
		c.t.Fatalf("client %s: no frame, want %q", c.id, want)
	}
}

// expectMarkerNext checks that c got nothing since the frames it expected:
// it sends marker to c through c's gateway inbox, the channel every push
// to a client, uid or group of that gateway takes, and expects it as c's
// next frame. The inbox keeps order, so a frame that should not have come
// would come first, even a late one. (Broadcasts take another channel: check
// them with a broadcast marker.)
func (e *env) expectMarkerNext(c *client, marker string) {
	c.t.Helper()
	if err := e.store.SendToClient(context.Background(), c.id, []byte(marker)); err != nil {
		c.t.Fatal(err)
	}
	c.expect(marker)
}

// closeStatus waits for the reader to end and returns the close code.
func (c *client) closeStatus() websocket.StatusCode {
	c.t.Helper()
	select {
	case <-c.done:
	case <-time.After(20 * time.Second):
		c.t.Fatalf("client %s: connection not closed", c.id)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return websocket.CloseStatus(c.err)
}

// waitFor is testwait.For with a yes/no check.
func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	testwait.For(t, d, what, func() error {
		if !ok() {
			return errors.New("not yet")
		}
		return nil
	})
}

// allKeys lists every key on every node (Cluster: each master).
func allKeys(t *testing.T, rdb redis.UniversalClient) []string {
	t.Helper()
	ctx := context.Background()
	var mu sync.Mutex
	var out []string
	scan := func(ctx context.Context, c *redis.Client) error {
		keys, err := c.Keys(ctx, "*").Result()
		mu.Lock()
		out = append(out, keys...)
		mu.Unlock()
		return err
	}
	var err error
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, scan)
	case *redis.Client:
		err = scan(ctx, c)
	default:
		err = errors.New("unknown client type")
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}
