package main

import (
	"bufio"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/chatgate/chatgate/internal/config"
)

// childEnv makes the test binary act as chatgate-bench (its main) when the
// orchestrator of TestScaleRun starts it, as os.Executable(), for a client
// worker or a gateway host.
const childEnv = "CHATGATE_BENCH_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// The scale tooling end to end at a tiny size: two gateway processes, two
// worker processes with two source addresses each, a bounded connect rate, a
// broadcast to all and one to a group reach all 400 connections (counted in
// both workers), each gateway reports its connections, goroutines and RSS,
// and the heartbeats of two ping intervals are counted per 100 ms.
func TestScaleRun(t *testing.T) {
	t.Setenv(childEnv, "1")
	out := filepath.Join(t.TempDir(), "scale.jsonl")
	err := runMain([]string{"--systems", "chatgate", "--workload", "scale", "--debug-host",
		"--conns", "400", "--servers", "2", "--workers", "2", "--src-ips", "--src-per-worker", "2",
		"--connect-rate", "4000", "--hold", "1s", "--broadcasts", "2", "--scale-group", "--broadcast-wait", "5s",
		"--ping-interval", "2s", "--heartbeat-intervals", "2",
		"--gateway-args", "--ping-not-response-limit 3", "--out", out, "--max-time", "2m"})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var scale []stepResult
	var hb *stepResult
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r stepResult
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		switch r.Workload {
		case wlScale:
			scale = append(scale, r)
		case "heartbeat":
			hb = &r
		}
	}
	if len(scale) != 2 || hb == nil {
		t.Fatalf("want 2 scale results and a heartbeat result, got %d and %v", len(scale), hb != nil)
	}
	for i, r := range scale {
		e := r.Extra.(map[string]any)
		wantTarget := []string{"all", "r0"}[i]
		if r.Conns != 400 || r.Expected != 400 || r.Delivered != 400 || !r.Pass || e["target"] != wantTarget {
			t.Errorf("broadcast %d: conns %d expected %d delivered %d pass %v target %v (want 400 of 400 to %s)",
				i, r.Conns, r.Expected, r.Delivered, r.Pass, e["target"], wantTarget)
		}
		if e["gateway_args"] != "--ping-not-response-limit 3" {
			t.Errorf("gateway args not recorded: %v", e["gateway_args"])
		}
		servers := e["servers"].([]any)
		if len(servers) != 2 {
			t.Fatalf("servers: %v", servers)
		}
		for _, s := range servers {
			g := s.(map[string]any)
			// Goroutines per connection depend on the WebSocket engine: only
			// that they were read.
			if g["connections"] != 200.0 || g["goroutines"].(float64) <= 0 || g["goroutines_before"].(float64) <= 0 ||
				g["rss_mb"].(float64) <= g["rss_before_mb"].(float64) {
				t.Errorf("gateway figures: %v", g)
			}
		}
	}
	// Every connection gets one ping text frame per interval: two in the
	// window, give or take the one at each edge.
	if hb.Delivered < 400 || hb.Delivered > 1200 {
		t.Errorf("heartbeat: %d ping frames counted for 400 connections over 2 intervals", hb.Delivered)
	}
	if perS := hb.Extra.(map[string]any)["per_s"].([]any); len(perS) != 4 {
		t.Errorf("heartbeat: per-second series %v, want 4 seconds", perS)
	}
}

// Connections of one worker take its source addresses in turn, one address
// per round of gateways, so that every address reaches every gateway.
func TestClientWorkerSourceAddresses(t *testing.T) {
	addrs, url := startGateways(t, 2)
	srcs := []string{"127.0.0.41", "127.0.0.42"}
	cfg := clientConfig{sys: sysChatgate, targets: addrs, count: 8, redisURL: url, dialConc: 2, loops: 1,
		timeout: 10 * time.Second, rate: 1000}
	for _, s := range srcs {
		cfg.srcs = append(cfg.srcs, net.ParseIP(s).To4())
	}
	w, err := newClientWorker(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer w.shutdown()
	if rep := w.setup(); rep.Connected != 8 {
		t.Fatalf("setup: %+v", rep)
	}
	pairs := map[string]int{} // "source>gateway" → connections
	for j, c := range w.byIdx {
		sa, err := syscall.Getsockname(c.fd)
		if err != nil {
			t.Fatal(err)
		}
		a := sa.(*syscall.SockaddrInet4).Addr
		if got, want := net.IP(a[:]).String(), srcs[(j/2)%2]; got != want {
			t.Errorf("connection %d from %s, want %s", j, got, want)
		}
		pairs[net.IP(a[:]).String()+">"+addrs[j%2].String()]++
	}
	if len(pairs) != 4 {
		t.Errorf("source address × gateway pairs: %v, want all 4 used", pairs)
	}
}

// --gateway-args reach every gateway after the bench's own flags, so they
// override them as the gateway's flag parser reads them.
func TestGatewayArgsOverride(t *testing.T) {
	o, err := parseRunOpts([]string{"--ping-interval", "2s", "--gateway-args", " --ping-interval 1s  --ping-not-response-limit 5 "})
	if err != nil {
		t.Fatal(err)
	}
	s := &sysRun{o: o, redisURL: "redis://127.0.0.1:1/0"}
	args := s.gatewayArgs(3)
	if args[0] != "gateway" {
		t.Fatalf("role: %q", args[0])
	}
	cfg, err := config.LoadRole("gateway", args[1:], func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.PingInterval != time.Second || cfg.PingNotResponseLimit != 5 || cfg.GatewayID != "bench3" {
		t.Fatalf("gateway config: ping interval %s, not-response limit %d, id %q", cfg.PingInterval, cfg.PingNotResponseLimit, cfg.GatewayID)
	}
}
