package tests

// Helpers of the fault tests (fault_*_test.go): the chatgate binary run as
// child processes, WebSocket clients, and polling. Every identifier starts
// with "fault" because other engineers add files to this package.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/chatgate/chatgate/internal/testwait"
	"github.com/chatgate/chatgate/session"
)

var faultBuild struct {
	once sync.Once
	dir  string // removed by TestMain
	path string
	err  error
}

// faultBinary builds cmd/chatgate once per test process and returns its path.
// Each test process builds into a directory of its own (removed by TestMain),
// so concurrent runs from different checkouts never swap binaries under each
// other. CHATGATE_TEST_BIN names a prebuilt binary to use instead.
func faultBinary(t *testing.T) string {
	t.Helper()
	faultBuild.once.Do(func() {
		if p := os.Getenv("CHATGATE_TEST_BIN"); p != "" {
			faultBuild.path = p
			return
		}
		dir, err := os.MkdirTemp("", "chatgate-fault-")
		if err != nil {
			faultBuild.err = err
			return
		}
		faultBuild.dir = dir
		path := filepath.Join(dir, "chatgate")
		out, err := exec.Command("go", "build", "-o", path, "github.com/chatgate/chatgate/cmd/chatgate").CombinedOutput()
		if err != nil {
			faultBuild.err = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		faultBuild.path = path
	})
	if faultBuild.err != nil {
		t.Fatalf("build chatgate: %v", faultBuild.err)
	}
	return faultBuild.path
}

// TestMain removes the binary faultBinary built.
func TestMain(m *testing.M) {
	code := m.Run()
	if faultBuild.dir != "" {
		_ = os.RemoveAll(faultBuild.dir)
	}
	os.Exit(code)
}

// faultProc is one chatgate child process.
type faultProc struct {
	cmd      *exec.Cmd
	addr     string // gateway listener, 127.0.0.1:PORT
	internal string // internal listener (/readyz, /metrics), 127.0.0.1:PORT
	done     chan struct{}

	mu   sync.Mutex
	logs []string // last stderr lines
}

// PID returns the process id.
func (p *faultProc) PID() int { return p.cmd.Process.Pid }

func (p *faultProc) tail() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.logs, "\n")
}

// stop sends SIGTERM, then SIGKILL after 15s, waits for the process to
// exit, and logs the tail of its log when the test failed.
func (p *faultProc) stop(t *testing.T, what string) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	}
	if t.Failed() {
		t.Logf("%s pid %d log tail:\n%s", what, p.PID(), p.tail())
	}
}

// kill sends SIGKILL and waits for the process to exit.
func (p *faultProc) kill(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("gateway pid %d not reaped 10s after SIGKILL", p.PID())
	}
}

// faultStartGateway runs "chatgate gateway" on random loopback ports against
// redisURL with extra flags, and waits until it is ready (/readyz on its
// internal listener). t.Cleanup stops it (SIGTERM, SIGKILL after 15s).
func faultStartGateway(t *testing.T, redisURL string, extra ...string) *faultProc {
	t.Helper()
	return faultStartRole(t, "gateway listening", append([]string{"gateway", "--redis-url", redisURL, "--ws-addr", "127.0.0.1:0",
		"--internal-addr", "127.0.0.1:0", "--allow-unsigned", "--log-format", "json"}, extra...)...)
}

// faultStartRole runs chatgate with args (the role first; they must give
// --internal-addr and --log-format json), records in p.addr the address of
// the log line publicMsg ("" when the role has no public listener) and in
// p.internal the internal listener's, and waits until /readyz answers 200.
// t.Cleanup stops it.
func faultStartRole(t *testing.T, publicMsg string, args ...string) *faultProc {
	t.Helper()
	role := args[0]
	cmd := exec.Command(faultBinary(t), args...)
	cmd.Env = append(os.Environ(), "HTTP_ADDR=127.0.0.1:0")
	cmd.SysProcAttr = faultSysProcAttr()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", role, err)
	}
	p := &faultProc{cmd: cmd, done: make(chan struct{})}
	addrCh, internalCh := make(chan string, 1), make(chan string, 1)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.logs = append(p.logs, line)
			if len(p.logs) > 200 {
				p.logs = p.logs[len(p.logs)-200:]
			}
			p.mu.Unlock()
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil {
				ch := map[string]chan string{publicMsg: addrCh, "internal listening": internalCh}[rec.Msg]
				select {
				case ch <- rec.Addr: // a nil ch (another message) is never ready
				default:
				}
			}
		}
	}()
	go func() { <-scanned; _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.stop(t, role) })
	for _, l := range []struct {
		addr *string
		ch   chan string
	}{{&p.addr, addrCh}, {&p.internal, internalCh}} {
		if l.ch == addrCh && publicMsg == "" {
			continue
		}
		select {
		case *l.addr = <-l.ch:
		case <-p.done:
			t.Fatalf("%s exited before listening:\n%s", role, p.tail())
		case <-time.After(20 * time.Second):
			t.Fatalf("%s did not log its addresses within 20s:\n%s", role, p.tail())
		}
	}
	testwait.StatusOK(t, 20*time.Second, "http://"+p.internal+"/readyz")
	return p
}

