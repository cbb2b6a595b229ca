package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/chatgate/chatgate/session"
)

// sysRun runs one workload against one system: its redis-server, its server
// processes, and the client workers; stopAll ends every one of them by PID.
type sysRun struct {
	o    *runOpts
	sys  string
	dir  string
	self string
	log  *slog.Logger
	out  *json.Encoder

	children []*child
	redisURL string
	servers  []*child
	addrs    []string // server listen addresses
	debug    []string // debug listeners (chatgate --debug-host)
	internal []string // gateways' internal listeners (/metrics)
	workers  []*workerProc

	store   *session.Store // chatgate publisher
	httpc   *http.Client   // Socket.IO publisher
	members []int          // connected members per room
	conns   int
	softirq []int
}

// workerProc is a client worker process and its command pipes.
type workerProc struct {
	c     *child
	in    io.WriteCloser
	lines chan []byte
}

func (s *sysRun) logFile(name string) (*os.File, string, error) {
	p := filepath.Join(s.dir, name+".log")
	f, err := os.Create(p)
	return f, p, err
}

// start launches a child whose output goes to its own log file.
func (s *sysRun) start(name, role string, cmd *exec.Cmd) (*child, error) {
	f, p, err := s.logFile(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if cmd.Stdout == nil {
		cmd.Stdout = f
	}
	cmd.Stderr = f
	c, err := startChild(name, role, cmd)
	if err != nil {
		return nil, err
	}
	c.log = p
	s.children = append(s.children, c)
	return c, nil
}

// stopAll stops workers first, then servers, then Redis: each by its PID.
func (s *sysRun) stopAll() {
	if s.store != nil {
		_ = s.store.Close()
	}
	for _, w := range s.workers {
		_, _ = io.WriteString(w.in, `{"cmd":"quit"}`+"\n")
		_ = w.in.Close()
	}
	for _, w := range s.workers {
		w.c.wait(5 * time.Second) // a worker that quits by itself flushes its profile
	}
	for _, role := range []string{"generator", "relay", "server", "redis"} {
		for i := len(s.children) - 1; i >= 0; i-- {
			if c := s.children[i]; c.role == role {
				c.stop(15 * time.Second)
			}
		}
	}
}

func (s *sysRun) run(ctx context.Context) error {
	s.softirq = kernelThreads()
	if err := s.startRedis(); err != nil {
		return err
	}
	for i := range s.o.servers {
		var err error
		if s.sys == sysChatgate {
			err = s.startGateway(i)
		} else {
			err = s.startSocketIO(i)
		}
		if err != nil {
			return err
		}
	}
	if s.sys == sysChatgate {
		st, err := session.Open(ctx, s.redisURL, 5*time.Second, nil)
		if err != nil {
			return err
		}
		s.store = st
		if s.o.workload == wlFanout && s.o.path == "client" {
			c, err := s.start("relay", "relay", exec.Command(s.self, "relay", "--redis-url", s.redisURL))
			if err != nil {
				return err
			}
			if _, err := waitLogLine(c, "relay ready", 10*time.Second); err != nil {
				return err
			}
		}
	} else {
		s.httpc = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: s.o.pubConc}}
	}
	switch s.o.workload {
	case wlIdle:
		return s.runIdle(ctx)
	case wlScale:
		return s.runScale(ctx)
	default:
		return s.runFanout(ctx)
	}
}

func (s *sysRun) startRedis() error {
	port, err := freePort()
	if err != nil {
		return err
	}
	cmd := exec.Command(s.o.redisBin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir, "--maxclients", "10000")
	c, err := s.start("redis", "redis", cmd)
	if err != nil {
		return err
	}
	if _, err := waitLogLine(c, "Ready to accept connections", 10*time.Second); err != nil {
		return err
	}
	s.redisURL = fmt.Sprintf("redis://127.0.0.1:%d/0", port)
	return nil
}

