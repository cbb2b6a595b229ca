package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/gateway"
	"github.com/chatgate/chatgate/internal/redistest"
	"github.com/chatgate/chatgate/session"
)

// recordingHook records the calls a gateway makes, one line each.
type recordingHook struct {
	mu    sync.Mutex
	calls []string
}

var _ gateway.ClientHook = (*recordingHook)(nil)

func (h *recordingHook) add(s string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, s)
}

func (h *recordingHook) ClientConnected(cid, ip string, r *http.Request) {
	h.add(fmt.Sprintf("connect %s %s %s", cid, ip, r.URL.RequestURI()))
}

func (h *recordingHook) ClientMessage(cid string, data []byte, sess session.Session) {
	h.add(fmt.Sprintf("message %s %q %v", cid, data, sess))
}

func (h *recordingHook) ClientClosed(cid string, sess session.Session) {
	h.add(fmt.Sprintf("close %s %v", cid, sess))
}

func (h *recordingHook) get() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.calls)
}

// Options.Hook sees connect (with the upgrade request), each data frame
// (text and binary, heartbeat replies left out) with the session as the
// gateway holds it, and close with the last session, in that order.
// Options.NoInitFrame leaves out the init frame.
func TestClientHook(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	e := newEnv(t, redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true}))
	hook := &recordingHook{}
	tg := e.addGateway(gateway.Options{Hook: hook})
	c := dialRaw(t, tg.url()+"?room=1", nil)
	c.startReading()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	write := func(typ websocket.MessageType, b string) {
		if err := c.ws.Write(ctx, typ, []byte(b)); err != nil {
			t.Fatal(err)
		}
	}
	write(websocket.MessageText, "one")
	write(websocket.MessageText, `{"type":"pong"}`)
	write(websocket.MessageBinary, "\x00two")
	// The frames reach the hook before the session is set (with engine nbio
	// the hook runs on a goroutine of its own, which may start late).
	waitFor(t, 10*time.Second, "hook calls before the session", func() bool { return len(hook.get()) >= 3 })
	if err := e.store.SetSession(ctx, c.id, session.Session{"name": "ann"}); err != nil {
		t.Fatal(err)
	}
	e.expectMarkerNext(c, "session applied") // same inbox: the session is applied
	write(websocket.MessageText, "three")
	_ = c.ws.Close(websocket.StatusNormalClosure, "")
	want := []string{
		"connect " + c.id + " 127.0.0.1 /?room=1",
		"message " + c.id + ` "one" map[]`,
		"message " + c.id + ` "\x00two" map[]`,
		"message " + c.id + ` "three" map[name:ann]`,
		"close " + c.id + " map[name:ann]",
	}
	waitFor(t, 10*time.Second, "hook calls", func() bool { return len(hook.get()) >= len(want) })
	if got := hook.get(); !slices.Equal(got, want) {
		t.Fatalf("hook calls\n%q\nwant\n%q", got, want)
	}

	// NoInitFrame: the first frame is what the app sends.
	quiet := e.addGateway(gateway.Options{NoInitFrame: true, Hook: hook})
	ws, _, err := websocket.Dial(ctx, quiet.url(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	var cid string
	waitFor(t, 10*time.Second, "connect on the second gateway", func() bool {
		for _, s := range hook.get() {
			if _, err := fmt.Sscanf(s, "connect %s", &cid); err == nil && cid != c.id {
				return true
			}
		}
		return false
	})
	if err := e.store.SendToClient(ctx, cid, []byte("first")); err != nil {
		t.Fatal(err)
	}
	if _, data, err := ws.Read(ctx); err != nil || string(data) != "first" {
		t.Fatalf("first frame %q, %v; want the app's", data, err)
	}
}

// slowConnectHook is a recordingHook whose ClientConnected takes a while.
type slowConnectHook struct{ recordingHook }

func (h *slowConnectHook) ClientConnected(cid, ip string, r *http.Request) {
	time.Sleep(200 * time.Millisecond)
	h.recordingHook.ClientConnected(cid, ip, r)
}

// ClientConnected returns before the client's first frame reaches the hook,
// however long it takes: a frame sent at once waits for it.
func TestClientHookConnectedFirst(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	e := newEnv(t, redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true}))
	hook := &slowConnectHook{}
	tg := e.addGateway(gateway.Options{Hook: hook})
	c := dialRaw(t, tg.url(), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, []byte("first")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "two hook calls", func() bool { return len(hook.get()) >= 2 })
	want := []string{"connect " + c.id + " 127.0.0.1 /", "message " + c.id + ` "first" map[]`}
	if got := hook.get(); !slices.Equal(got[:2], want) {
		t.Fatalf("hook calls\n%q\nwant first\n%q", got, want)
	}
}
