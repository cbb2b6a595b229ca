package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// pushOpts are the flags of `chatgate-bench push`.
type pushOpts struct {
	url, key, body string
	rate           float64
	dur, warm      time.Duration
	conc           int
	pids           string
	maxReq         int
}

// pushResult is what `chatgate-bench push` prints, one JSON object.
type pushResult struct {
	URL         string               `json:"url"`
	Offered     float64              `json:"offered_req_s"`
	Requests    uint64               `json:"requests"`
	Errors      uint64               `json:"errors"`
	ReqPerSec   float64              `json:"req_s"`
	P50us       int64                `json:"p50_us"`
	P99us       int64                `json:"p99_us"`
	MaxUs       int64                `json:"max_us"`
	ServerCPUus map[string]cpuPerReq `json:"server_cpu_us_per_req"`
}

type cpuPerReq struct {
	User   float64 `json:"user"`
	System float64 `json:"system"`
	Total  float64 `json:"total"`
}

// pushMain is a keep-alive HTTP load generator for the push API: it posts
// --body to --url at --rate requests/s over --conc persistent connections for
// --warm + --dur, and reports requests/s, latency quantiles and, for each
// --pids process, user and system CPU per request over the measured window.
func pushMain(args []string) error {
	var o pushOpts
	fs := flag.NewFlagSet("push", flag.ContinueOnError)
	fs.StringVar(&o.url, "url", "", "push API URL, e.g. http://127.0.0.1:9272/api/push/send/group")
	fs.StringVar(&o.key, "key", "", "API key (Authorization: Bearer KEY)")
	fs.StringVar(&o.body, "body", `{"group":"room-0","payload":{"type":"say","content":"hello"}}`, "request body (JSON)")
	fs.Float64Var(&o.rate, "rate", 1000, "offered requests per second; 0: as fast as --conc connections allow")
	fs.DurationVar(&o.dur, "dur", 20*time.Second, "measured window")
	fs.DurationVar(&o.warm, "warm", 3*time.Second, "warm-up before the window")
	fs.IntVar(&o.conc, "conc", 8, "concurrent keep-alive connections")
	fs.StringVar(&o.pids, "pids", "", "comma-separated name=PID of server processes whose CPU is reported")
	fs.IntVar(&o.maxReq, "max-requests", 2_000_000, "hard bound on requests sent")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.url == "" || o.conc < 1 || o.dur <= 0 || o.dur > 10*time.Minute {
		return errors.New("push: need --url, --conc >= 1 and 0 < --dur <= 10m")
	}
	pids, err := parsePids(o.pids)
	if err != nil {
		return err
	}
	res, err := runPush(context.Background(), &o, pids)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

func parsePids(s string) (map[string]int, error) {
	out := map[string]int{}
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		name, v, ok := strings.Cut(p, "=")
		pid, err := strconv.Atoi(v)
		if !ok || err != nil {
			return nil, fmt.Errorf("push: --pids entry %q: want name=PID", p)
		}
		out[name] = pid
	}
	return out, nil
}

func runPush(ctx context.Context, o *pushOpts, pids map[string]int) (*pushResult, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: o.conc, MaxConnsPerHost: o.conc, DisableCompression: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	start := time.Now()
	ws, we := start.Add(o.warm), start.Add(o.warm+o.dur)
	var (
		mu      sync.Mutex
		h       = newHist()
		inWin   atomic.Uint64
		errs    atomic.Uint64
		firstEr atomic.Value
	)
	jobs := make(chan time.Time, 1024)
	var wg sync.WaitGroup
	for range o.conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for due := range jobs {
				t0 := time.Now()
				err := postOnce(ctx, hc, o, due)
				t1 := time.Now()
				if err != nil {
					if errs.Add(1) == 1 {
						firstEr.Store(err.Error())
					}
					continue
				}
				if t0.After(ws) && t1.Before(we) {
					inWin.Add(1)
					mu.Lock()
					h.add(t1.Sub(due).Microseconds())
					mu.Unlock()
				}
			}
		}()
	}
	var a, b map[string]cpuTicks
	measured := false
	for k := 0; k < o.maxReq; k++ {
		due := time.Now()
		if o.rate > 0 {
			due = start.Add(time.Duration(float64(k) * 1e9 / o.rate))
			if d := time.Until(due); d > 0 {
				time.Sleep(d)
			}
		}
		if a == nil && !due.Before(ws) {
			a = readCPU(pids)
		}
		if !due.Before(we) {
			b, measured = readCPU(pids), true
			break
		}
		jobs <- due
	}
	close(jobs)
	wg.Wait()
	if !measured {
		return nil, errors.New("push: --max-requests reached before the window ended")
	}
	if e, _ := firstEr.Load().(string); e != "" {
		fmt.Fprintln(os.Stderr, "push: first error:", e)
	}
	n := inWin.Load()
	r := &pushResult{URL: o.url, Offered: o.rate, Requests: n, Errors: errs.Load(),
		ReqPerSec: round3(float64(n) / o.dur.Seconds()), P50us: h.quantile(0.5), P99us: h.quantile(0.99), MaxUs: h.max,
		ServerCPUus: map[string]cpuPerReq{}}
	if n > 0 {
		tick := 1e6 / float64(clockTicks)
		for name := range pids {
			u := float64(b[name].user-a[name].user) * tick / float64(n)
			s := float64(b[name].sys-a[name].sys) * tick / float64(n)
			r.ServerCPUus[name] = cpuPerReq{User: round3(u), System: round3(s), Total: round3(u + s)}
		}
	}
	return r, nil
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat times (100 on Linux).
const clockTicks = 100

func postOnce(ctx context.Context, hc *http.Client, o *pushOpts, due time.Time) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.url, strings.NewReader(o.body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if o.key != "" {
		req.Header.Set("Authorization", "Bearer "+o.key)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(b))
	}
	return nil
}

type cpuTicks struct{ user, sys uint64 }

// readCPU reads utime and stime of each process.
func readCPU(pids map[string]int) map[string]cpuTicks {
	out := make(map[string]cpuTicks, len(pids))
	for name, pid := range pids {
		if p, err := readProc(pid); err == nil {
			out[name] = cpuTicks{p.user, p.sys}
		}
	}
	return out
}