// gatewayArgs is gateway i's command line: the bench's flags, then
// --gateway-args, which therefore override them (the last value of a flag wins).
func (s *sysRun) gatewayArgs(i int) []string {
	args := []string{"gateway", "--redis-url", s.redisURL, "--ws-addr", "127.0.0.1:0", "--internal-addr", "127.0.0.1:0", "--ping-interval", s.o.pingInterval.String(),
		"--events=" + strconv.FormatBool(s.o.workload == wlFanout && s.o.path == "client"),
		"--allow-unsigned", "--log-format", "json", "--gateway-id", "bench" + strconv.Itoa(i),
		// Thousands of connections from a few loopback addresses, and clients
		// that send at the offered rate: the per-client limits are off.
		"--max-conns-per-ip", "0", "--client-frame-rate", "0", "--client-byte-rate", "0"}
	return append(args, s.o.gatewayArgs...)
}

func (s *sysRun) startGateway(i int) error {
	args := s.gatewayArgs(i)
	var cmd *exec.Cmd
	if s.o.host {
		cmd = exec.Command(s.self, append([]string{"host", "--debug-addr", "127.0.0.1:0",
			"--mem-profile-rate", strconv.Itoa(s.o.memRate), "--"}, args...)...)
	} else {
		cmd = exec.Command(s.o.chatgateBin, args...)
	}
	name := "gateway-" + strconv.Itoa(i)
	c, err := s.start(name, "server", cmd)
	if err != nil {
		return err
	}
	addr, err := logAddr(c, `"gateway listening"`)
	if err != nil {
		return err
	}
	internal, err := logAddr(c, `"internal listening"`)
	if err != nil {
		return err
	}
	if s.o.host {
		dl, err := waitLogLine(c, "bench debug listening", 5*time.Second)
		if err != nil {
			return err
		}
		var d struct {
			Addr string `json:"debug_addr"`
		}
		_ = json.Unmarshal([]byte(dl), &d)
		s.debug = append(s.debug, d.Addr)
	}
	s.servers = append(s.servers, c)
	s.addrs = append(s.addrs, addr)
	s.internal = append(s.internal, internal)
	return waitHTTP(c, "http://"+internal+"/readyz", 15*time.Second)
}

// logAddr waits for c's JSON log line containing msg and returns its addr.
func logAddr(c *child, msg string) (string, error) {
	line, err := waitLogLine(c, msg, 15*time.Second)
	if err != nil {
		return "", err
	}
	var rec struct {
		Addr string `json:"addr"`
	}
	if err := json.Unmarshal([]byte(line), &rec); err != nil || rec.Addr == "" {
		return "", fmt.Errorf("%s: cannot read an address from %q", c.name, line)
	}
	return rec.Addr, nil
}

func (s *sysRun) startSocketIO(i int) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	cmd := exec.Command(s.o.nodeBin, "server.js")
	cmd.Dir = s.o.peerDir
	cmd.Env = append(os.Environ(), "PORT="+strconv.Itoa(port), "HOST=127.0.0.1", "REDIS_URL="+s.redisURL,
		"NAME=sio-"+strconv.Itoa(i))
	c, err := s.start("socketio-"+strconv.Itoa(i), "server", cmd)
	if err != nil {
		return err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	s.servers = append(s.servers, c)
	s.addrs = append(s.addrs, addr)
	return waitHTTP(c, "http://"+addr+"/healthz", 20*time.Second)
}

func waitHTTP(c *child, url string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if c.exited() {
			return fmt.Errorf("%s exited: %v; log %s", c.name, c.err, c.log)
		}
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s: %s not ready within %s; log %s", c.name, url, d, c.log)
}

