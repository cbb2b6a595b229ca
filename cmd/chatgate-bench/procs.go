package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTick is USER_HZ, the unit of /proc CPU times (100 on Linux).
const clockTick = 100

// child is a process the bench started. The bench stops it by its PID only.
type child struct {
	name string // e.g. "gateway-1", "redis", "client-0"
	role string // "server", "redis", "relay", "generator"
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	log  string // file with its stdout/stderr (when not piped)
}

// startChild starts cmd with the parent-death signal set, so a crashed bench
// leaves no process behind.
func startChild(name, role string, cmd *exec.Cmd) (*child, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, role: role, cmd: cmd, done: make(chan struct{})}
	go func() { c.err = cmd.Wait(); close(c.done) }()
	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// wait waits up to d for the process to exit by itself.
func (c *child) wait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c.done:
		return true
	case <-t.C:
		return false
	}
}

// stop sends SIGTERM, then SIGKILL after grace, and waits for the exit.
func (c *child) stop(grace time.Duration) {
	if c.exited() {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-c.done:
		return
	case <-t.C:
	}
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.done
}

// procSample is one reading of a process's /proc counters.
type procSample struct {
	ticks  uint64 // utime+stime
	user   uint64 // utime
	sys    uint64 // stime
	rss    uint64 // bytes
	syscr  uint64
	syscw  uint64
	thread int
}

func readProc(pid int) (procSample, error) {
	var s procSample
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return s, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return s, errors.New("bad stat")
	}
	f := strings.Fields(string(b[i+2:]))
	if len(f) < 22 {
		return s, errors.New("short stat")
	}
	ut, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	th, _ := strconv.Atoi(f[17])
	rssPages, _ := strconv.ParseUint(f[21], 10, 64)
	s.ticks, s.user, s.sys, s.rss, s.thread = ut+st, ut, st, rssPages*uint64(os.Getpagesize()), th
	if io, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/io"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(io))
		for sc.Scan() {
			k, v, _ := strings.Cut(sc.Text(), ": ")
			n, _ := strconv.ParseUint(v, 10, 64)
			switch k {
			case "syscr":
				s.syscr = n
			case "syscw":
				s.syscw = n
			}
		}
	}
	return s, nil
}

// machineSample reads /proc/stat: busy and total CPU ticks of all cores.
func machineSample() (busy, total uint64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	for i, v := range f[1:] {
		n, _ := strconv.ParseUint(v, 10, 64)
		total += n
		if i != 3 && i != 4 && i < 8 { // idle, iowait; guest time is already in user
			busy += n
		}
	}
	return busy, total
}

// kernelThreads returns the PIDs of softirq threads: on loopback they carry
// part of the network cost of whichever process sends.
func kernelThreads() []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err == nil && bytes.HasPrefix(comm, []byte("ksoftirqd/")) {
			out = append(out, pid)
		}
	}
	return out
}

// snapshot is a reading of every watched process and of the machine.
type snapshot struct {
	at    time.Time
	procs map[string]procSample
	busy  uint64
	total uint64
	softq uint64
}

type watched struct {
	name, role string
	pid        int
}

func takeSnapshot(ws []watched, softirq []int) snapshot {
	s := snapshot{at: time.Now(), procs: make(map[string]procSample, len(ws))}
	for _, w := range ws {
		if p, err := readProc(w.pid); err == nil {
			s.procs[w.name] = p
		}
	}
	for _, pid := range softirq {
		if p, err := readProc(pid); err == nil {
			s.softq += p.ticks
		}
	}
	s.busy, s.total = machineSample()
	return s
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitLogLine polls a log file until a line contains want; it returns the line.
func waitLogLine(c *child, want string, d time.Duration) (string, error) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(c.log); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if strings.Contains(line, want) {
					return line, nil
				}
			}
		}
		if c.exited() {
			return "", fmt.Errorf("%s exited before %q: %v; log %s", c.name, want, c.err, c.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return "", fmt.Errorf("%s: no %q within %s; log %s", c.name, want, d, c.log)
}
