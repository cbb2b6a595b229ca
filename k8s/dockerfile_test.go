package k8s_test

import (
	"bufio"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/chatgate/chatgate/internal/app"
	"github.com/chatgate/chatgate/internal/config"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, …
	args string
	line int
}

// parseDockerfile splits a Dockerfile into instructions per stage.
func parseDockerfile(t *testing.T, path string) [][]instruction {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer f.Close()
	var (
		stages  [][]instruction
		cur     strings.Builder
		startAt int
	)
	flush := func() {
		text := strings.TrimSpace(cur.String())
		cur.Reset()
		if text == "" {
			return
		}
		cmd, args, _ := strings.Cut(text, " ")
		in := instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args), line: startAt}
		switch {
		case in.cmd == "FROM":
			stages = append(stages, []instruction{in})
		case len(stages) == 0:
			// ARGs before the first FROM belong to no stage.
		default:
			stages[len(stages)-1] = append(stages[len(stages)-1], in)
		}
	}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue
		}
		if cur.Len() == 0 {
			startAt = n
		}
		if body, more := strings.CutSuffix(line, `\`); more {
			cur.WriteString(body + " ")
			continue
		}
		cur.WriteString(line)
		flush()
	}
	flush()
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return stages
}

func defaultPort(t *testing.T, flag string) string {
	t.Helper()
	for _, f := range config.Flags() {
		if f.Name == flag {
			_, p, err := net.SplitHostPort(f.Default)
			if err != nil {
				t.Fatalf("--%s default %q: %v", flag, f.Default, err)
			}
			return p
		}
	}
	t.Fatalf("no flag --%s", flag)
	return ""
}

// TestDockerfileEssentials lints ../Dockerfile, which cannot be built here
// (no Docker engine): multi-stage, static CGO-free build of cmd/chatgate,
// small non-root runtime, role chosen by arguments, no ADD of URLs.
func TestDockerfileEssentials(t *testing.T) {
	t.Parallel()
	stages := parseDockerfile(t, "../Dockerfile")
	if len(stages) < 2 {
		t.Fatalf("Dockerfile: %d stage(s), want a multi-stage build", len(stages))
	}
	var buildStage string
	for _, st := range stages {
		for _, in := range st {
			if in.cmd == "ADD" && regexp.MustCompile(`(?i)\b(https?|git)://|git@`).MatchString(in.args) {
				t.Errorf("Dockerfile:%d: ADD of a URL (%s); download in a RUN with a checksum instead", in.line, in.args)
			}
			if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
				if !regexp.MustCompile(`CGO_ENABLED=0`).MatchString(in.args) && !stageHasEnv(st, "CGO_ENABLED=0") {
					t.Errorf("Dockerfile:%d: go build without CGO_ENABLED=0", in.line)
				}
				if !strings.Contains(in.args, "./cmd/chatgate") {
					t.Errorf("Dockerfile:%d: go build does not build ./cmd/chatgate", in.line)
				}
				if _, name, ok := strings.Cut(strings.ToUpper(st[0].args), " AS "); ok {
					buildStage = strings.ToLower(strings.TrimSpace(name))
				}
			}
		}
	}
	if buildStage == "" {
		t.Fatal("Dockerfile: no named stage runs go build")
	}
	final := stages[len(stages)-1]
	base := strings.Fields(final[0].args)[0]
	if !strings.HasPrefix(base, "gcr.io/distroless/static") && base != "scratch" {
		t.Errorf("Dockerfile: runtime image %s, want distroless static or scratch", base)
	}
	var user, entry string
	var copied, ran bool
	var exposed []string
	for _, in := range final[1:] {
		switch in.cmd {
		case "USER":
			user = in.args
		case "ENTRYPOINT":
			entry = in.args
		case "COPY":
			copied = copied || strings.Contains(in.args, "--from="+buildStage)
		case "RUN":
			ran = true
		case "EXPOSE":
			exposed = append(exposed, strings.Fields(in.args)...)
		case "CMD":
			t.Errorf("Dockerfile:%d: CMD in the runtime stage; the role comes from the container's arguments", in.line)
		}
	}
	uid, _, _ := strings.Cut(user, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		t.Errorf("Dockerfile: runtime USER %q, want a numeric non-root uid (runAsNonRoot can only verify numbers)", user)
	}
	if !copied {
		t.Errorf("Dockerfile: runtime stage does not COPY --from=%s", buildStage)
	}
	if ran {
		t.Error("Dockerfile: RUN in the runtime stage (it has no shell)")
	}
	if entry != `["/chatgate"]` {
		t.Errorf("Dockerfile: ENTRYPOINT %s, want exec form [\"/chatgate\"] so that arguments pick the role", entry)
	}
	for _, flag := range []string{"ws-addr", "http-addr"} {
		p := defaultPort(t, flag)
		if !slices.Contains(exposed, p) {
			t.Errorf("Dockerfile: EXPOSE %v lacks %s (default of --%s)", exposed, p, flag)
		}
		// All-in-one listens on loopback by default: in a container that
		// would be unreachable (issue 15).
		if env := config.EnvName(flag) + "=:" + p; !stageHasEnv(final, env) {
			t.Errorf("Dockerfile: runtime stage lacks ENV %s (all-in-one must listen on every interface in a container)", env)
		}
	}
	// -X of a variable that does not exist is silently ignored: each must
	// name one of internal/version's.
	b, _ := os.ReadFile("../Dockerfile")
	xs := regexp.MustCompile(`-X ([^=\s]+)=`).FindAllStringSubmatch(string(b), -1)
	if len(xs) == 0 {
		t.Error("Dockerfile: go build sets no version with -ldflags -X")
	}
	for _, x := range xs {
		if !slices.Contains([]string{"version", "revision", "date"}, strings.TrimPrefix(x[1], "github.com/chatgate/chatgate/internal/version.")) {
			t.Errorf("Dockerfile: -X %s is not a variable of internal/version (version, revision, date)", x[1])
		}
	}
	if _, p, _ := net.SplitHostPort(app.DefaultInternalAddr); !slices.Contains(exposed, p) {
		t.Errorf("Dockerfile: EXPOSE %v lacks %s (the split roles' internal listener)", exposed, p)
	}
	goVersion := goDirective(t)
	if !strings.Contains(stages[0][0].args, "golang:") {
		t.Errorf("Dockerfile: first stage %q is not a golang image", stages[0][0].args)
	}
	if b, _ := os.ReadFile("../Dockerfile"); !strings.Contains(string(b), "GO_VERSION="+goVersion) {
		t.Errorf("Dockerfile: GO_VERSION does not match go.mod's go %s", goVersion)
	}
}

func stageHasEnv(st []instruction, kv string) bool {
	for _, in := range st {
		if in.cmd == "ENV" && strings.Contains(in.args, kv) {
			return true
		}
	}
	return false
}

func goDirective(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "go "); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatal("go.mod has no go directive")
	return ""
}

// TestDockerignoreKeepsTheBuildInputs: the context excludes VCS data and
// tests but never what go build needs.
func TestDockerignoreKeepsTheBuildInputs(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	var pats []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			pats = append(pats, l)
		}
	}
	if !slices.Contains(pats, ".git") {
		t.Error(".dockerignore: .git is not excluded")
	}
	for _, keep := range []string{"go.mod", "go.sum", "cmd", "session", "gateway", "httpapi", "frontend", "internal", "*", "**", "*.go", "**/*.go"} {
		if slices.Contains(pats, keep) || slices.Contains(pats, keep+"/") {
			t.Errorf(".dockerignore excludes %s, which the build needs", keep)
		}
	}
}
