package tests

// Helpers of the GatewayWorker compatibility tests (gwc_*_test.go): chatgate
// processes with the compatible listeners, and a GatewayClient written here
// from docs/gatewayworker.md (not from GatewayClient's code): packets are
// encoded by hand, replies decoded with phpserial (itself checked against
// the php binary). Every identifier starts with "gwc".

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chatgate/chatgate/gatewayworker/phpserial"
	"github.com/chatgate/chatgate/internal/testwait"
)

// gwcProc is one chatgate child process (kill and tail from faultProc).
type gwcProc struct {
	*faultProc
	ws       string // WebSocket listener ("" for role http)
	inner    string // advertised inner address ("" when off)
	register string // Register listener ("" when off)
	gwID     string
}

// gwcStart runs chatgate (role and flags in args) against redisURL, with
// heartbeats off, and waits until the listeners it was asked for are up
// (and the gateway is ready). t.Cleanup stops it.
func gwcStart(t *testing.T, redisURL string, args ...string) *gwcProc {
	t.Helper()
	args = append(args, "--redis-url", redisURL, "--log-format", "json", "--ping-interval", "0", "--internal-addr", "127.0.0.1:0")
	cmd := exec.Command(faultBinary(t), args...)
	cmd.Env = append(os.Environ(), "HTTP_ADDR=127.0.0.1:0", "WS_ADDR=127.0.0.1:0")
	cmd.SysProcAttr = faultSysProcAttr()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start chatgate: %v", err)
	}
	p := &gwcProc{faultProc: &faultProc{cmd: cmd, done: make(chan struct{})}}
	want := 1 // the internal listener
	for _, a := range args {
		if a == "--gw-inner-addr" || a == "--gw-register-addr" || a == "gateway" {
			want++
		}
	}
	up := make(chan struct{}, 8)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			var rec struct {
				Msg, Addr, Advertise string
				GatewayID            string `json:"gateway_id"`
			}
			_ = json.Unmarshal([]byte(line), &rec)
			p.mu.Lock()
			p.logs = append(p.logs, line)
			if len(p.logs) > 300 {
				p.logs = p.logs[len(p.logs)-300:]
			}
			switch rec.Msg {
			case "gateway listening":
				p.ws, p.gwID = rec.Addr, rec.GatewayID
				up <- struct{}{}
			case "internal listening":
				p.internal = rec.Addr
				up <- struct{}{}
			case "gatewayworker inner listening":
				p.inner = rec.Advertise
				up <- struct{}{}
			case "gatewayworker register listening":
				p.register = rec.Addr
				up <- struct{}{}
			}
			p.mu.Unlock()
		}
	}()
	go func() { <-scanned; _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.stop(t, "chatgate "+args[0]) })
	for range want {
		select {
		case <-up:
		case <-p.done:
			t.Fatalf("chatgate exited at start:\n%s", p.tail())
		case <-time.After(20 * time.Second):
			t.Fatalf("chatgate did not start its listeners within 20s:\n%s", p.tail())
		}
	}
	p.mu.Lock()
	ws, internal := p.ws, p.internal
	p.mu.Unlock()
	if ws != "" {
		testwait.StatusOK(t, 20*time.Second, "http://"+internal+"/readyz")
	}
	return p
}

// gwcStartGateway starts a compatible gateway on a random inner port;
// extra flags are appended.
func gwcStartGateway(t *testing.T, redisURL string, extra ...string) *gwcProc {
	t.Helper()
	return gwcStart(t, redisURL, append([]string{"gateway", "--allow-unsigned", "--gw-inner-addr", "127.0.0.1:0"}, extra...)...)
}

// GatewayProtocol, from docs/gatewayworker.md.
const (
	gwcSendToOne       = 5
	gwcSendToAll       = 6
	gwcKick            = 7
	gwcDestroy         = 8
	gwcUpdateSession   = 9
	gwcAllSessions     = 10
	gwcIsOnline        = 11
	gwcBindUid         = 12
	gwcUnbindUid       = 13
	gwcSendToUid       = 14
	gwcIDsByUid        = 15
	gwcBatchIDsByUid   = 16
	gwcJoinGroup       = 20
	gwcLeaveGroup      = 21
	gwcSendToGroup     = 22
	gwcSessionsByGroup = 23
	gwcCountByGroup    = 24
	gwcSelect          = 25
	gwcGroupIDList     = 26
	gwcUngroup         = 27
	gwcBatchCount      = 28
	gwcClientAuth      = 202
	gwcGetSession      = 203
	gwcSetSession      = 204

	gwcFlagScalar = 0x01
	gwcFlagRaw    = 0x02
)

