package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// stepResult is one measured step (fanout), one idle hold, or one broadcast.
type stepResult struct {
	Label    string  `json:"label,omitempty"`
	System   string  `json:"system"`
	Workload string  `json:"workload"`
	Path     string  `json:"path,omitempty"`
	Conns    int     `json:"conns"`
	Servers  int     `json:"servers"`
	Rooms    int     `json:"rooms,omitempty"`
	Offered  float64 `json:"offered_deliveries_per_s,omitempty"`
	MsgRate  float64 `json:"msg_per_s,omitempty"`
	Seconds  float64 `json:"seconds"`

	Expected  uint64  `json:"expected"`
	Delivered uint64  `json:"delivered"`
	Rate      float64 `json:"deliveries_per_s"` // received during the window

	Fraction float64 `json:"delivered_fraction"`
	P50      float64 `json:"p50_ms"`
	P95      float64 `json:"p95_ms"`
	P99      float64 `json:"p99_ms"`
	P999     float64 `json:"p999_ms"`
	Max      float64 `json:"max_ms"`
	Pass     bool    `json:"pass"`

	CPU   map[string]float64 `json:"cpu_cores"` // per process, over the measured window
	RSSMB map[string]float64 `json:"rss_mb"`

	ServerCores    float64 `json:"server_cores"` // server processes (+ relay)
	RedisCores     float64 `json:"redis_cores"`
	GeneratorCores float64 `json:"generator_cores"`
	SoftirqCores   float64 `json:"softirq_cores"`
	OtherCores     float64 `json:"other_cores"` // everything else on the machine
	Noisy          bool    `json:"noisy"`

	ServerUs       float64 `json:"server_us_per_delivery"`
	RedisUs        float64 `json:"redis_us_per_delivery"`
	GeneratorUs    float64 `json:"generator_us_per_delivery"`
	WritesPerDeliv float64 `json:"server_write_syscalls_per_delivery"`

	Sent       int64   `json:"client_sent,omitempty"`
	SendFailed int64   `json:"send_failed,omitempty"`
	PubErrors  int64   `json:"publish_errors,omitempty"`
	Closed     int64   `json:"closed_conns"`
	GrowthKiB  float64 `json:"rss_growth_kib_per_conn,omitempty"`
	Extra      any     `json:"extra,omitempty"`
}

// fill computes the CPU figures between two snapshots.
func (s *sysRun) fill(r *stepResult, a, b snapshot, ws []watched) {
	secs := b.at.Sub(a.at).Seconds()
	r.Seconds = secs
	r.CPU, r.RSSMB = map[string]float64{}, map[string]float64{}
	var ours, writes float64
	for _, w := range ws {
		pa, ok1 := a.procs[w.name]
		pb, ok2 := b.procs[w.name]
		if !ok1 || !ok2 {
			continue
		}
		cores := float64(pb.ticks-pa.ticks) / clockTick / secs
		r.CPU[w.name] = round3(cores)
		r.RSSMB[w.name] = round3(float64(pb.rss) / (1 << 20))
		ours += cores
		switch w.role {
		case "server", "relay":
			r.ServerCores += cores
			if w.role == "server" {
				writes += float64(pb.syscw - pa.syscw)
			}
		case "redis":
			r.RedisCores += cores
		case "generator":
			r.GeneratorCores += cores
		}
	}
	r.SoftirqCores = float64(b.softq-a.softq) / clockTick / secs
	r.OtherCores = float64(b.busy-a.busy)/clockTick/secs - ours - r.SoftirqCores
	r.Noisy = r.OtherCores > s.o.noisy
	if r.Delivered > 0 {
		per := func(cores float64) float64 { return round3(cores * secs * 1e6 / float64(r.Delivered)) }
		r.ServerUs, r.RedisUs, r.GeneratorUs = per(r.ServerCores), per(r.RedisCores), per(r.GeneratorCores)
		r.WritesPerDeliv = round3(writes / float64(r.Delivered))
	}
	r.ServerCores, r.RedisCores, r.GeneratorCores = round3(r.ServerCores), round3(r.RedisCores), round3(r.GeneratorCores)
	r.SoftirqCores, r.OtherCores = round3(r.SoftirqCores), round3(r.OtherCores)
}

func (r *stepResult) latencies(h *hist) {
	ms := func(us int64) float64 { return round3(float64(us) / 1000) }
	r.P50, r.P95, r.P99, r.P999 = ms(h.quantile(0.50)), ms(h.quantile(0.95)), ms(h.quantile(0.99)), ms(h.quantile(0.999))
	r.Max = ms(h.max)
}

func round3(v float64) float64 { return float64(int64(v*1000+0.5)) / 1000 }

