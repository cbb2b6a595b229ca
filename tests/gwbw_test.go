package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/chatgate/chatgate/gatewayworker/phpserial"
	"github.com/chatgate/chatgate/internal/redistest"
	"github.com/chatgate/chatgate/internal/testwait"
)

// gwbwDial opens a WebSocket to a gateway with a query string and a cookie,
// and starts the reader; it does not wait for any frame.
func gwbwDial(t *testing.T, addr, query string) *pushClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), pushDeadline)
	defer cancel()
	h := http.Header{"Cookie": {"sid=abc"}, "X-Test": {"bw"}}
	conn, _, err := websocket.Dial(ctx, "ws://"+addr+"/chat?"+query, &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	c := &pushClient{conn: conn, done: make(chan struct{})}
	go c.read()
	t.Cleanup(func() { c.conn.CloseNow(); <-c.done })
	return c
}

// gwbwConnect dials and waits for the init frame Events::onConnect sends.
func gwbwConnect(t *testing.T, addr, query string) *pushClient {
	t.Helper()
	c := gwbwDial(t, addr, query)
	testwait.For(t, pushDeadline, "the init frame from the worker's onConnect", func() error {
		for _, f := range c.Frames() {
			var init struct{ Type, Client_ID string }
			if json.Unmarshal([]byte(f), &init) == nil && init.Type == "init" {
				c.ID = init.Client_ID
				return nil
			}
		}
		return fmt.Errorf("frames %q", c.Frames())
	})
	return c
}

func (c *pushClient) say(t *testing.T, msg string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), pushDeadline)
	defer cancel()
	if err := c.conn.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		t.Fatalf("client %s write: %v", c.ID, err)
	}
}

func gwbwWaitLinks(t *testing.T, gws []*gwcProc, n int) {
	t.Helper()
	for _, g := range gws {
		metricsWant(t, g.internal, fmt.Sprintf("gateway %s has %d worker links", g.inner, n),
			map[string]func(float64) bool{"chatgate_gatewayworker_worker_links": eq(float64(n))})
	}
}

// eventsOf returns every event of cid received by the workers, with the
// worker that got it.
func gwbwEventsOf(cid string, ws ...*gwbwWorker) []gwbwEvent {
	var out []gwbwEvent
	for _, w := range ws {
		for _, e := range w.Events() {
			if e.CID == cid {
				out = append(out, e)
			}
		}
	}
	return out
}

func gwbwWaitEvent(t *testing.T, what string, cid string, cmd byte, body string, ws ...*gwbwWorker) gwbwEvent {
	t.Helper()
	var found gwbwEvent
	testwait.For(t, pushDeadline, what, func() error {
		for _, e := range gwbwEventsOf(cid, ws...) {
			if e.Cmd == cmd && (body == "" || string(e.Body) == body) {
				found = e
				return nil
			}
		}
		return fmt.Errorf("events of %s: %d, none is cmd %d %q", cid, len(gwbwEventsOf(cid, ws...)), cmd, body)
	})
	return found
}

