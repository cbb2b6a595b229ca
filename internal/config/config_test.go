package config

import (
	"bytes"
	"errors"
	"flag"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestLoadRole: role defaults, the order env < flag, and every error that
// says what to write instead (issue 15).
func TestLoadRole(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		role   string
		args   []string
		env    map[string]string
		check  func(*Config) string // "" when fine
		errHas string               // the error must contain it ("" = no error)
	}{
		{name: "all listens on loopback", role: RoleAll, check: addrs("127.0.0.1:7272", "127.0.0.1:8080")},
		{name: "gateway listens everywhere", role: RoleGateway, check: addrs(":7272", ":8080")},
		{name: "http listens everywhere", role: RoleHTTP, check: addrs(":7272", ":8080")},
		{name: "no role: split defaults", role: "", check: addrs(":7272", ":8080")},
		{name: "env exposes all", role: RoleAll, env: map[string]string{"WS_ADDR": ":7272", "HTTP_ADDR": ":8080"}, check: addrs(":7272", ":8080")},
		{name: "flag beats env", role: RoleAll, args: []string{"--ws-addr", "0.0.0.0:1"}, env: map[string]string{"WS_ADDR": ":7272"}, check: addrs("0.0.0.0:1", "127.0.0.1:8080")},
		{name: "bool flag without value", role: RoleGateway, args: []string{"--allow-unsigned", "--events=false"}, check: func(c *Config) string {
			if !c.AllowUnsigned || c.Events {
				return "want --allow-unsigned on, --events off"
			}
			return ""
		}},
		{name: "durations with units", role: RoleGateway, args: []string{"--ping-interval", "1m30s"}, env: map[string]string{"WRITE_TIMEOUT": "250ms"}, check: func(c *Config) string {
			if c.PingInterval != 90*time.Second || c.WriteTimeout != 250*time.Millisecond {
				return "durations not parsed"
			}
			return ""
		}},
		{name: "env duration without unit", role: RoleGateway, env: map[string]string{"PING_INTERVAL": "25"}, errHas: "environment variable PING_INTERVAL: 25 needs a unit, e.g. 25s"},
		{name: "flag duration without unit", role: RoleGateway, args: []string{"--ping-interval=25"}, errHas: "--ping-interval: 25 needs a unit, e.g. 25s"},
		{name: "fractional duration without unit", role: RoleGateway, args: []string{"--drain-timeout", "2.5"}, errHas: "--drain-timeout: 2.5 needs a unit, e.g. 2.5s"},
		{name: "not a duration", role: RoleGateway, args: []string{"--alive-ttl", "soon"}, errHas: `--alive-ttl: "soon" is not a duration: write a number and a unit`},
		{name: "not a number", role: RoleGateway, env: map[string]string{"SEND_QUEUE": "many"}, errHas: `environment variable SEND_QUEUE: "many" is not a whole number`},
		{name: "number out of range", role: RoleGateway, args: []string{"--send-queue", "99999999999999999999"}, errHas: "--send-queue: 99999999999999999999 is out of range"},
		{name: "not a bool", role: RoleGateway, args: []string{"--events=maybe"}, errHas: `--events: "maybe" is not true or false`},
		{name: "unknown flag", role: RoleGateway, args: []string{"--nope"}, errHas: "unknown flag --nope"},
		{name: "env name as flag", role: RoleGateway, args: []string{"--WS_ADDR", ":1"}, errHas: "unknown flag --WS_ADDR; did you mean --ws-addr?"},
		{name: "flag without value", role: RoleGateway, args: []string{"--redis-url"}, errHas: "--redis-url needs a value"},
		{name: "bad setting", role: RoleGateway, args: []string{"--log-level", "loud"}, errHas: `--log-level "loud": want debug, info, warn or error`},
		{name: "unknown role", role: "frob", errHas: `unknown role "frob"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := LoadRole(tt.role, tt.args, func(k string) string { return tt.env[k] })
			if tt.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("error %v, want one containing %q", err, tt.errHas)
				}
				if strings.Contains(err.Error(), "parse error") {
					t.Fatalf("error %q still says only parse error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if msg := tt.check(c); msg != "" {
				t.Fatalf("%s: %+v", msg, c)
			}
		})
	}
}

func addrs(ws, http string) func(*Config) string {
	return func(c *Config) string {
		if c.WSAddr != ws || c.HTTPAddr != http {
			return "want --ws-addr " + ws + " --http-addr " + http + ", got " + c.WSAddr + " " + c.HTTPAddr
		}
		return ""
	}
}

// TestArgError: a positional argument among the flags is reported with
// what came before and after it, so the caller can suggest the command line.
func TestArgError(t *testing.T) {
	t.Parallel()
	_, err := LoadRole(RoleAll, []string{"--log-level", "debug", "gateway", "--ws-addr", ":1"}, func(string) string { return "" })
	var ae *ArgError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v, want *ArgError", err)
	}
	want := &ArgError{Arg: "gateway", Before: []string{"--log-level", "debug"}, After: []string{"--ws-addr", ":1"}}
	if !reflect.DeepEqual(ae, want) {
		t.Fatalf("ArgError %+v, want %+v", ae, want)
	}
	if _, err := LoadRole(RoleAll, []string{"--help"}, func(string) string { return "" }); !errors.Is(err, ErrHelp) {
		t.Fatalf("--help: %v, want ErrHelp", err)
	}
}

// TestFlagsForRole: the flag table shows each role's defaults, and where
// they differ from the split roles'.
func TestFlagsForRole(t *testing.T) {
	t.Parallel()
	def := func(fl []Flag, name string) Flag {
		for _, f := range fl {
			if f.Name == name {
				return f
			}
		}
		t.Fatalf("no flag --%s", name)
		return Flag{}
	}
	if f := def(FlagsFor(RoleAll), "http-addr"); f.Default != "127.0.0.1:8080" {
		t.Errorf("all: --http-addr default %q", f.Default)
	}
	f := def(Flags(), "ws-addr")
	if f.Default != ":7272" || !reflect.DeepEqual(f.RoleDefaults, map[string]string{RoleAll: "127.0.0.1:7272"}) {
		t.Errorf("--ws-addr: default %q, role defaults %v", f.Default, f.RoleDefaults)
	}
	if f := def(Flags(), "redis-url"); f.RoleDefaults != nil {
		t.Errorf("--redis-url has role defaults %v", f.RoleDefaults)
	}
}

// TestEveryFlagHasGroup: --help files every flag under a concern. A new
// flag needs a line in flagGroups (help.go).
func TestEveryFlagHasGroup(t *testing.T) {
	t.Parallel()
	for _, f := range Flags() {
		if f.Group == groupOther {
			t.Errorf("--%s is in no --help section: add it to flagGroups in internal/config/help.go", f.Name)
		}
	}
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	(&Config{}).bind(fs)
	for name := range flagGroups {
		if fs.Lookup(name) == nil {
			t.Errorf("flagGroups names --%s, which is no flag", name)
		}
	}
}

// TestWriteFlags: a role's help lists the sections it uses first, then the
// ones it ignores, each flag once with the role's default.
func TestWriteFlags(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	WriteFlags(&b, RoleGateway)
	help := b.String()
	gw, ignored := strings.Index(help, "\nGateway:\n"), strings.Index(help, "HTTP app (not used by gateway; accepted and ignored):")
	if !strings.HasPrefix(help, "Redis:\n") || gw < 0 || ignored < gw {
		t.Fatalf("sections out of order:\n%s", help)
	}
	for _, f := range FlagsFor(RoleGateway) {
		if n := strings.Count(help, "  --"+f.Name+"  (env "); n != 1 {
			t.Errorf("--%s listed %d times", f.Name, n)
		}
	}
	b.Reset()
	WriteFlags(&b, RoleAll)
	if !strings.Contains(b.String(), `--ws-addr  (env WS_ADDR, default "127.0.0.1:7272")`) || strings.Contains(b.String(), "not used by") {
		t.Fatalf("all: want loopback defaults and no ignored section:\n%s", b.String())
	}
}