// gwcPacket encodes a packet as GatewayClient does: only cmd, connection id,
// flag, ext_data and body are set. A string body is sent with the scalar
// flag; nil is serialized (N;).
func gwcPacket(cmd byte, conn uint32, flag byte, ext string, body any) []byte {
	var b []byte
	switch v := body.(type) {
	case string:
		flag |= gwcFlagScalar
		b = []byte(v)
	case nil:
		b = []byte("N;")
	default:
		panic(fmt.Sprintf("body %T", body))
	}
	h := make([]byte, 28)
	binary.BigEndian.PutUint32(h[0:], uint32(28+len(ext)+len(b)))
	h[4] = cmd
	binary.BigEndian.PutUint32(h[17:], conn)
	h[21] = flag
	binary.BigEndian.PutUint32(h[24:], uint32(len(ext)))
	return append(append(h, ext...), b...)
}

// gwcClient calls the gateways like GatewayClient: a fresh TCP connection
// per call (and per gateway), the auth packet in front when a key is set.
type gwcClient struct {
	t        *testing.T
	register string
	key      string
}

// addresses asks the Register (worker_connect) and returns its list.
func (c *gwcClient) addresses() []string {
	c.t.Helper()
	nc, err := net.DialTimeout("tcp", c.register, 3*time.Second)
	if err != nil {
		c.t.Fatalf("register: %v", err)
	}
	defer nc.Close()
	fmt.Fprintf(nc, `{"event":"worker_connect","secret_key":"%s"}`+"\n", c.key)
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(nc).ReadString('\n')
	if err != nil {
		c.t.Fatalf("register reply: %v (%q)", err, line)
	}
	var msg struct {
		Event     string
		Addresses []string
	}
	if err := json.Unmarshal([]byte(line), &msg); err != nil || msg.Event != "broadcast_addresses" {
		c.t.Fatalf("register reply %q: %v", line, err)
	}
	return msg.Addresses
}

func (c *gwcClient) withAuth(pkt []byte) []byte {
	if c.key == "" {
		return pkt
	}
	auth := gwcPacket(gwcClientAuth, 0, 0, "", `{"secret_key":"`+c.key+`"}`)
	return append(auth, pkt...)
}

// send writes pkt on a new connection to addr and closes it without waiting.
func (c *gwcClient) send(addr string, pkt []byte) {
	c.t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		c.t.Fatalf("connect %s: %v", addr, err)
	}
	defer nc.Close()
	if _, err := nc.Write(c.withAuth(pkt)); err != nil {
		c.t.Fatalf("write %s: %v", addr, err)
	}
}

// rawQuery writes pkt on a new connection and returns the reply payload
// (after the 4-byte length), or an error when the gateway closed first.
func (c *gwcClient) rawQuery(addr string, pkt []byte) ([]byte, error) {
	nc, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	if _, err := nc.Write(c.withAuth(pkt)); err != nil {
		return nil, err
	}
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var n [4]byte
	if _, err := io.ReadFull(nc, n[:]); err != nil {
		return nil, fmt.Errorf("connection close tcp://%s: %w", addr, err)
	}
	b := make([]byte, binary.BigEndian.Uint32(n[:]))
	if _, err := io.ReadFull(nc, b); err != nil {
		return nil, err
	}
	return b, nil
}

func (c *gwcClient) query(addr string, pkt []byte) phpserial.Value {
	c.t.Helper()
	b, err := c.rawQuery(addr, pkt)
	if err != nil {
		c.t.Fatalf("query %s cmd %d: %v", addr, pkt[4], err)
	}
	v, err := phpserial.Unmarshal(b, nil)
	if err != nil {
		c.t.Fatalf("reply %q: %v", b, err)
	}
	return v
}

// all sends pkt to every gateway and returns each one's reply by address.
func (c *gwcClient) all(pkt []byte) map[string]phpserial.Value {
	c.t.Helper()
	out := map[string]phpserial.Value{}
	for _, a := range c.addresses() {
		out[a] = c.query(a, pkt)
	}
	return out
}

func (c *gwcClient) sendAll(pkt []byte) {
	c.t.Helper()
	for _, a := range c.addresses() {
		c.send(a, pkt)
	}
}

