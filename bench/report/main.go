// Command report prints Markdown tables from chatgate-bench results (JSON
// lines), for docs/BENCHMARKS.md:
//
//	go run ./bench/report bench/results/fanout.jsonl bench/results/idle.jsonl bench/results/scale.jsonl
//
// With -docs FILE it instead rewrites, in FILE, the text between the markers
// <!-- bench:NAME --> and <!-- /bench:NAME --> for NAME in fanout, idle and
// scale.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// result mirrors the fields of a chatgate-bench result line that the tables use.
type result struct {
	Label      string             `json:"label"`
	System     string             `json:"system"`
	Workload   string             `json:"workload"`
	Path       string             `json:"path"`
	Conns      int                `json:"conns"`
	Servers    int                `json:"servers"`
	Offered    float64            `json:"offered_deliveries_per_s"`
	Rate       float64            `json:"deliveries_per_s"`
	Fraction   float64            `json:"delivered_fraction"`
	P50        float64            `json:"p50_ms"`
	P95        float64            `json:"p95_ms"`
	P99        float64            `json:"p99_ms"`
	P999       float64            `json:"p999_ms"`
	Max        float64            `json:"max_ms"`
	Pass       bool               `json:"pass"`
	CPU        map[string]float64 `json:"cpu_cores"`
	RSS        map[string]float64 `json:"rss_mb"`
	Server     float64            `json:"server_cores"`
	Redis      float64            `json:"redis_cores"`
	Gen        float64            `json:"generator_cores"`
	Other      float64            `json:"other_cores"`
	Softirq    float64            `json:"softirq_cores"`
	Noisy      bool               `json:"noisy"`
	ServerUs   float64            `json:"server_us_per_delivery"`
	RedisUs    float64            `json:"redis_us_per_delivery"`
	GenUs      float64            `json:"generator_us_per_delivery"`
	Writes     float64            `json:"server_write_syscalls_per_delivery"`
	Closed     int64              `json:"closed_conns"`
	Growth     float64            `json:"rss_growth_kib_per_conn"`
	Extra      map[string]any     `json:"extra"`
	SendFailed int64              `json:"send_failed"`
}

func main() {
	docs := flag.String("docs", "", "rewrite the marked sections of this Markdown file instead of printing")
	flag.Parse()
	var rs []result
	var texts []string
	for _, p := range flag.Args() {
		if strings.HasSuffix(p, ".txt") { // go test -bench output, shown verbatim
			b, err := os.ReadFile(p)
			if err != nil {
				fmt.Fprintln(os.Stderr, "report:", err)
				os.Exit(1)
			}
			texts = append(texts, strings.TrimSpace(string(b)))
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			fmt.Fprintln(os.Stderr, "report:", err)
			os.Exit(1)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var r result
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				fmt.Fprintf(os.Stderr, "report: %s: %v\n", p, err)
				os.Exit(1)
			}
			rs = append(rs, r)
		}
		f.Close()
	}
	gobench := ""
	if len(texts) > 0 {
		gobench = "```\n" + strings.Join(texts, "\n\n") + "\n```\n"
	}
	if *docs == "" {
		write(os.Stdout, rs, "")
		fmt.Print(gobench)
		return
	}
	if err := rewrite(*docs, rs, gobench); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

// rewrite replaces each marked section of the Markdown file at path.
func rewrite(path string, rs []result, gobench string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	doc := string(b)
	for _, name := range []string{"fanout", "idle", "scale", "gobench"} {
		if name == "gobench" && gobench == "" {
			continue
		}
		open, end := "<!-- bench:"+name+" -->", "<!-- /bench:"+name+" -->"
		i, j := strings.Index(doc, open), strings.Index(doc, end)
		if i < 0 || j < i {
			return fmt.Errorf("%s: no %s … %s markers", path, open, end)
		}
		var sb strings.Builder
		if name == "gobench" {
			sb.WriteString(gobench)
		} else {
			write(&sb, rs, name)
		}
		doc = doc[:i+len(open)] + "\n" + sb.String() + doc[j:]
	}
	return os.WriteFile(path, []byte(doc), 0o644)
}

