package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // the debug listener serves /debug/pprof
	"os"
	"os/signal"
	"runtime"
	"runtime/metrics"
	"syscall"

	"github.com/chatgate/chatgate/internal/app"
)

// hostMain runs a chatgate role exactly as the chatgate binary does
// (app.Main), plus a loopback debug listener with /debug/pprof and
// /debug/runtime (runtime/metrics as JSON), which the chatgate binary does
// not have. The bench uses it to profile a gateway under load and to break
// its memory per connection down.
func hostMain(args []string) int {
	fs := flag.NewFlagSet("host", flag.ContinueOnError)
	debugAddr := fs.String("debug-addr", "127.0.0.1:0", "debug listener (loopback)")
	memRate := fs.Int("mem-profile-rate", 0, "runtime.MemProfileRate (1: record every allocation); 0 keeps Go's default")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *memRate > 0 {
		runtime.MemProfileRate = *memRate
	}
	ln, err := net.Listen("tcp", *debugAddr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "host: debug listen:", err)
		return 1
	}
	http.HandleFunc("/debug/runtime", serveRuntimeMetrics)
	srv := &http.Server{Handler: http.DefaultServeMux}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	slog.New(slog.NewJSONHandler(os.Stderr, nil)).Info("bench debug listening", "debug_addr", ln.Addr().String())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return app.Main(ctx, fs.Args(), os.Getenv, os.Stdout, os.Stderr)
}

// serveRuntimeMetrics writes every numeric runtime/metrics value as JSON.
func serveRuntimeMetrics(w http.ResponseWriter, _ *http.Request) {
	descs := metrics.All()
	samples := make([]metrics.Sample, len(descs))
	for i, d := range descs {
		samples[i].Name = d.Name
	}
	metrics.Read(samples)
	out := make(map[string]float64, len(samples))
	for _, s := range samples {
		switch s.Value.Kind() {
		case metrics.KindUint64:
			out[s.Name] = float64(s.Value.Uint64())
		case metrics.KindFloat64:
			out[s.Name] = s.Value.Float64()
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}
