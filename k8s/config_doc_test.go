package k8s_test

import (
	"bytes"
	"context"
	"debug/elf"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chatgate/chatgate/internal/app"
	"github.com/chatgate/chatgate/internal/config"
)

var update = flag.Bool("update", false, "rewrite the generated flag table in docs/config.md")

const (
	configDoc  = "../docs/config.md"
	tableStart = "<!-- flags:start (generated from config.Flags(); cd k8s && go test -run TestConfigDoc -update) -->"
	tableEnd   = "<!-- flags:end -->"
)

// flagTable renders config.Flags() as the Markdown table of docs/config.md.
func flagTable() string {
	var b strings.Builder
	b.WriteString("| Flag | Environment variable | Default | Meaning |\n|---|---|---|---|\n")
	cell := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	for _, f := range config.Flags() {
		def := "*(empty)*"
		if f.Default != "" {
			def = "`" + cell(f.Default) + "`"
		}
		for _, r := range config.Roles {
			if d, ok := f.RoleDefaults[r]; ok {
				def += fmt.Sprintf("; `%s`: `%s`", r, cell(d))
			}
		}
		fmt.Fprintf(&b, "| `--%s` | `%s` | %s | %s |\n", f.Name, f.Env, def, cell(f.Usage))
	}
	return b.String()
}

// TestConfigDocMatchesFlags: docs/config.md lists exactly the binary's flags,
// with their environment variables, defaults and meanings.
func TestConfigDocMatchesFlags(t *testing.T) {
	b, err := os.ReadFile(configDoc)
	if err != nil {
		t.Fatalf("read %s: %v", configDoc, err)
	}
	doc := string(b)
	before, rest, ok1 := strings.Cut(doc, tableStart+"\n")
	table, after, ok2 := strings.Cut(rest, tableEnd)
	if !ok1 || !ok2 {
		t.Fatalf("%s: markers %q … %q not found", configDoc, tableStart, tableEnd)
	}
	want := flagTable()
	if *update {
		if err := os.WriteFile(configDoc, []byte(before+tableStart+"\n"+want+tableEnd+after), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if table == want {
		return
	}
	have := map[string]bool{}
	for _, l := range strings.Split(table, "\n") {
		have[l] = true
	}
	for _, l := range strings.Split(want, "\n") {
		if !have[l] {
			t.Errorf("%s lacks or differs on: %s", configDoc, l)
		}
		delete(have, l)
	}
	for l := range have {
		t.Errorf("%s lists what the binary does not have: %s", configDoc, l)
	}
	t.Log("regenerate: cd k8s && go test -run TestConfigDoc -update")
}

// buildChatgate builds cmd/chatgate as the Dockerfile does (CGO_ENABLED=0).
func buildChatgate(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go not on PATH: %v; run the tests through scripts/test.sh", err)
	}
	bin := filepath.Join(t.TempDir(), "chatgate")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", bin, "./cmd/chatgate")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/chatgate: %v\n%s", err, out)
	}
	return bin
}

// TestBinaryHelpAndStatic builds the binary, checks that every role's
// --help lists every flag with its environment variable and the role's
// default, and
// that the CGO-free build is static (the distroless image has no libc).
func TestBinaryHelpAndStatic(t *testing.T) {
	t.Parallel()
	bin := buildChatgate(t)
	for _, role := range []string{"", app.RoleAll, app.RoleGateway, app.RoleHTTP} {
		t.Run("role="+role, func(t *testing.T) {
			args := []string{"--help"}
			if role != "" {
				args = []string{role, "--help"}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, args...)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			cmd.Env = []string{} // no stray settings from the test's environment
			if err := cmd.Run(); err != nil {
				t.Fatalf("chatgate %s: %v\n%s", strings.Join(args, " "), err, out.String())
			}
			help := out.String()
			flagsRole := role
			if flagsRole == "" {
				flagsRole = app.RoleAll // the default role
			}
			for _, f := range config.FlagsFor(flagsRole) {
				if line := fmt.Sprintf("--%s  (env %s, default %q)", f.Name, f.Env, f.Default); !strings.Contains(help, line) {
					t.Errorf("chatgate %s: missing %s", strings.Join(args, " "), line)
				}
			}
		})
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatalf("read binary: %v", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Fatalf("CGO_ENABLED=0 build is dynamically linked (program header %v): it will not run on distroless static", p.Type)
		}
	}
}