// write prints the tables of one workload (all when only is "").
func write(w io.Writer, rs []result, only string) {
	var fan, idle, scale []result
	for _, r := range rs {
		switch r.Workload {
		case "fanout":
			fan = append(fan, r)
		case "idle":
			idle = append(idle, r)
		case "scale":
			scale = append(scale, r)
		}
	}
	switch only {
	case "fanout":
		idle, scale = nil, nil
	case "idle":
		fan, scale = nil, nil
	case "scale":
		fan, idle = nil, nil
	}
	sort.SliceStable(fan, func(i, j int) bool {
		a, b := fan[i], fan[j]
		if a.Path != b.Path {
			return a.Path > b.Path
		}
		if a.Offered != b.Offered {
			return a.Offered < b.Offered
		}
		return a.System < b.System
	})
	if labels := labelsOf(fan, idle, scale); labels != "" {
		fmt.Fprintf(w, "Run %s.\n\n", labels)
	}
	if len(fan) > 0 {
		fmt.Fprintln(w, "| path | system | offered/s | delivered/s | delivered | p50 ms | p95 ms | p99 ms | p99.9 ms | max ms | pass | server cores | redis cores | server µs/deliv | redis µs/deliv | writes/deliv | generator µs/deliv | other cores | noisy |")
		fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|---|")
		for _, r := range fan {
			fmt.Fprintf(w, "| %s | %s | %.0f | %.0f | %.2f %% | %.1f | %.1f | %.1f | %.1f | %.0f | %s | %.2f | %.3f | %.1f | %.2f | %.2f | %.1f | %.2f | %s |\n",
				r.Path, r.System, r.Offered, r.Rate, 100*r.Fraction, r.P50, r.P95, r.P99, r.P999, r.Max, yes(r.Pass),
				r.Server, r.Redis, r.ServerUs, r.RedisUs, r.Writes, r.GenUs, r.Other, yes(r.Noisy))
		}
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Per-process CPU (cores) in each step:")
		fmt.Fprintln(w)
		for _, r := range fan {
			fmt.Fprintf(w, "- %s %s %.0f/s: %s\n", r.Path, r.System, r.Offered, procs(r.CPU))
		}
		fmt.Fprintln(w)
	}
	if len(idle) > 0 {
		fmt.Fprintln(w, "| system | connections | servers | RSS growth KiB/conn | server RSS MB | server cores (idle) | closed | noisy |")
		fmt.Fprintln(w, "|---|--:|--:|--:|---|--:|--:|---|")
		for _, r := range idle {
			fmt.Fprintf(w, "| %s | %d | %d | %.1f | %s | %.3f | %d | %s |\n", r.System, r.Conns, r.Servers, r.Growth,
				procsMatching(r.RSS, "gateway", "socketio"), r.Server, r.Closed, yes(r.Noisy))
		}
		fmt.Fprintln(w)
		for _, r := range idle {
			if m, ok := r.Extra["runtime_per_conn_bytes"].(map[string]any); ok {
				fmt.Fprintf(w, "%s runtime/metrics growth per connection (bytes): %s\n\n", r.System, breakdown(m))
			}
		}
	}
	if len(scale) > 0 {
		fmt.Fprintln(w, "| system | connections | servers | received | time for all to receive (ms) | p50 ms | p99 ms | server cores | other cores | noisy | connect s | gateway RSS MB |")
		fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|--:|--:|---|--:|---|")
		for _, r := range scale {
			fmt.Fprintf(w, "| %s | %d | %d | %.2f %% | %.0f | %.0f | %.0f | %.2f | %.2f | %s | %v | %s |\n", r.System, r.Conns, r.Servers,
				100*r.Fraction, r.Max, r.P50, r.P99, r.Server, r.Other, yes(r.Noisy), r.Extra["connect_seconds"], procsMatching(r.RSS, "gateway"))
		}
	}
}

// labelsOf lists the run labels (start times) of the results shown.
func labelsOf(sets ...[]result) string {
	seen := map[string]bool{}
	var out []string
	for _, set := range sets {
		for _, r := range set {
			if r.Label != "" && !seen[r.Label] {
				seen[r.Label] = true
				out = append(out, r.Label)
			}
		}
	}
	return strings.Join(out, ", ")
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func procs(m map[string]float64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %.3f", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func procsMatching(m map[string]float64, prefixes ...string) string {
	sub := map[string]float64{}
	for k, v := range m {
		for _, p := range prefixes {
			if strings.HasPrefix(k, p) {
				sub[k] = v
			}
		}
	}
	return procs(sub)
}

func breakdown(m map[string]any) string {
	keys := []string{"/memory/classes/heap/stacks:bytes", "/memory/classes/heap/objects:bytes", "/memory/classes/heap/unused:bytes",
		"/memory/classes/heap/free:bytes", "/memory/classes/metadata/other:bytes", "/memory/classes/metadata/mspan/inuse:bytes",
		"/memory/classes/other:bytes", "/memory/classes/total:bytes", "/sched/goroutines:goroutines"}
	var parts []string
	for _, k := range keys {
		if v, ok := m[k].(float64); ok {
			parts = append(parts, fmt.Sprintf("%s %.0f", strings.TrimPrefix(k, "/memory/classes/"), v))
		}
	}
	return strings.Join(parts, ", ")
}
