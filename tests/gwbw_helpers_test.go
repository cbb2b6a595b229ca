package tests

// A BusinessWorker written here from docs/gatewayworker.md ("BusinessWorker")
// and the protocol notes, not from GatewayWorker's code: it keeps a
// worker_connect connection to the Register, links to every address it
// broadcasts (cmd 200 first), decodes the client events the gateways push,
// runs a seed-like Events handler for each, and writes the handler's
// commands and the $_SESSION write-back (cmd 204) on the link. Every
// identifier starts with "gwbw".

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/chatgate/chatgate/gatewayworker/phpserial"
)

const (
	gwbwOnConnect   = 1
	gwbwOnMessage   = 3
	gwbwOnClose     = 4
	gwbwWorkerHello = 200
	gwbwPing        = 201
	gwbwOnWSConnect = 205
)

// gwbwEvent is one event a worker received.
type gwbwEvent struct {
	Worker   string
	Cmd      byte
	CID      string
	Session  string // ext_data: the serialized session, "" when none
	Body     []byte
	ClientIP uint32
	Flag     byte
}

// gwbwWorker is one BusinessWorker process.
type gwbwWorker struct {
	t    *testing.T
	name string
	reg  net.Conn

	mu      sync.Mutex
	links   map[string]net.Conn // gateway address → link
	queries map[string]net.Conn // gateway address → persistent query connection
	events  []gwbwEvent
	closed  bool
	wg      sync.WaitGroup
}

// gwbwStart connects a worker to the Register at register; it links to every
// gateway the Register lists, now and later. t.Cleanup stops it.
func gwbwStart(t *testing.T, register, name string) *gwbwWorker {
	t.Helper()
	nc, err := net.DialTimeout("tcp", register, 3*time.Second)
	if err != nil {
		t.Fatalf("worker %s: register: %v", name, err)
	}
	w := &gwbwWorker{t: t, name: name, reg: nc, links: map[string]net.Conn{}, queries: map[string]net.Conn{}}
	fmt.Fprintf(nc, `{"event":"worker_connect","secret_key":""}`+"\n")
	w.wg.Add(1)
	go w.readRegister()
	t.Cleanup(w.crash)
	return w
}

// crash drops every connection at once, as a killed process does.
func (w *gwbwWorker) crash() {
	w.mu.Lock()
	w.closed = true
	_ = w.reg.Close()
	for _, l := range w.links {
		_ = l.Close()
	}
	for _, q := range w.queries {
		_ = q.Close()
	}
	w.mu.Unlock()
	w.wg.Wait()
}

func (w *gwbwWorker) readRegister() {
	defer w.wg.Done()
	br := bufio.NewReader(w.reg)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		var msg struct {
			Event     string
			Addresses []string
		}
		if json.Unmarshal([]byte(line), &msg) != nil || msg.Event != "broadcast_addresses" {
			continue
		}
		for _, a := range msg.Addresses {
			w.link(a)
		}
	}
}

// link opens a link to addr unless one is open; the hello is cmd 200.
func (w *gwbwWorker) link(addr string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || w.links[addr] != nil {
		return
	}
	nc, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		return
	}
	hello := gwcPacket(gwbwWorkerHello, 0, 0, "", `{"worker_key":"`+w.name+`:0","secret_key":""}`)
	if _, err := nc.Write(hello); err != nil {
		_ = nc.Close()
		return
	}
	w.links[addr] = nc
	w.wg.Add(1)
	go w.readLink(addr, nc)
}

func (w *gwbwWorker) readLink(addr string, nc net.Conn) {
	defer w.wg.Done()
	defer func() {
		w.mu.Lock()
		if w.links[addr] == nc {
			delete(w.links, addr)
		}
		w.mu.Unlock()
		_ = nc.Close()
	}()
	br := bufio.NewReader(nc)
	head := make([]byte, 28)
	for {
		if _, err := io.ReadFull(br, head); err != nil {
			return
		}
		rest := make([]byte, binary.BigEndian.Uint32(head)-28)
		if _, err := io.ReadFull(br, rest); err != nil {
			return
		}
		ext := binary.BigEndian.Uint32(head[24:])
		var id [10]byte
		copy(id[:6], head[5:11]) // local_ip, local_port
		copy(id[6:], head[17:21])
		ev := gwbwEvent{Worker: w.name, Cmd: head[4], CID: hex.EncodeToString(id[:]), Session: string(rest[:ext]),
			Body: rest[ext:], ClientIP: binary.BigEndian.Uint32(head[11:]), Flag: head[21]}
		if ev.Cmd == gwbwPing {
			continue
		}
		w.mu.Lock()
		w.events = append(w.events, ev)
		w.mu.Unlock()
		w.handle(nc, &ev)
	}
}

// Events returns the events received so far.
func (w *gwbwWorker) Events() []gwbwEvent {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]gwbwEvent(nil), w.events...)
}

// Links returns how many gateways the worker is linked to.
func (w *gwbwWorker) Links() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.links)
}

