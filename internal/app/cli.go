package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/chatgate/chatgate/internal/config"
	"github.com/chatgate/chatgate/internal/token"
	"github.com/chatgate/chatgate/internal/version"
	"github.com/chatgate/chatgate/session"
)

// Commands besides the roles (chatgate COMMAND …).
const (
	cmdVersion = "version"
	cmdHelp    = "help"
	cmdToken   = "token"
	cmdCheck   = "check"
)

// Exit codes of Main.
const (
	exitOK    = 0
	exitFail  = 1 // the role or command failed (Redis unreachable, …)
	exitUsage = 2 // bad arguments, flags or settings: nothing was started
)

// Main runs the command line args — a role and its flags (the role may be
// left out: all), or a command — with the environment getenv, until ctx
// ends. It returns the process exit code: 0, 1 when the role or command
// failed, 2 when the arguments or settings are wrong (then nothing started,
// and stderr says what to write instead).
func Main(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cmd, rest := RoleAll, args
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, rest = args[0], args[1:]
	}
	switch {
	case cmd == cmdVersion, len(rest) == 1 && slices.Contains(config.Roles, cmd) && (rest[0] == "--version" || rest[0] == "-version"):
		fmt.Fprintln(stdout, version.Get())
		return exitOK
	case cmd == cmdHelp:
		role := RoleAll
		if len(rest) > 0 && slices.Contains(config.Roles, rest[0]) {
			role = rest[0]
		}
		writeUsage(stdout, role)
		return exitOK
	case cmd == cmdToken:
		return mintToken(rest, getenv, stdout, stderr)
	case cmd == cmdCheck:
		return check(ctx, rest, getenv, stdout, stderr)
	case slices.Contains(config.Roles, cmd):
		return runRole(ctx, cmd, rest, getenv, stdout, stderr)
	}
	return usageError(stderr, "", fmt.Errorf("unknown role or command %q (want all, gateway, http, push, check, token or version)", cmd))
}

// usageError reports a usage or settings error the one way every command
// does, and returns exitUsage.
func usageError(stderr io.Writer, cmd string, err error) int {
	help := "chatgate --help"
	if cmd != "" && cmd != RoleAll {
		help = "chatgate " + cmd + " --help"
	}
	fmt.Fprintf(stderr, "chatgate: %v\nRun %q for the usage and every setting.\n", err, help)
	return exitUsage
}

// loadRole loads role's settings from rest and the environment, and checks
// what the role needs. On --help or an error it has printed and returns the
// exit code.
func loadRole(role, cmd string, rest []string, getenv func(string) string, stdout, stderr io.Writer) (*config.Config, int, bool) {
	cfg, err := config.LoadRole(role, rest, getenv)
	if errors.Is(err, config.ErrHelp) {
		writeUsage(stdout, role)
		return nil, exitOK, false
	}
	if err == nil {
		err = Validate(role, cfg)
	}
	if err != nil {
		return nil, usageError(stderr, cmd, argHint(cmd, err)), false
	}
	return cfg, exitOK, true
}

// argHint turns "unexpected argument" for a role or command given after
// flags (chatgate --log-level debug gateway) into the command line to run.
func argHint(cmd string, err error) error {
	var ae *config.ArgError
	if !errors.As(err, &ae) {
		return err
	}
	what := ""
	switch {
	case slices.Contains(config.Roles, ae.Arg):
		what = "role"
	case slices.Contains([]string{cmdCheck, cmdToken, cmdVersion, cmdHelp}, ae.Arg):
		what = "command"
	default:
		return err
	}
	line := []string{"chatgate", ae.Arg}
	if cmd == cmdCheck && what == "role" {
		line = []string{"chatgate", cmdCheck, ae.Arg}
	}
	line = append(append(line, ae.Before...), ae.After...)
	return fmt.Errorf("%q after flags: put the %s first: %s", ae.Arg, what, shellJoin(line))
}

// shellJoin joins args into a command line, quoting those a shell would split.
func shellJoin(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		if a == "" || strings.ContainsFunc(a, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=,@%+", r))
		}) {
			out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(out, " ")
}

