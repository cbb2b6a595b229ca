package redistest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	startTimeout = 10 * time.Second       // per launch: until the server answers
	stopGrace    = 3 * time.Second        // SIGTERM / SHUTDOWN before SIGKILL
	reapTimeout  = 10 * time.Second       // after SIGKILL, until Wait returns
	pollInterval = 20 * time.Millisecond  // readiness polling
	portAttempts = 5                      // fresh ports to try if one is taken
	maxPort      = 55000                  // so that port+10000 (cluster bus) is valid
	busOffset    = 10000                  // redis cluster bus port = port + 10000
	logName      = "redis.log"            // stdout+stderr of redis-server, in its dir
	dialTimeout  = 500 * time.Millisecond // fixture's own probes
)

// errPortInUse marks a launch that failed because the port was taken.
var errPortInUse = errors.New("port already in use")

// Server is one redis-server process started for a test.
//
// Its port and directory are fixed for its lifetime; the process behind it
// may be killed, stopped and restarted. Methods are safe for concurrent use.
type Server struct {
	bin   string
	dir   string
	port  int
	extra []string // extra redis-server arguments (cluster mode)

	mu   sync.Mutex
	proc *process // nil while not running
}

// process is one running redis-server child.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once cmd.Wait has returned
	err  error         // cmd.Wait result, valid after done is closed
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitFor waits up to d for the process to exit and reports whether it did.
func (p *process) waitFor(d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-p.done:
		return true
	case <-timer.C:
		return false
	}
}

// kill sends SIGKILL and waits for the process to be reaped.
func (p *process) kill() error {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	if !p.waitFor(reapTimeout) {
		return fmt.Errorf("redis-server pid %d not reaped %v after SIGKILL", p.cmd.Process.Pid, reapTimeout)
	}
	return nil
}

// terminate sends SIGTERM, then SIGKILL after stopGrace, and waits.
func (p *process) terminate() error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if p.waitFor(stopGrace) {
		return nil
	}
	return p.kill()
}

// Start starts a standalone redis-server on 127.0.0.1 with a free random
// port, persistence off (--save "" --appendonly no) and its dir in
// t.TempDir(), and waits until it answers. t.Cleanup stops it (SIGTERM, then
// SIGKILL after 3s) and waits for the process to exit.
//
// If redis-server is not on PATH the test fails (it is never skipped): run
// the tests through scripts/test.sh.
func Start(t testing.TB) *Server {
	t.Helper()
	return startServer(t, lookPath(t, "redis-server"), false, nil)
}

// StartWith is Start with extra redis-server arguments, which win over the
// defaults: StartWith(t, "--appendonly", "yes") keeps data across Stop and
// Restart.
func StartWith(t testing.TB, extra ...string) *Server {
	t.Helper()
	return startServer(t, lookPath(t, "redis-server"), false, extra)
}

// lookPath finds a Redis binary or fails the test loudly.
func lookPath(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("\n\n"+
			"*** redistest: %s not found on PATH (%v).\n"+
			"*** These tests need a real Redis 7.x (redis-server and redis-cli).\n"+
			"*** Run them through scripts/test.sh, which provides Redis. They are never skipped.\n\n",
			name, err)
	}
	return p
}

// startServer creates a Server in a fresh temp dir and launches it on a free
// port, trying new ports if the chosen one turns out to be taken.
func startServer(t testing.TB, bin string, cluster bool, extra []string) *Server {
	t.Helper()
	s := &Server{bin: bin, dir: t.TempDir(), extra: extra}
	// Registered after t.TempDir, so it runs before the dir is removed.
	t.Cleanup(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.proc != nil {
			if err := s.proc.terminate(); err != nil {
				t.Errorf("redistest: %v", err)
			}
			s.proc = nil
		}
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	for range portAttempts {
		s.port = freePort(t, cluster)
		if err = s.launch(); !errors.Is(err, errPortInUse) {
			break
		}
	}
	if err != nil {
		t.Fatalf("redistest: redis-server did not start: %v%s", err, s.logTail())
	}
	return s
}

// freePort returns a currently free loopback port <= maxPort; with bus set,
// port+10000 is free as well. Another process may still grab it before
// redis-server binds; callers retry on errPortInUse.
func freePort(t testing.TB, bus bool) int {
	t.Helper()
	for range 200 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("redistest: listen on 127.0.0.1:0: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		ok := port <= maxPort
		if ok && bus {
			bl, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port+busOffset)))
			if ok = err == nil; ok {
				_ = bl.Close()
			}
		}
		_ = l.Close()
		if ok {
			return port
		}
	}
	t.Fatalf("redistest: no free loopback port <= %d found", maxPort)
	return 0
}