func (s *sysRun) base(wl string) stepResult {
	return stepResult{Label: s.o.label, System: s.sys, Workload: wl, Conns: s.conns, Servers: s.o.servers}
}

func (s *sysRun) emit(r *stepResult) {
	_ = s.out.Encode(r)
	s.log.Info("result", "workload", r.Workload, "offered", r.Offered, "deliveries_per_s", int(r.Rate),
		"fraction", r.Fraction, "p50_ms", r.P50, "p99_ms", r.P99, "max_ms", r.Max, "server_cores", r.ServerCores,
		"redis_cores", r.RedisCores, "gen_cores", r.GeneratorCores, "server_us", r.ServerUs, "gen_us", r.GeneratorUs,
		"writes_per_delivery", r.WritesPerDeliv, "other_cores", r.OtherCores, "softirq", r.SoftirqCores,
		"noisy", r.Noisy, "pass", r.Pass, "growth_kib", r.GrowthKiB)
}

func (s *sysRun) runFanout(ctx context.Context) error {
	if err := s.startWorkers(ctx, s.o.rooms, 2*time.Minute); err != nil {
		return err
	}
	fails := 0
	for _, rate := range s.o.rates {
		r, err := s.step(ctx, rate)
		if err != nil {
			return err
		}
		s.emit(r)
		if r.Pass {
			fails = 0
		} else if fails++; fails >= s.o.maxFail {
			s.log.Info("stopping: steps failed in a row", "fails", fails)
			break
		}
	}
	return nil
}

// step offers rate deliveries/s for warm-up + duration and measures the
// deliveries of messages scheduled inside the measured window.
func (s *sysRun) step(ctx context.Context, rate float64) (*stepResult, error) {
	roomSize := float64(s.o.conns) / float64(s.o.rooms)
	msgRate := rate / roomSize
	start := time.Now().Add(500 * time.Millisecond).Truncate(time.Millisecond)
	ws, we := start.Add(s.o.warm), start.Add(s.o.warm+s.o.dur)
	cmd := command{Cmd: "step", StartNS: start.UnixNano(), WinStart: ws.UnixMicro(), WinEnd: we.UnixMicro(),
		MsgRate: msgRate, Send: s.o.path == "client", Size: s.o.size, EndNS: we.UnixNano()}
	for _, w := range s.workers {
		if err := w.send(cmd); err != nil {
			return nil, err
		}
	}
	var pubErrs atomic.Int64
	var pubWG sync.WaitGroup
	if s.o.path == "server" {
		pubWG.Add(1)
		go func() { defer pubWG.Done(); s.publish(ctx, start, we, msgRate, &pubErrs) }()
	}
	watch := s.watch()
	if err := sleepUntil(ctx, ws); err != nil {
		return nil, err
	}
	a := takeSnapshot(watch, s.softirq)
	profDone := s.startProfile(rate)
	if err := sleepUntil(ctx, we); err != nil {
		return nil, err
	}
	b := takeSnapshot(watch, s.softirq)
	pubWG.Wait()
	<-profDone
	if err := sleepUntil(ctx, time.Now().Add(s.o.drain)); err != nil {
		return nil, err
	}
	h, sum, err := s.reportAll(ctx)
	if err != nil {
		return nil, err
	}
	r := s.base(wlFanout)
	r.Path, r.Rooms, r.Offered, r.MsgRate = s.o.path, s.o.rooms, rate, round3(msgRate)
	for k := 0; ; k++ {
		t := cmd.StartNS + int64(float64(k)*1e9/msgRate)
		if t >= cmd.EndNS {
			break
		}
		if t >= ws.UnixNano() {
			r.Expected += uint64(s.members[k%s.o.rooms])
		}
	}
	r.Delivered = h.n
	r.Rate = round3(float64(sum.InWindow) / s.o.dur.Seconds())
	if r.Expected > 0 {
		r.Fraction = float64(h.n) / float64(r.Expected)
	}
	r.latencies(h)
	r.Pass = r.Fraction >= 0.999 && r.P99 <= 100
	r.Sent, r.SendFailed, r.PubErrors, r.Closed = sum.Sent, sum.SendKO, pubErrs.Load(), sum.Closed
	s.fill(&r, a, b, watch)
	return &r, nil
}