// gwcSplit turns a client id into the gateway address and connection number.
func gwcSplit(t *testing.T, cid string) (string, uint32) {
	t.Helper()
	b, err := hex.DecodeString(cid)
	if err != nil || len(b) != 10 {
		t.Fatalf("client id %q is not 20 hex digits", cid)
	}
	ip := net.IP(b[:4]).String()
	return ip + ":" + strconv.Itoa(int(binary.BigEndian.Uint16(b[4:6]))), binary.BigEndian.Uint32(b[6:])
}

// gwcCID builds a client id from a gateway address and a connection number.
func gwcCID(t *testing.T, addr string, conn int64) string {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	var b [10]byte
	copy(b[:4], net.ParseIP(host).To4())
	binary.BigEndian.PutUint16(b[4:], uint16(p))
	binary.BigEndian.PutUint32(b[6:], uint32(conn))
	return hex.EncodeToString(b[:])
}

// gwcExclude is GatewayClient's exclude map for one gateway: {"<n>":<n>,…}.
func gwcExclude(t *testing.T, addr string, cids ...string) string {
	t.Helper()
	var parts []string
	for _, cid := range cids {
		if a, n := gwcSplit(t, cid); a == addr {
			parts = append(parts, fmt.Sprintf(`"%d":%d`, n, n))
		}
	}
	if parts == nil {
		return ""
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// Calls, one per GatewayClient method the tests use.

func (c *gwcClient) toClient(cmd byte, cid, ext string, body any) {
	c.t.Helper()
	addr, n := gwcSplit(c.t, cid)
	c.send(addr, gwcPacket(cmd, n, 0, ext, body))
}

func (c *gwcClient) queryClient(cmd byte, cid string) phpserial.Value {
	c.t.Helper()
	addr, n := gwcSplit(c.t, cid)
	return c.query(addr, gwcPacket(cmd, n, 0, "", ""))
}

// sendToGroup is GatewayClient::sendToGroup: one packet per gateway, with
// that gateway's share of the exclude list.
func (c *gwcClient) sendToGroup(groups []string, msg string, raw bool, exclude ...string) {
	c.t.Helper()
	g, _ := json.Marshal(groups)
	var flag byte
	if raw {
		flag = gwcFlagRaw
	}
	for _, a := range c.addresses() {
		ex := gwcExclude(c.t, a, exclude...)
		if ex == "" {
			ex = "null"
		}
		c.send(a, gwcPacket(gwcSendToGroup, 0, flag, `{"group":`+string(g)+`,"exclude":`+ex+`}`, msg))
	}
}

// sumInts adds the int replies of every gateway (getClientIdCountByGroup).
func gwcSum(t *testing.T, replies map[string]phpserial.Value) int64 {
	t.Helper()
	var n int64
	for a, v := range replies {
		i, ok := v.(int64)
		if !ok {
			t.Fatalf("gateway %s replied %#v, want an int", a, v)
		}
		n += i
	}
	return n
}

// gwcClientIDs merges replies keyed by connection number into sorted client ids.
func gwcClientIDs(t *testing.T, replies map[string]phpserial.Value) []string {
	t.Helper()
	var out []string
	for a, v := range replies {
		arr, ok := v.(*phpserial.Array)
		if !ok {
			t.Fatalf("gateway %s replied %#v, want an array", a, v)
		}
		for i := range arr.Len() {
			k, _ := arr.At(i)
			out = append(out, gwcCID(t, a, k.Int()))
		}
	}
	sort.Strings(out)
	return out
}

// gwcConnList merges list replies of connection numbers into sorted client ids.
func gwcConnList(t *testing.T, replies map[string]phpserial.Value) []string {
	t.Helper()
	var out []string
	for a, v := range replies {
		arr := v.(*phpserial.Array)
		for i := range arr.Len() {
			_, n := arr.At(i)
			out = append(out, gwcCID(t, a, n.(int64)))
		}
	}
	sort.Strings(out)
	return out
}

// gwcSer serializes a PHP value for the test's expectations.
func gwcSer(v phpserial.Value) string { return string(phpserial.MustMarshal(v)) }

// gwcArr builds a PHP array from key, value pairs (string keys normalized).
func gwcArr(kv ...any) *phpserial.Array {
	a := phpserial.NewArray()
	for i := 0; i < len(kv); i += 2 {
		switch k := kv[i].(type) {
		case string:
			a.Set(phpserial.StrKey(k), kv[i+1])
		case int:
			a.Set(phpserial.IntKey(int64(k)), kv[i+1])
		}
	}
	return a
}

func sprintf(format string, a ...any) string { return fmt.Sprintf(format, a...) }

const sigterm = syscall.SIGTERM