// launch starts redis-server on s.port and waits until it answers.
// s.mu must be held and s.proc must be nil.
func (s *Server) launch() error {
	logPath := filepath.Join(s.dir, logName)
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	st, err := logf.Stat()
	if err != nil {
		logf.Close()
		return err
	}
	logStart := st.Size() // this launch's output starts here

	args := append([]string{
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--dir", s.dir,
		"--save", "",
		"--appendonly", "no",
	}, s.extra...)
	cmd := exec.Command(s.bin, args...)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = sysProcAttr()
	err = cmd.Start()
	logf.Close() // the child has its own copy
	if err != nil {
		return fmt.Errorf("exec %s: %w", s.bin, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()

	if err := s.waitReady(p, logPath, logStart); err != nil {
		if kerr := p.kill(); kerr != nil {
			err = fmt.Errorf("%w; %v", err, kerr)
		}
		return err
	}
	s.proc = p
	return nil
}

// waitReady polls until the redis-server of p answers on s.Addr(). It checks
// INFO's process_id so that another server that happens to own the port
// cannot be mistaken for ours.
func (s *Server) waitReady(p *process, logPath string, logStart int64) error {
	want := strconv.Itoa(p.cmd.Process.Pid)
	deadline := time.Now().Add(startTimeout)
	for {
		if p.exited() {
			if out, _ := os.ReadFile(logPath); int64(len(out)) >= logStart &&
				strings.Contains(string(out[logStart:]), "Address already in use") {
				return fmt.Errorf("%w: %s (or its bus port): redis-server exited: %v", errPortInUse, s.Addr(), p.err)
			}
			return fmt.Errorf("redis-server on %s exited during startup: %v", s.Addr(), p.err)
		}
		info, err := command(s.Addr(), dialTimeout, "INFO", "server")
		if err == nil {
			got := infoField(info, "process_id")
			if got == want {
				return nil
			}
			err = fmt.Errorf("%s is answered by another redis (pid %s, ours %s)", s.Addr(), got, want)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis-server pid %s not answering on %s after %v: %v", want, s.Addr(), startTimeout, err)
		}
		time.Sleep(pollInterval)
	}
}

// logTail returns the last lines of the server log, formatted for a failure message.
func (s *Server) logTail() string {
	out, err := os.ReadFile(filepath.Join(s.dir, logName))
	if err != nil {
		return fmt.Sprintf("\n(no redis-server log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return "\n--- redis-server log tail (" + filepath.Join(s.dir, logName) + ") ---\n" + strings.Join(lines, "\n")
}

// Addr returns the server address, "127.0.0.1:PORT".
func (s *Server) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// URL returns the server as a redis URL for database 0, "redis://127.0.0.1:PORT/0".
func (s *Server) URL() string {
	return "redis://" + s.Addr() + "/0"
}

// PID returns the process id of the running redis-server, or 0 if it is
// not running (after Kill or Stop).
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return 0
	}
	return s.proc.cmd.Process.Pid
}

// Kill sends SIGKILL to the server and waits for it to exit, simulating a
// crash. It does nothing if the server is not running.
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return
	}
	err := s.proc.kill()
	s.proc = nil
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
}

// Stop shuts the server down cleanly with SHUTDOWN NOSAVE and waits for it
// to exit, falling back to SIGTERM (then SIGKILL) if it does not exit within
// 3s. It does nothing if the server is not running.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked(t)
}

func (s *Server) stopLocked(t testing.TB) {
	t.Helper()
	p := s.proc
	if p == nil {
		return
	}
	// A successful SHUTDOWN closes the connection without a reply.
	_, _ = command(s.Addr(), dialTimeout, "SHUTDOWN", "NOSAVE")
	var err error
	if !p.waitFor(stopGrace) {
		err = p.terminate()
	}
	s.proc = nil
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
}

// Restart starts the server again on the same port and dir and waits until
// it answers; a running server is stopped first. No data survives (there is
// no persistence). If the port is briefly still busy it keeps retrying until
// the startup deadline.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked(t)
	deadline := time.Now().Add(startTimeout)
	for {
		err := s.launch()
		if err == nil {
			return
		}
		if !errors.Is(err, errPortInUse) || time.Now().After(deadline) {
			t.Fatalf("redistest: restart of redis-server on %s failed: %v%s", s.Addr(), err, s.logTail())
		}
		time.Sleep(5 * pollInterval)
	}
}

// Client returns a go-redis client for the server; t.Cleanup closes it.
// It keeps working across Kill/Restart (go-redis reconnects), though
// commands issued while the server is down fail.
func (s *Server) Client(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.Addr()})
	t.Cleanup(func() { _ = c.Close() })
	return c
}
