package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// gatewayStats is what a gateway's /metrics (internal listener) says.
type gatewayStats struct {
	Goroutines  float64 `json:"goroutines"`
	RSSMB       float64 `json:"rss_mb"`
	Connections float64 `json:"connections"`
}

var metricsClient = &http.Client{Timeout: 30 * time.Second}

// scrapeGateway reads go_goroutines, process_resident_memory_bytes and
// chatgate_gateway_connections from a gateway's /metrics.
func scrapeGateway(addr string) (gatewayStats, error) {
	var g gatewayStats
	resp, err := metricsClient.Get("http://" + addr + "/metrics")
	if err != nil {
		return g, fmt.Errorf("scrape %s: %w", addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return g, fmt.Errorf("scrape %s: %s", addr, resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			continue
		}
		switch name {
		case "go_goroutines":
			g.Goroutines = v
		case "process_resident_memory_bytes":
			g.RSSMB = round3(v / (1 << 20))
		case "chatgate_gateway_connections":
			g.Connections = v
		}
	}
	return g, sc.Err()
}

// gatewayStats scrapes every gateway (none for Socket.IO).
func (s *sysRun) gatewayStats() ([]gatewayStats, error) {
	out := make([]gatewayStats, 0, len(s.internal))
	for _, a := range s.internal {
		g, err := scrapeGateway(a)
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, nil
}

// scaleServer is one server process's memory before and after the
// connections opened.
type scaleServer struct {
	Name             string  `json:"name"`
	RSSBeforeMB      float64 `json:"rss_before_mb"`
	RSSMB            float64 `json:"rss_mb"`
	Connections      float64 `json:"connections,omitempty"`
	GoroutinesBefore float64 `json:"goroutines_before,omitempty"`
	Goroutines       float64 `json:"goroutines,omitempty"`
}

// runScale opens C connections (at --connect-rate), holds them, reports each
// server's RSS and goroutines, then broadcasts and reports the time from the
// publish until every connection received it; with --ping-interval it then
// counts the heartbeats (measureHeartbeats).
func (s *sysRun) runScale(ctx context.Context) error {
	rooms := 0
	if s.o.scaleGroup {
		rooms = 1 // everyone in r0
	}
	if err := sleepUntil(ctx, time.Now().Add(2*time.Second)); err != nil {
		return err
	}
	watch := s.watch()
	before := takeSnapshot(watch, s.softirq)
	gwBefore, err := s.gatewayStats()
	if err != nil {
		return err
	}
	t0 := time.Now()
	if err := s.startWorkers(ctx, rooms, 10*time.Minute); err != nil {
		return err
	}
	connectSecs := time.Since(t0).Seconds()
	if err := sleepUntil(ctx, time.Now().Add(s.o.hold)); err != nil {
		return err
	}
	held := takeSnapshot(s.watch(), s.softirq)
	gwHeld, err := s.gatewayStats()
	if err != nil {
		return err
	}
	var servers []scaleServer
	var growth float64
	for i, c := range s.servers {
		sv := scaleServer{Name: c.name, RSSBeforeMB: round3(float64(before.procs[c.name].rss) / (1 << 20)),
			RSSMB: round3(float64(held.procs[c.name].rss) / (1 << 20))}
		if i < len(gwHeld) {
			sv.Connections, sv.GoroutinesBefore, sv.Goroutines = gwHeld[i].Connections, gwBefore[i].Goroutines, gwHeld[i].Goroutines
		}
		growth += float64(held.procs[c.name].rss) - float64(before.procs[c.name].rss)
		servers = append(servers, sv)
	}
	perConn := func(bytes float64) float64 { return round3(bytes / 1024 / float64(max(s.conns, 1))) }
	growthKiB := perConn(growth)
	redisKiB := perConn(float64(held.procs["redis"].rss) - float64(before.procs["redis"].rss))
	s.log.Info("connections held", "conns", s.conns, "connect_s", round3(connectSecs), "rss_growth_kib_per_conn", growthKiB, "servers", servers)

	body := content(s.o.size)
	for i := range s.o.bcasts {
		target, expect := "all", s.conns
		if s.o.scaleGroup && i%2 == 1 {
			target, expect = roomName(0), s.members[0]
		}
		// The window holds only this broadcast's ts, which is its publish
		// time: latency is the time from the publish to each delivery.
		ts := time.Now().Add(200 * time.Millisecond).Truncate(time.Microsecond)
		for _, w := range s.workers {
			if err := w.send(command{Cmd: "step", WinStart: ts.UnixMicro(), WinEnd: ts.UnixMicro() + 1}); err != nil {
				return err
			}
		}
		watch := s.watch()
		if err := sleepUntil(ctx, ts); err != nil {
			return err
		}
		a := takeSnapshot(watch, s.softirq)
		if err := s.broadcast(ctx, target, serverPayload(s.sys, target, body, ts.UnixMicro())); err != nil {
			return fmt.Errorf("broadcast %d to %s: %w", i, target, err)
		}
		var h *hist
		var sum stepReport
		deadline := time.Now().Add(s.o.bcastWait)
		for {
			if err := sleepUntil(ctx, time.Now().Add(250*time.Millisecond)); err != nil {
				return err
			}
			if h, sum, err = s.reportAll(ctx); err != nil {
				return err
			}
			if int(h.n) >= expect || time.Now().After(deadline) {
				break
			}
		}
		b := takeSnapshot(watch, s.softirq)
		r := s.base(wlScale)
		r.Expected, r.Delivered, r.Closed = uint64(expect), h.n, sum.Closed
		r.Fraction = float64(h.n) / float64(max(expect, 1))
		r.latencies(h)
		r.Pass = h.n == uint64(expect)
		s.fill(&r, a, b, watch)
		r.GrowthKiB = growthKiB
		r.Extra = map[string]any{"broadcast": i, "target": target, "connect_seconds": round3(connectSecs),
			"time_to_all_ms": r.Max, "servers": servers, "redis_growth_kib_per_conn": redisKiB,
			"connect_rate": s.o.connectRate, "gateway_args": strings.Join(s.o.gatewayArgs, " ")}
		s.emit(&r)
	}
	if s.o.pingInterval > 0 {
		return s.measureHeartbeats(ctx)
	}
	return nil
}

// broadcast sends payload to every connection (target "all") or to a group:
// chatgate through the Go push API (session.Store), Socket.IO through
// POST /publish.
func (s *sysRun) broadcast(ctx context.Context, target string, payload []byte) error {
	if s.sys != sysChatgate {
		if target == "all" {
			target = "lobby"
		}
		return s.publishOne(ctx, 0, target, payload)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if target == "all" {
		return s.store.SendToAll(ctx, payload)
	}
	return s.store.SendToGroup(ctx, target, payload)
}

// measureHeartbeats counts, over --heartbeat-intervals ping intervals, the
// heartbeats the workers receive per 100 ms and the gateways' CPU per
// second: with heartbeats spread over the interval neither has a
// synchronised spike (max ÷ mean near 1 per second).
func (s *sysRun) measureHeartbeats(ctx context.Context) error {
	win := time.Duration(s.o.hbIntervals) * s.o.pingInterval
	start := time.Now().Add(500 * time.Millisecond).Truncate(100 * time.Millisecond)
	end := start.Add(win)
	for _, w := range s.workers {
		if err := w.send(command{Cmd: "pings", WinStart: start.UnixMicro(), WinEnd: end.UnixMicro()}); err != nil {
			return err
		}
	}
	watch := s.watch()
	if err := sleepUntil(ctx, start); err != nil {
		return err
	}
	snaps := []snapshot{takeSnapshot(watch, s.softirq)}
	for t := start.Add(time.Second); !t.After(end); t = t.Add(time.Second) {
		if err := sleepUntil(ctx, t); err != nil {
			return err
		}
		snaps = append(snaps, takeSnapshot(watch, s.softirq))
	}
	if err := sleepUntil(ctx, time.Now().Add(500*time.Millisecond)); err != nil {
		return err
	}
	var text, proto []float64
	var outside uint64
	for _, w := range s.workers {
		if err := w.send(command{Cmd: "pingreport"}); err != nil {
			return err
		}
	}
	for _, w := range s.workers {
		var p pingReport
		if err := w.recv(ctx, 30*time.Second, &p); err != nil {
			return err
		}
		text, proto = addSeries(text, p.Text), addSeries(proto, p.Proto)
		outside += p.Outside
	}
	all := make([]float64, len(text))
	var nText, nProto float64
	for i := range all {
		all[i] = text[i] + proto[i]
		nText += text[i]
		nProto += proto[i]
	}
	perSec := sumEvery(all, 10)
	var cpu []float64 // gateways' cores, per second
	for i := 1; i < len(snaps); i++ {
		secs := snaps[i].at.Sub(snaps[i-1].at).Seconds()
		var ticks uint64
		for _, c := range s.servers {
			ticks += snaps[i].procs[c.name].ticks - snaps[i-1].procs[c.name].ticks
		}
		cpu = append(cpu, round3(float64(ticks)/clockTick/secs))
	}
	r := s.base("heartbeat")
	r.Expected, r.Delivered = uint64(s.conns*s.o.hbIntervals), uint64(nText)
	r.Fraction = nText / float64(max(r.Expected, 1))
	r.Pass = r.Fraction >= 0.99
	s.fill(&r, snaps[0], snaps[len(snaps)-1], watch)
	m100, x100 := meanMax(all)
	ms, xs := meanMax(perSec)
	mc, xc := meanMax(cpu)
	ratio := func(mx, mean float64) float64 { return round3(mx / max(mean, 1e-9)) }
	r.Extra = map[string]any{
		"ping_interval_s": s.o.pingInterval.Seconds(), "intervals": s.o.hbIntervals,
		"text_pings": nText, "protocol_pings": nProto, "outside_window": outside,
		"per_100ms_mean": round3(m100), "per_100ms_max": x100, "per_100ms_max_over_mean": ratio(x100, m100),
		"per_s": perSec, "per_s_mean": round3(ms), "per_s_max": xs, "per_s_max_over_mean": ratio(xs, ms),
		"gateway_cores_per_s": cpu, "gateway_cores_mean": round3(mc), "gateway_cores_max": xc,
		"gateway_cores_max_over_mean": ratio(xc, mc),
	}
	s.emit(&r)
	s.log.Info("heartbeats", "conns", s.conns, "text_pings", nText, "protocol_pings", nProto,
		"per_100ms_max_over_mean", ratio(x100, m100), "per_s", perSec, "per_s_max_over_mean", ratio(xs, ms),
		"gateway_cores_per_s", cpu, "gateway_cores_max_over_mean", ratio(xc, mc))
	return nil
}

// addSeries adds b to a element by element (a grows to b's length).
func addSeries(a []float64, b []uint64) []float64 {
	for len(a) < len(b) {
		a = append(a, 0)
	}
	for i, v := range b {
		a[i] += float64(v)
	}
	return a
}

// sumEvery sums consecutive runs of k values.
func sumEvery(v []float64, k int) []float64 {
	var out []float64
	for i := 0; i < len(v); i += k {
		var t float64
		for _, x := range v[i:min(i+k, len(v))] {
			t += x
		}
		out = append(out, t)
	}
	return out
}

func meanMax(v []float64) (mean, mx float64) {
	for _, x := range v {
		mean += x
		mx = max(mx, x)
	}
	return mean / float64(max(len(v), 1)), mx
}