// An Events.php-like worker (Go, from the protocol document) against two
// gateway processes on a real redis-server: events with sessions, commands
// from the handlers, session write-back, stickiness, a worker crash and a
// new worker, and no worker at all.
func TestBusinessWorker(t *testing.T) {
	rs := redistest.Start(t)
	a := gwcStartGateway(t, rs.URL(), "--gw-register-addr", "127.0.0.1:0", "--init-frame=false")
	w1 := gwbwStart(t, a.register, "w1")
	w2 := gwbwStart(t, a.register, "w2")
	gwbwWaitLinks(t, []*gwcProc{a}, 2)
	// A gateway started later: the Register broadcasts it to the workers'
	// open worker_connect connections, and they link to it.
	b := gwcStartGateway(t, rs.URL(), "--init-frame=false")
	gws := []*gwcProc{a, b}
	cl := &gwcClient{t: t, register: a.register}
	gwbwWaitLinks(t, gws, 2)

	// Connect: ON_CONNECT then ON_WEBSOCKET_CONNECT with the handshake
	// data; the init frame comes from the worker's onConnect (cmd 5).
	ann := gwbwConnect(t, a.ws, "room=r1&x=1&x=2")
	bob := gwbwConnect(t, b.ws, "room=r1")
	cat := gwbwConnect(t, a.ws, "")
	dan := gwbwConnect(t, b.ws, "")
	evs := gwbwEventsOf(ann.ID, w1, w2)
	if len(evs) < 2 || evs[0].Cmd != gwbwOnConnect || evs[1].Cmd != gwbwOnWSConnect || evs[0].Session != "" || evs[0].ClientIP != 0x7f000001 {
		t.Fatalf("ann's first events: %+v", evs)
	}
	hs, err := phpserial.Unmarshal(evs[1].Body, nil)
	if err != nil {
		t.Fatalf("websocket connect body %q: %v", evs[1].Body, err)
	}
	get, _ := hs.(*phpserial.Array).Get(phpserial.StrKey("get"))
	server, _ := hs.(*phpserial.Array).Get(phpserial.StrKey("server"))
	cookie, _ := hs.(*phpserial.Array).Get(phpserial.StrKey("cookie"))
	if g := gwcSer(get); g != `a:2:{s:4:"room";s:2:"r1";s:1:"x";s:1:"2";}` {
		t.Errorf("get = %s", g)
	}
	if c := gwcSer(cookie); c != `a:1:{s:3:"sid";s:3:"abc";}` {
		t.Errorf("cookie = %s", c)
	}
	for k, want := range map[string]string{"REQUEST_URI": "/chat?room=r1&x=1&x=2", "QUERY_STRING": "room=r1&x=1&x=2", "HTTP_X_TEST": "bw", "REMOTE_ADDR": "127.0.0.1", "REQUEST_METHOD": "GET"} {
		if v, _ := server.(*phpserial.Array).Get(phpserial.StrKey(k)); v != want {
			t.Errorf("server[%s] = %#v, want %q", k, v, want)
		}
	}

	// Stickiness: each gateway spread its two clients over the two workers,
	// and every event of a client goes to the worker that got its connect.
	owner := map[string]string{}
	for _, c := range []*pushClient{ann, bob, cat, dan} {
		owner[c.ID] = gwbwEventsOf(c.ID, w1, w2)[0].Worker
	}
	if owner[ann.ID] == owner[cat.ID] || owner[bob.ID] == owner[dan.ID] {
		t.Errorf("clients of one gateway on one worker: %v", owner)
	}

	// Login and say: commands from the handlers reach clients on both
	// gateways; the session written back comes with the next event and is
	// what GatewayClient's getSession reads.
	// The count queried right after joinGroup includes the newcomer: the
	// query (its own persistent connection) waits for the commands the
	// worker sent on its link before it.
	ann.say(t, `{"type":"login","name":"ann","room":"r1"}`)
	ann.waitFrames(t, "ann", `{"type":"login","name":"ann"}`, `{"type":"welcome","count":1}`)
	bob.say(t, `{"type":"login","name":"bob","room":"r1"}`)
	ann.waitFrames(t, "ann", `{"type":"login","name":"bob"}`)
	bob.waitFrames(t, "bob", `{"type":"login","name":"bob"}`, `{"type":"welcome","count":2}`)
	want := `a:3:{s:4:"name";s:3:"ann";s:4:"room";s:2:"r1";s:1:"n";i:0;}`
	if got := gwcSer(cl.queryClient(gwcGetSession, ann.ID)); got != want {
		t.Errorf("getSession(ann) = %s, want %s", got, want)
	}
	ann.say(t, `{"type":"say","text":"hi"}`)
	bob.waitFrames(t, "bob", `{"type":"say","from":"ann","text":"hi","n":1}`)
	ann.say(t, `{"type":"say","text":"again"}`)
	bob.waitFrames(t, "bob", `{"type":"say","from":"ann","text":"again","n":2}`)
	e := gwbwWaitEvent(t, "ann's second say", ann.ID, gwbwOnMessage, `{"type":"say","text":"again"}`, w1, w2)
	if e.Session != `a:3:{s:4:"name";s:3:"ann";s:4:"room";s:2:"r1";s:1:"n";i:1;}` || e.Flag != 0x01 {
		t.Errorf("session with ann's second say: %q (flag %#x)", e.Session, e.Flag)
	}
	if got := gwcSer(cl.queryClient(gwcGetSession, ann.ID)); got != `a:3:{s:4:"name";s:3:"ann";s:4:"room";s:2:"r1";s:1:"n";i:2;}` {
		t.Errorf("getSession(ann) after two says = %s", got)
	}
	for _, c := range []*pushClient{ann, bob, cat, dan} {
		for _, e := range gwbwEventsOf(c.ID, w1, w2) {
			if e.Worker != owner[c.ID] {
				t.Errorf("event %d of %s went to %s, its connect to %s", e.Cmd, c.ID, e.Worker, owner[c.ID])
			}
		}
	}

	// Close: ON_CLOSE carries the session; the worker tells the room.
	ann.Close()
	e = gwbwWaitEvent(t, "ann's close", ann.ID, gwbwOnClose, "", w1, w2)
	if !strings.Contains(e.Session, `s:4:"name";s:3:"ann"`) {
		t.Errorf("close event session %q", e.Session)
	}
	bob.waitFrames(t, "bob", `{"type":"logout","name":"ann"}`)

	// A worker crashes: its clients move to the other one at their next
	// event, session included.
	crashed, alive := w1, w2
	if owner[bob.ID] == "w2" {
		crashed, alive = w2, w1
	}
	crashed.crash()
	gwbwWaitLinks(t, gws, 1)
	bob.say(t, `{"type":"say","text":"still here"}`)
	ann2 := gwbwConnect(t, a.ws, "")
	e = gwbwWaitEvent(t, "bob's message after the crash", bob.ID, gwbwOnMessage, `{"type":"say","text":"still here"}`, alive)
	if !strings.Contains(e.Session, `s:4:"name";s:3:"bob"`) {
		t.Errorf("session after the move: %q", e.Session)
	}
	bob.waitFrames(t, "bob", `{"type":"say","from":"bob","text":"still here","n":1}`)
	// A new worker process links to both gateways and takes new clients
	// (it has the fewest).
	w3 := gwbwStart(t, a.register, "w3")
	gwbwWaitLinks(t, gws, 2)
	eve := gwbwConnect(t, b.ws, "")
	if got := gwbwEventsOf(eve.ID, w3); len(got) == 0 || got[0].Cmd != gwbwOnConnect {
		t.Errorf("new worker's events for eve: %+v", got)
	}
	if len(gwbwEventsOf(ann2.ID, alive)) == 0 {
		t.Errorf("ann2 (connected with one worker left) has no events on %s", alive.name)
	}

	// A binary frame's payload reaches onMessage as it is.
	ctx, cancel := context.WithTimeout(context.Background(), pushDeadline)
	defer cancel()
	if err := dan.conn.Write(ctx, websocket.MessageBinary, []byte{0, 1, 0xff, 'b'}); err != nil {
		t.Fatal(err)
	}
	gwbwWaitEvent(t, "dan's binary frame", dan.ID, gwbwOnMessage, "\x00\x01\xffb", w1, w2, w3)

	// No worker: events are dropped, counted and logged; the client stays.
	alive.crash()
	w3.crash()
	gwbwWaitLinks(t, gws, 0)
	const droppedKey = `chatgate_gatewayworker_events_dropped_total{reason="no_worker"}`
	fams, err := metricsScrape(b.internal)
	if err != nil {
		t.Fatal(err)
	}
	dropped, _ := metricsValue(fams, "chatgate_gatewayworker_events_dropped_total", "reason", "no_worker") // none yet: 0
	dan.say(t, `{"type":"say","text":"nobody"}`)
	metricsWant(t, b.internal, "the drop is counted",
		map[string]func(float64) bool{droppedKey: func(v float64) bool { return v > dropped }})
	// The log line reaches the test through the process's stderr, which
	// may trail the metric.
	testwait.For(t, pushDeadline, "the drop log line", func() error {
		if !strings.Contains(b.tail(), "no BusinessWorker connected: client event dropped") {
			return fmt.Errorf("no drop log line:\n%s", b.tail())
		}
		return nil
	})
	w4 := gwbwStart(t, a.register, "w4")
	gwbwWaitLinks(t, gws, 1)
	dan.say(t, `{"type":"say","text":"marker"}`)
	gwbwWaitEvent(t, "the marker after a worker came back", dan.ID, gwbwOnMessage, `{"type":"say","text":"marker"}`, w4)
	for _, e := range gwbwEventsOf(dan.ID, w4) {
		if strings.Contains(string(e.Body), "nobody") {
			t.Errorf("the dropped message reached the new worker")
		}
	}
}
