package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Workloads.
const (
	wlFanout = "fanout" // stepped rate to R rooms, latency and CPU per delivery
	wlIdle   = "idle"   // C idle connections, RSS growth per connection
	wlScale  = "scale"  // C connections, one broadcast, time for all to receive
)

// runOpts are the orchestrator's flags.
type runOpts struct {
	systems  []string
	workload string
	path     string // server (push API / HTTP publish) or client (client frames)
	conns    int
	servers  int
	rooms    int
	rates    []float64 // offered deliveries/s
	warm     time.Duration
	dur      time.Duration
	drain    time.Duration
	size     int
	workers  int
	loops    int
	srcIPs   bool
	hold     time.Duration
	bcasts   int
	pubConc  int
	maxFail  int
	maxTime  time.Duration
	noisy    float64
	host     bool
	profile  string
	out      string
	label    string
	memRate  int
	coalesce time.Duration

	gatewayArgs  []string      // extra gateway flags, after the bench's own (they win)
	srcPerWorker int           // with srcIPs: source addresses per worker
	connectRate  float64       // connections opened per second over all workers (0: no bound)
	pingInterval time.Duration // gateways' --ping-interval (0: heartbeats off)
	hbIntervals  int           // scale: heartbeat intervals measured (with pingInterval)
	scaleGroup   bool          // scale: every connection joins one group; broadcasts alternate all / group
	bcastWait    time.Duration // scale: how long to wait for every connection to receive a broadcast

	chatgateBin string
	peerDir     string
	redisBin    string
	nodeBin     string
	keep        bool
}

func parseRunOpts(args []string) (*runOpts, error) {
	o := &runOpts{}
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	systems := fs.String("systems", "chatgate,socketio", "systems to run, in order: chatgate, socketio")
	rates := fs.String("rates", "20000,40000,60000,80000,100000,120000", "fanout: offered deliveries/s per step")
	fs.StringVar(&o.workload, "workload", wlFanout, "fanout, idle or scale")
	fs.StringVar(&o.path, "path", "server", "fanout publish path: server (push API / HTTP publish) or client (client frames)")
	fs.IntVar(&o.conns, "conns", 2000, "connections")
	fs.IntVar(&o.servers, "servers", 2, "server processes (gateways, or Socket.IO nodes)")
	fs.IntVar(&o.rooms, "rooms", 20, "rooms; connection i is in room (i/servers)%rooms (0: none)")
	fs.DurationVar(&o.warm, "warmup", 3*time.Second, "fanout: warm-up per step")
	fs.DurationVar(&o.dur, "duration", 20*time.Second, "fanout: measured time per step")
	fs.DurationVar(&o.drain, "drain", 2*time.Second, "fanout: wait after a step for late deliveries")
	fs.IntVar(&o.size, "size", 64, "message content bytes")
	fs.IntVar(&o.workers, "workers", 2, "client worker processes")
	fs.IntVar(&o.loops, "loops", 1, "epoll read loops per worker")
	fs.DurationVar(&o.coalesce, "coalesce", 0, "client workers pause this long between read batches (fewer wake-ups; adds at most this to latency)")
	fs.BoolVar(&o.srcIPs, "src-ips", false, "give each worker its own source addresses 127.0.0.(10+w×k) … (10+w×k+k-1), k = --src-per-worker")
	fs.IntVar(&o.srcPerWorker, "src-per-worker", 1, "with --src-ips: source addresses per worker, used in turn")
	fs.Float64Var(&o.connectRate, "connect-rate", 0, "connections opened per second over all workers (0: no bound); keeps accept backlogs from overflowing")
	gwArgs := fs.String("gateway-args", "", "extra flags for every gateway, split at spaces, after the bench's own (so they override them), e.g. \"--ws-engine nbio\"")
	fs.DurationVar(&o.pingInterval, "ping-interval", 0, "gateways' heartbeat interval (--ping-interval); 0 turns heartbeats off")
	fs.IntVar(&o.hbIntervals, "heartbeat-intervals", 2, "scale with --ping-interval: heartbeat intervals over which pings and gateway CPU are counted")
	fs.BoolVar(&o.scaleGroup, "scale-group", false, "scale: every connection also joins group r0; broadcasts alternate send-to-all and send-to-group")
	fs.DurationVar(&o.hold, "hold", 30*time.Second, "idle, scale: how long connections are held before memory is measured")
	fs.IntVar(&o.bcasts, "broadcasts", 3, "scale: broadcasts sent")
	fs.DurationVar(&o.bcastWait, "broadcast-wait", time.Minute, "scale: how long to wait for every connection to receive a broadcast (later deliveries count as lost)")
	fs.IntVar(&o.pubConc, "publish-concurrency", 16, "server path: publishes in flight")
	fs.IntVar(&o.maxFail, "max-fail", 2, "fanout: stop after this many failing steps in a row")
	fs.DurationVar(&o.maxTime, "max-time", 20*time.Minute, "bound on the whole run")
	fs.Float64Var(&o.noisy, "noisy-cores", 0.15, "flag a step noisy when other processes used more than this many cores")
	fs.BoolVar(&o.host, "debug-host", false, "run gateways through 'chatgate-bench host' (pprof and runtime metrics)")
	fs.StringVar(&o.profile, "profile", "", "with --debug-host: write a CPU profile of gateway 0 per fanout step into this directory")
	fs.IntVar(&o.memRate, "mem-profile-rate", 0, "with --debug-host: gateways' runtime.MemProfileRate (1 records every allocation)")
	fs.StringVar(&o.out, "out", "", "append results as JSON lines to this file")
	fs.StringVar(&o.label, "label", "", "label stored with each result")
	fs.StringVar(&o.chatgateBin, "chatgate-bin", "", "chatgate binary (default: go build ./cmd/chatgate into the run dir)")
	fs.StringVar(&o.peerDir, "peer-dir", "bench/.peer-cache/socketio", "Socket.IO peer with node_modules (bench/peer.sh prepares it)")
	fs.StringVar(&o.redisBin, "redis-server", "redis-server", "redis-server binary")
	fs.StringVar(&o.nodeBin, "node", "node", "node binary")
	fs.BoolVar(&o.keep, "keep", false, "keep the run directory (process logs)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	o.gatewayArgs = strings.Fields(*gwArgs)
	fdMax := fdLimit()
	for _, s := range strings.Split(*systems, ",") {
		switch s = strings.TrimSpace(s); s {
		case sysChatgate, sysSocketIO:
			o.systems = append(o.systems, s)
		case "":
		default:
			return nil, fmt.Errorf("unknown system %q", s)
		}
	}
	for _, r := range strings.Split(*rates, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(r), 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("bad rate %q", r)
		}
		o.rates = append(o.rates, v)
	}
	switch {
	case o.workload != wlFanout && o.workload != wlIdle && o.workload != wlScale:
		return nil, fmt.Errorf("unknown workload %q", o.workload)
	case o.path != "server" && o.path != "client":
		return nil, fmt.Errorf("--path must be server or client")
	case o.servers < 1 || o.conns < o.servers || o.workers < 1:
		return nil, errors.New("need servers ≥ 1, conns ≥ servers, workers ≥ 1")
	case o.workload == wlFanout && (o.rooms < 1 || o.conns < o.rooms*o.servers):
		return nil, errors.New("fanout needs rooms ≥ 1 and conns ≥ rooms×servers")
	case (o.conns+o.workers-1)/o.workers > fdMax-1000:
		return nil, fmt.Errorf("more than %d connections per worker: raise --workers (open files limit %d)", fdMax-1000, fdMax)
	case (o.conns+o.servers-1)/o.servers > fdMax-1000:
		return nil, fmt.Errorf("more than %d connections per server process: raise --servers (open files limit %d)", fdMax-1000, fdMax)
	case o.srcIPs && (o.srcPerWorker < 1 || 10+o.workers*o.srcPerWorker > 255):
		return nil, errors.New("--src-per-worker must be ≥ 1 and addresses must stay within 127.0.0.10-254")
	case o.connectRate < 0 || o.pingInterval < 0 || o.hbIntervals < 1:
		return nil, errors.New("--connect-rate and --ping-interval must not be negative, --heartbeat-intervals ≥ 1")
	}
	return o, nil
}