// publish sends the server-side messages: message k to room k%rooms at
// start + k/msgRate, with its scheduled time as ts, through Store.SendToGroup
// (chatgate) or POST /publish on alternating nodes (Socket.IO).
func (s *sysRun) publish(ctx context.Context, start, end time.Time, msgRate float64, errs *atomic.Int64) {
	type job struct {
		k  int
		ts int64
	}
	jobs := make(chan job, 4096)
	body := content(s.o.size)
	var wg sync.WaitGroup
	for range s.o.pubConc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				room := roomName(j.k % s.o.rooms)
				payload := serverPayload(s.sys, room, body, j.ts)
				if err := s.publishOne(ctx, j.k, room, payload); err != nil {
					if errs.Add(1) == 1 {
						s.log.Warn("publish failed", "err", err)
					}
				}
			}
		}()
	}
	for k := 0; ctx.Err() == nil; k++ {
		t := start.UnixNano() + int64(float64(k)*1e9/msgRate)
		if t >= end.UnixNano() {
			break
		}
		if d := time.Until(time.Unix(0, t)); d > 0 {
			time.Sleep(d)
		}
		jobs <- job{k, t / 1000}
	}
	close(jobs)
	wg.Wait()
}

func (s *sysRun) publishOne(ctx context.Context, k int, room string, payload []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if s.sys == sysChatgate {
		return s.store.SendToGroup(ctx, room, payload)
	}
	addr := s.addrs[(k/max(s.o.rooms, 1))%len(s.addrs)]
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/publish", bytes.NewReader(payload))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.httpc.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("publish: %s", resp.Status)
	}
	return nil
}

// startProfile takes a CPU profile of gateway 0 over the step's window.
func (s *sysRun) startProfile(rate float64) <-chan struct{} {
	done := make(chan struct{})
	if s.o.profile == "" || len(s.debug) == 0 {
		close(done)
		return done
	}
	secs := int(s.o.dur.Seconds())
	go func() {
		defer close(done)
		url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", s.debug[0], secs)
		resp, err := http.Get(url)
		if err != nil {
			s.log.Warn("profile", "err", err)
			return
		}
		defer resp.Body.Close()
		_ = os.MkdirAll(s.o.profile, 0o755)
		name := filepath.Join(s.o.profile, fmt.Sprintf("%s-%s-%d.pprof", s.sys, s.o.path, int(rate)))
		f, err := os.Create(name)
		if err != nil {
			return
		}
		defer f.Close()
		_, _ = io.Copy(f, resp.Body)
		s.log.Info("profile written", "file", name)
	}()
	return done
}

// runIdle opens C connections, holds them, and reports RSS growth per
// connection (and, with --debug-host, where a gateway's memory went).
func (s *sysRun) runIdle(ctx context.Context) error {
	if err := sleepUntil(ctx, time.Now().Add(2*time.Second)); err != nil {
		return err
	}
	watch := s.watch()
	before := takeSnapshot(watch, s.softirq)
	var mBefore []map[string]float64
	for _, d := range s.debug {
		m, err := runtimeMetrics(d)
		if err != nil {
			return err
		}
		mBefore = append(mBefore, m)
	}
	if err := s.startWorkers(ctx, s.o.rooms, 5*time.Minute); err != nil {
		return err
	}
	if err := sleepUntil(ctx, time.Now().Add(s.o.hold)); err != nil {
		return err
	}
	watch = s.watch()
	a := takeSnapshot(watch, s.softirq)
	if err := sleepUntil(ctx, time.Now().Add(5*time.Second)); err != nil {
		return err
	}
	b := takeSnapshot(watch, s.softirq)
	_, sum, err := s.reportAll(ctx)
	if err != nil {
		return err
	}
	r := s.base(wlIdle)
	r.Rooms, r.Closed = s.o.rooms, sum.Closed
	s.fill(&r, a, b, watch)
	var growth float64
	perServer := map[string]float64{}
	for _, c := range s.servers {
		g := float64(b.procs[c.name].rss) - float64(before.procs[c.name].rss)
		growth += g
		perServer[c.name+"_before_mb"] = round3(float64(before.procs[c.name].rss) / (1 << 20))
	}
	r.GrowthKiB = round3(growth / 1024 / float64(max(s.conns, 1)))
	extra := map[string]any{"rss_before": perServer,
		"redis_growth_kib_per_conn": round3((float64(b.procs["redis"].rss) - float64(before.procs["redis"].rss)) / 1024 / float64(max(s.conns, 1)))}
	if len(s.debug) > 0 {
		extra["runtime_per_conn_bytes"] = s.memoryBreakdown(mBefore)
	}
	r.Extra = extra
	s.emit(&r)
	return nil
}

// memoryBreakdown returns, summed over gateways, the growth per connection
// of selected runtime/metrics classes.
func (s *sysRun) memoryBreakdown(before []map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for i, d := range s.debug {
		after, err := runtimeMetrics(d)
		if err != nil {
			continue
		}
		for k, v := range after {
			if strings.HasPrefix(k, "/memory/classes/") || k == "/sched/goroutines:goroutines" || k == "/gc/heap/objects:objects" {
				out[k] += (v - before[i][k]) / float64(max(s.conns, 1))
			}
		}
	}
	keys := make([]string, 0, len(out))
	for k := range out {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out[k] = round3(out[k])
	}
	return out
}