// runRole runs role until ctx ends.
func runRole(ctx context.Context, role string, rest []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, code, ok := loadRole(role, role, rest, getenv, stdout, stderr)
	if !ok {
		return code
	}
	log := NewLogger(cfg, stderr)
	defer routeRedisLogs(log)()
	log.Info("chatgate starting", startAttrs(role, version.Get())...)
	err := Run(ctx, role, cfg, log, func(st Started) { logReady(log, role, st) })
	if err != nil {
		log.Error("chatgate stopped", "err", err)
		return exitFail
	}
	return exitOK
}

// startAttrs are the start-up line's attributes: what is known of the build.
func startAttrs(role string, in version.Info) []any {
	attrs := []any{"role", role, "version", in.Version}
	if in.Revision != "" {
		attrs = append(attrs, "revision", in.Revision)
	}
	switch {
	case in.Date != "" && in.CommitDate:
		attrs = append(attrs, "commit_time", in.Date)
	case in.Date != "":
		attrs = append(attrs, "build_date", in.Date)
	}
	return append(attrs, "go", in.GoVersion)
}

// mintToken is `chatgate token --uid UID [--ttl D]`: it prints a connect
// token signed with --token-secret (TOKEN_SECRET), as the HTTP app issues
// them, for a backend or a test to connect with.
func mintToken(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("chatgate token", flag.ContinueOnError)
	uid := fs.String("uid", "", "uid the connection is bound to (required)")
	ttl := fs.Duration("ttl", token.DefaultTTL, "lifetime of the token")
	secret := fs.String("token-secret", "", "HMAC secret shared with the gateways")
	err := config.ParseFlags(fs, args, getenv, map[string]string{"ttl": "TOKEN_TTL", "token-secret": "TOKEN_SECRET"})
	switch {
	case errors.Is(err, config.ErrHelp):
		fmt.Fprintf(stdout, "Usage: chatgate token --uid UID [--ttl 5m]\n\n"+
			"Prints a connect token for UID, an HS256 JWT signed with the secret your gateways\n"+
			"verify (docs/http-api.md, \"Connect tokens\"). Open the gateway with ?token=TOKEN.\n\n"+
			"  --uid UID             uid the connection is bound to (required)\n"+
			"  --ttl D               lifetime (env TOKEN_TTL, default %v)\n"+
			"  --token-secret S      the secret (env TOKEN_SECRET; required)\n", token.DefaultTTL)
		return exitOK
	case err != nil:
	case *uid == "":
		err = errors.New("--uid is required: the uid the connection is bound to")
	case *secret == "":
		err = errors.New("TOKEN_SECRET (or --token-secret) is required: the secret your gateways verify tokens with")
	case *ttl <= 0:
		err = fmt.Errorf("--ttl %v: must be positive", *ttl)
	}
	if err != nil {
		return usageError(stderr, cmdToken, err)
	}
	tok, _, err := token.NewSigner([]byte(*secret), *ttl).Sign(*uid)
	if err != nil {
		fmt.Fprintf(stderr, "chatgate: token: %v\n", err)
		return exitFail
	}
	fmt.Fprintln(stdout, tok)
	return exitOK
}

// check is `chatgate check [ROLE] [flags]`: it validates ROLE's settings
// as the role would, resolves its listen addresses and pings Redis (within
// --redis-timeout), then exits: 0 and a summary on stdout, else the reason
// on stderr with 2 (settings) or 1 (Redis).
func check(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	role := RoleAll
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		role, args = args[0], args[1:]
		if !slices.Contains(config.Roles, role) {
			return usageError(stderr, cmdCheck, fmt.Errorf("check: unknown role %q (want %s)", role, config.RoleList))
		}
	}
	cfg, code, ok := loadRole(role, cmdCheck, args, getenv, stdout, stderr)
	if !ok {
		return code
	}
	for _, a := range listenAddrs(role, cfg) {
		if _, err := net.ResolveTCPAddr("tcp", a); err != nil {
			return usageError(stderr, cmdCheck, fmt.Errorf("listen address %q: %w", a, err))
		}
	}
	if cfg.RedisURL == "" {
		fmt.Fprintf(stdout, "chatgate check: %s: settings OK; Redis: embedded (in-memory, started by the all-in-one role)\n", role)
		return exitOK
	}
	defer routeRedisLogs(NewLogger(cfg, stderr))()
	start := time.Now()
	store, err := session.Open(ctx, cfg.RedisURL, cfg.RedisTimeout, &session.Options{Prefix: cfg.RedisPrefix})
	if err != nil {
		fmt.Fprintf(stderr, "chatgate check: %s: %v\n", role, err)
		return exitFail
	}
	took := time.Since(start)
	_ = store.Close()
	fmt.Fprintf(stdout, "chatgate check: %s: settings OK; Redis at %s answered in %v\n", role, redactURL(cfg.RedisURL), took.Round(time.Millisecond))
	return exitOK
}