func runMain(args []string) error {
	raiseFDLimit() // before the checks: they use the raised limit, which every child inherits
	o, err := parseRunOpts(args)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.maxTime)
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	dir, err := os.MkdirTemp("", "chatgate-bench-")
	if err != nil {
		return err
	}
	if o.keep {
		log.Info("process logs kept", "dir", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	if o.chatgateBin == "" && contains(o.systems, sysChatgate) && !o.host {
		o.chatgateBin = filepath.Join(dir, "chatgate")
		log.Info("building chatgate", "out", o.chatgateBin)
		if out, err := exec.Command("go", "build", "-o", o.chatgateBin, "./cmd/chatgate").CombinedOutput(); err != nil {
			return fmt.Errorf("go build ./cmd/chatgate: %v\n%s", err, out)
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	var out io.Writer = io.Discard
	if o.out != "" {
		f, err := os.OpenFile(o.out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		out = f
	}
	for _, sys := range o.systems {
		s := &sysRun{o: o, sys: sys, dir: filepath.Join(dir, sys), self: self, log: log.With("system", sys), out: json.NewEncoder(out)}
		if err := os.MkdirAll(s.dir, 0o755); err != nil {
			return err
		}
		err := s.run(ctx)
		s.stopAll()
		if err != nil {
			return fmt.Errorf("%s: %w", sys, err)
		}
	}
	return nil
}

// fdLimit is this process's open-files limit (soft).
func fdLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 1024
	}
	return int(min(rl.Cur, 1<<30))
}

// raiseFDLimit raises the soft open-files limit to the hard limit (never
// beyond it), for this process and every process it starts. The Go runtime
// already raised it for this process but restores the original soft limit
// in children, unless the program sets the limit itself: so set it always.
func raiseFDLimit() {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err == nil {
		rl.Cur = rl.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