// handle is the seed's Events.php in Go:
//
//	onConnect: send {"type":"init","client_id":…} to the client;
//	onMessage login {name, room}: joinGroup(room), $_SESSION = [name, room, n => 0],
//	  sendToGroup(room, {"type":"login","name":…}),
//	  sendToCurrentClient({"type":"welcome","count":getClientIdCountByGroup(room)});
//	onMessage say {text}: $_SESSION['n']++, sendToGroup(room, {"type":"say","from":…,"text":…});
//	onClose: sendToGroup($_SESSION['room'], {"type":"logout","name":…}).
//
// Commands for the current client go on this link (the client's gateway);
// sendToGroup goes on every link. $_SESSION changes are written back with
// cmd 204 after the handler, except on close.
func (w *gwbwWorker) handle(nc net.Conn, ev *gwbwEvent) {
	_, conn := gwcSplit(w.t, ev.CID)
	sess := phpserial.NewArray()
	if ev.Session != "" {
		v, err := phpserial.Unmarshal([]byte(ev.Session), nil)
		if a, ok := v.(*phpserial.Array); err == nil && ok {
			sess = a
		}
	}
	before := string(phpserial.MustMarshal(sess))
	get := func(k string) string { v, _ := sess.Get(phpserial.StrKey(k)); s, _ := v.(string); return s }
	switch ev.Cmd {
	case gwbwOnConnect:
		w.write(nc, gwcPacket(gwcSendToOne, conn, 0, "", `{"type":"init","client_id":"`+ev.CID+`"}`))
	case gwbwOnMessage:
		var m struct{ Type, Name, Room, Text string }
		_ = json.Unmarshal(ev.Body, &m)
		switch m.Type {
		case "login":
			w.write(nc, gwcPacket(gwcJoinGroup, conn, 0, m.Room, ""))
			sess.Set(phpserial.StrKey("name"), m.Name)
			sess.Set(phpserial.StrKey("room"), m.Room)
			sess.Set(phpserial.StrKey("n"), int64(0))
			w.toGroup(m.Room, `{"type":"login","name":"`+m.Name+`"}`)
			count := w.countByGroup(m.Room) // sees the joinGroup sent on the link before it
			w.write(nc, gwcPacket(gwcSendToOne, conn, 0, "", `{"type":"welcome","count":`+strconv.FormatInt(count, 10)+`}`))
		case "say":
			n, _ := sess.Get(phpserial.StrKey("n"))
			i, _ := n.(int64)
			sess.Set(phpserial.StrKey("n"), i+1)
			w.toGroup(get("room"), `{"type":"say","from":"`+get("name")+`","text":"`+m.Text+`","n":`+strconv.FormatInt(i+1, 10)+`}`)
		}
	case gwbwOnClose:
		if room := get("room"); room != "" {
			w.toGroup(room, `{"type":"logout","name":"`+get("name")+`"}`)
		}
		return
	}
	if after := string(phpserial.MustMarshal(sess)); after != before {
		w.write(nc, gwcPacket(gwcSetSession, conn, 0, after, ""))
	}
}

// toGroup is Gateway::sendToGroup from a worker: cmd 22 on every link.
func (w *gwbwWorker) toGroup(room, msg string) {
	w.mu.Lock()
	links := make([]net.Conn, 0, len(w.links))
	for _, l := range w.links {
		links = append(links, l)
	}
	w.mu.Unlock()
	g, _ := json.Marshal([]string{room})
	for _, l := range links {
		w.write(l, gwcPacket(gwcSendToGroup, 0, 0, `{"group":`+string(g)+`,"exclude":null}`, msg))
	}
}

func (w *gwbwWorker) write(nc net.Conn, pkt []byte) {
	_ = nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, _ = nc.Write(pkt) // a dead link shows as a missing frame in the test
}

// countByGroup is Gateway::getClientIdCountByGroup from a worker: cmd 24
// to every linked gateway on a persistent query connection of its own (the
// worker library keeps them open), the replies added up.
func (w *gwbwWorker) countByGroup(room string) int64 {
	w.mu.Lock()
	addrs := make([]string, 0, len(w.links))
	for a := range w.links {
		addrs = append(addrs, a)
	}
	w.mu.Unlock()
	var sum int64
	for _, a := range addrs {
		w.mu.Lock()
		q := w.queries[a]
		w.mu.Unlock()
		if q == nil {
			var err error
			if q, err = net.DialTimeout("tcp", a, 3*time.Second); err != nil {
				continue
			}
			w.mu.Lock()
			w.queries[a] = q
			w.mu.Unlock()
		}
		_ = q.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := q.Write(gwcPacket(gwcCountByGroup, 0, 0, room, "")); err != nil {
			continue
		}
		var n [4]byte
		if _, err := io.ReadFull(q, n[:]); err != nil {
			continue
		}
		b := make([]byte, binary.BigEndian.Uint32(n[:]))
		if _, err := io.ReadFull(q, b); err != nil {
			continue
		}
		if v, err := phpserial.Unmarshal(b, nil); err == nil {
			i, _ := v.(int64)
			sum += i
		}
	}
	return sum
}