// rssKB returns the process's resident set size (VmRSS) in KiB.
func (p *faultProc) rssKB() (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.PID()))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			return strconv.Atoi(f[1])
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", p.PID())
}

// faultOpenStore opens the test's own Store on the gateways' Redis.
func faultOpenStore(t *testing.T, url string) *session.Store {
	t.Helper()
	st, err := session.Open(t.Context(), url, 5*time.Second, &session.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// faultClient is a WebSocket client. Its reader goroutine hands every text
// frame except heartbeats to onMsg, and ends when the connection does.
type faultClient struct {
	ws   *websocket.Conn
	id   string
	done chan struct{}
	err  error // why the reader stopped, valid after done
}

// faultDialOptions adjusts a dial.
type faultDialOptions struct {
	local  string // local IP to dial from (default 127.0.0.1)
	origin string // Origin header
	rcvBuf int    // SO_RCVBUF set before connect (0: kernel default)
	mss    int    // TCP_MAXSEG set before connect (0: kernel default)
}

func (o faultDialOptions) httpClient() *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second}
	if o.local != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(o.local)}
	}
	if o.rcvBuf > 0 || o.mss > 0 {
		// A small window and segment size keep what the kernels buffer for
		// a client that does not read small (on loopback the MSS is 64 KiB
		// and the sender's buffer grows to megabytes).
		d.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				if o.rcvBuf > 0 {
					serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, o.rcvBuf)
				}
				if o.mss > 0 && serr == nil {
					serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_MAXSEG, o.mss)
				}
			})
			if err != nil {
				return err
			}
			return serr
		}
	}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
}

// faultDial connects to a gateway and reads the init frame; it does not start
// a reader.
func faultDial(ctx context.Context, addr string, o faultDialOptions) (*websocket.Conn, string, *http.Response, error) {
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	h := http.Header{}
	if o.origin != "" {
		h.Set("Origin", o.origin)
	}
	ws, resp, err := websocket.Dial(dctx, "ws://"+addr+"/", &websocket.DialOptions{HTTPClient: o.httpClient(), HTTPHeader: h})
	if err != nil {
		return nil, "", resp, err
	}
	ws.SetReadLimit(1 << 20)
	_, data, err := ws.Read(dctx)
	if err != nil {
		ws.CloseNow()
		return nil, "", resp, fmt.Errorf("read init frame: %w", err)
	}
	var init struct {
		Type     string `json:"type"`
		ClientID string `json:"client_id"`
	}
	if err := json.Unmarshal(data, &init); err != nil || init.Type != "init" || init.ClientID == "" {
		ws.CloseNow()
		return nil, "", resp, fmt.Errorf("bad init frame %q: %v", data, err)
	}
	return ws, init.ClientID, resp, nil
}

// faultConnect dials and starts a reader calling onMsg (may be nil). t.Cleanup
// closes the connection and waits for the reader.
func faultConnect(t *testing.T, addr string, onMsg func(c *faultClient, data []byte)) *faultClient {
	t.Helper()
	ws, id, _, err := faultDial(t.Context(), addr, faultDialOptions{})
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	c := &faultClient{ws: ws, id: id, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			_, data, err := ws.Read(context.Background())
			if err != nil {
				c.err = err
				return
			}
			if string(data) == `{"type":"ping"}` {
				continue
			}
			if onMsg != nil {
				onMsg(c, data)
			}
		}
	}()
	t.Cleanup(func() { ws.CloseNow(); <-c.done })
	return c
}

// faultSameSet reports whether a and b hold the same strings.
func faultSameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// faultPercentile returns the p-th percentile (0..100) of sorted durations.
func faultPercentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p / 100)
	return sorted[i]
}