// listenAddrs are the addresses role listens on.
func listenAddrs(role string, cfg *config.Config) []string {
	var out []string
	if role == RoleAll || role == RoleGateway {
		out = append(out, cfg.WSAddr)
	}
	if role == RoleAll || role == RoleHTTP {
		out = append(out, cfg.HTTPAddr)
	}
	return out
}

// redactURL hides a password in a Redis URL for logs and messages.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid url)"
	}
	return u.Redacted()
}

// writeUsage writes --help for role: the commands, then role's flags by concern.
func writeUsage(w io.Writer, role string) {
	fmt.Fprint(w, `chatgate: a real-time chat backend: WebSocket gateways and a chat app coordinated through Redis.

Usage:
  chatgate [all] [flags]          gateway + HTTP app in one process; an embedded Redis without --redis-url
  chatgate gateway [flags]        a WebSocket gateway (needs --redis-url, and --token-secret or --allow-unsigned)
  chatgate http [flags]           the HTTP app: chat page, /api, push API (needs --redis-url, --token-secret)
  chatgate push [flags]           the push API only, on the internal listener (needs --redis-url, --api-keys)
  chatgate check [ROLE] [flags]   check ROLE's settings (default all) and that Redis answers, then exit
  chatgate token --uid UID [--ttl 5m]
                                  print a connect token for UID, signed with TOKEN_SECRET
  chatgate version                print the version, VCS revision and build date (also --version)

The role comes first, then its flags: chatgate gateway --log-level debug.
Every flag is also an environment variable (--ws-addr / WS_ADDR); a flag wins.
All-in-one listens on 127.0.0.1 only; to let other machines in:
  chatgate --ws-addr :7272 --http-addr :8080
Durations take a unit: 500ms, 25s, 2m, 1h. See docs/config.md.

`)
	fmt.Fprintf(w, "Flags of chatgate %s:\n\n", role)
	config.WriteFlags(w, role)
}

// logReady logs where a started role listens, once it serves.
func logReady(log *slog.Logger, role string, st Started) {
	attrs := []any{"role", role, "version", version.Get().Version}
	if st.WSAddr != "" {
		attrs = append(attrs, "ws_url", "ws://"+browseAddr(st.WSAddr)+"/")
	}
	if st.HTTPAddr != "" {
		attrs = append(attrs, "http_url", "http://"+browseAddr(st.HTTPAddr)+"/")
	}
	if st.InternalAddr != "" {
		attrs = append(attrs, "internal_url", "http://"+browseAddr(st.InternalAddr)+"/")
	}
	attrs = append(attrs, "redis", redactURL(st.RedisURL))
	log.Info("chatgate listening", attrs...)
	if role != RoleAll || st.HTTPAddr == "" {
		return
	}
	if loopbackOnly(st.HTTPAddr) {
		log.Info("listening on loopback only; to let other machines in, run: chatgate --ws-addr :7272 --http-addr :8080 (or set WS_ADDR and HTTP_ADDR)")
	}
	log.Info("chat ready: open the page in two browser tabs, and log in as a different user in each", "url", "http://"+browseAddr(st.HTTPAddr)+"/")
}

// loopbackOnly reports whether a listen address accepts loopback connections only.
func loopbackOnly(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return host == "localhost" || ip != nil && ip.IsLoopback()
}
