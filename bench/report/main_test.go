package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRewriteReplacesMarkedSections(t *testing.T) {
	doc := "# B\n<!-- bench:fanout -->\nold\n<!-- /bench:fanout -->\n<!-- bench:idle -->\n<!-- /bench:idle -->\n" +
		"<!-- bench:scale -->\n<!-- /bench:scale -->\n<!-- bench:gobench -->\nold bench\n<!-- /bench:gobench -->\ntail\n"
	p := filepath.Join(t.TempDir(), "B.md")
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	rs := []result{
		{Label: "L1", System: "chatgate", Workload: "fanout", Path: "server", Offered: 30000, Rate: 29999, Fraction: 1, P99: 3, Pass: true},
		{Label: "L1", System: "chatgate", Workload: "idle", Conns: 10, Servers: 1, Growth: 12.5},
	}
	if err := rewrite(p, rs, "```\nBenchmarkX 1 ns/op\n```\n"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	got := string(b)
	tests := []struct {
		name, want string
		present    bool
	}{
		{"fanout row", "| server | chatgate | 30000 | 29999 | 100.00 % |", true},
		{"old text gone", "\nold\n", false},
		{"idle row", "| chatgate | 10 | 1 | 12.5 |", true},
		{"go bench", "BenchmarkX 1 ns/op", true},
		{"tail kept", "<!-- /bench:gobench -->\ntail\n", true},
		{"run label", "Run L1.", true},
	}
	for _, tc := range tests {
		if strings.Contains(got, tc.want) != tc.present {
			t.Errorf("%s: contains(%q) = %v\n%s", tc.name, tc.want, !tc.present, got)
		}
	}
	if err := rewrite(filepath.Join(t.TempDir(), "none.md"), rs, ""); err == nil {
		t.Error("a missing file must be an error")
	}
}
