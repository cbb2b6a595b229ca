package k8s_test

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/chatgate/chatgate/internal/config"
)

// limitFlag matches the flags that are limits, caps, rates, timeouts, TTLs,
// intervals or queues.
var limitFlag = regexp.MustCompile(`per-minute|^max-|-len$|-ttl$|timeout|-limit$|queue|interval`)

// TestOperationsListsEveryLimit: the limits table of docs/operations.md has
// a row for every limit flag, whose default cell states the flag's default.
func TestOperationsListsEveryLimit(t *testing.T) {
	b, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(b), "## Timeouts and limits")
	if !ok {
		t.Fatal("docs/operations.md has no \"## Timeouts and limits\" section")
	}
	table, _, _ = strings.Cut(table, "\n## ")
	rows := map[string]string{} // flag name → default cell
	for _, line := range strings.Split(table, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 {
			continue
		}
		for _, m := range regexp.MustCompile("`--([a-z0-9-]+)`").FindAllStringSubmatch(cells[1], -1) {
			rows[m[1]] = strings.TrimSpace(cells[2])
		}
	}
	n := 0
	for _, f := range config.Flags() {
		if !limitFlag.MatchString(f.Name) {
			continue
		}
		n++
		cell, ok := rows[f.Name]
		if !ok {
			t.Errorf("docs/operations.md, Timeouts and limits: no row for --%s (default %s)", f.Name, f.Default)
			continue
		}
		if !defaultStated(cell, f.Default) {
			t.Errorf("docs/operations.md: --%s default cell %q does not state its default %s", f.Name, cell, f.Default)
		}
	}
	if n < 20 {
		t.Fatalf("only %d limit flags matched: the pattern is broken", n)
	}
}

// defaultStated reports whether a default cell begins with def, written as
// the flag prints it or shorter: 24h0m0s as 24h, 65536 as 64 KiB.
func defaultStated(cell, def string) bool {
	short := regexp.MustCompile(`h0m$`).ReplaceAllString(regexp.MustCompile(`([hm])0s$`).ReplaceAllString(def, "$1"), "h")
	forms := []string{def, short}
	if n, err := strconv.Atoi(def); err == nil && n >= 1024 && n%1024 == 0 {
		forms = append(forms, strconv.Itoa(n/1024)+" KiB")
	}
	for _, f := range forms {
		if f != "" && (cell == f || strings.HasPrefix(cell, f+" ") || strings.HasPrefix(cell, f+",")) {
			return true
		}
	}
	return false
}