// startWorkers starts the client workers and waits until every connection is
// open (and bound and joined, for chatgate).
func (s *sysRun) startWorkers(ctx context.Context, rooms int, setup time.Duration) error {
	n := s.o.workers
	s.members = make([]int, rooms)
	var failed int
	for w := range n {
		first, last := w*s.o.conns/n, (w+1)*s.o.conns/n
		args := []string{"client", "--system", s.sys, "--targets", strings.Join(s.addrs, ","),
			"--first", strconv.Itoa(first), "--count", strconv.Itoa(last - first), "--rooms", strconv.Itoa(rooms),
			"--loops", strconv.Itoa(s.o.loops), "--coalesce", s.o.coalesce.String()}
		if s.o.srcIPs {
			args = append(args, "--src", strings.Join(srcAddrs(w, s.o.srcPerWorker), ","))
		}
		if s.o.connectRate > 0 {
			args = append(args, "--rate", strconv.FormatFloat(s.o.connectRate/float64(n), 'f', -1, 64))
		}
		if s.sys == sysChatgate {
			args = append(args, "--redis-url", s.redisURL)
		}
		cmd := exec.Command(s.self, args...)
		in, err := cmd.StdinPipe()
		if err != nil {
			return err
		}
		outp, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		c, err := s.start("client-"+strconv.Itoa(w), "generator", cmd)
		if err != nil {
			return err
		}
		wp := &workerProc{c: c, in: in, lines: make(chan []byte, 4)}
		go func() {
			sc := bufio.NewScanner(outp)
			sc.Buffer(make([]byte, 1<<20), 16<<20)
			for sc.Scan() {
				wp.lines <- append([]byte(nil), sc.Bytes()...)
			}
			close(wp.lines)
		}()
		s.workers = append(s.workers, wp)
	}
	start := time.Now()
	for _, w := range s.workers {
		var rep readyReport
		if err := w.recv(ctx, setup, &rep); err != nil {
			return err
		}
		s.conns += rep.Connected
		failed += rep.Failed
		for r, m := range rep.Rooms {
			s.members[r] += m
		}
		if rep.Failed > 0 {
			s.log.Warn("connections failed", "worker", w.c.name, "failed", rep.Failed, "errors", rep.Errors)
		}
	}
	s.log.Info("connections open", "connected", s.conns, "failed", failed, "seconds", time.Since(start).Seconds())
	if failed > 0 && s.conns < s.o.conns*99/100 {
		return fmt.Errorf("only %d of %d connections opened", s.conns, s.o.conns)
	}
	return nil
}

// srcAddrs are worker w's k source addresses: 127.0.0.(10+w×k) onwards.
func srcAddrs(w, k int) []string {
	out := make([]string, k)
	for i := range out {
		out[i] = "127.0.0." + strconv.Itoa(10+w*k+i)
	}
	return out
}

func (w *workerProc) send(cmd command) error {
	b, _ := json.Marshal(cmd)
	_, err := w.in.Write(append(b, '\n'))
	return err
}

func (w *workerProc) recv(ctx context.Context, d time.Duration, v any) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case line, ok := <-w.lines:
		if !ok {
			return fmt.Errorf("%s ended: see %s", w.c.name, w.c.log)
		}
		return json.Unmarshal(line, v)
	case <-t.C:
		return fmt.Errorf("%s: no answer within %s", w.c.name, d)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// watch lists every process whose CPU and RSS a step reports.
func (s *sysRun) watch() []watched {
	ws := []watched{{name: "bench", role: "generator", pid: os.Getpid()}}
	for _, c := range s.children {
		if !c.exited() {
			ws = append(ws, watched{name: c.name, role: c.role, pid: c.pid()})
		}
	}
	return ws
}

// reportAll asks every worker for its counts and merges them.
func (s *sysRun) reportAll(ctx context.Context) (*hist, stepReport, error) {
	h := newHist()
	var sum stepReport
	for _, w := range s.workers {
		if err := w.send(command{Cmd: "report"}); err != nil {
			return nil, sum, err
		}
	}
	for _, w := range s.workers {
		var r stepReport
		if err := w.recv(ctx, 30*time.Second, &r); err != nil {
			return nil, sum, err
		}
		h.merge(r.Hist, r.Max)
		sum.Outside += r.Outside
		sum.InWindow += r.InWindow
		sum.Other += r.Other
		sum.Closed += r.Closed
		sum.Sent += r.Sent
		sum.SendKO += r.SendKO
	}
	return h, sum, nil
}

// sleepUntil waits until t or ctx's end.
func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// runtimeMetrics fetches a debug host's runtime/metrics.
func runtimeMetrics(addr string) (map[string]float64, error) {
	resp, err := http.Get("http://" + addr + "/debug/runtime")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var m map[string]float64
	return m, json.NewDecoder(resp.Body).Decode(&m)
}
