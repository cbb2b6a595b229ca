package session

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestKeyBuilders(t *testing.T) {
	k := keys{"app:"}
	tests := []struct {
		name string
		got  Key
		want string
	}{
		{"client", k.client("gw1.abc"), "app:client:{gw1.abc}"},
		{"client groups", k.clientGroups("gw1.abc"), "app:client:{gw1.abc}:groups"},
		{"uid", k.uid("42"), "app:uid:{42}"},
		{"uids", k.uids(), "app:uids"},
		{"group", k.group("room"), "app:group:{room}"},
		{"group gateways", k.groupGateways("room"), "app:group:{room}:gw"},
		{"groups", k.groups(), "app:groups"},
		{"gateways", k.gateways(), "app:gateways"},
		{"gateway clients", k.gwClients("gw1"), "app:gw:{gw1}:clients"},
		{"gateway alive", k.gwAlive("gw1"), "app:gw:{gw1}:alive"},
		{"reap lock", k.reapLock("gw1"), "app:gw:{gw1}:reap"},
		{"inbox", k.inbox("gw1"), "app:gw:{gw1}"},
		{"broadcast", k.broadcast(), "app:all"},
		{"events", k.events(), "app:events"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if string(tt.got) != tt.want {
				t.Fatalf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

// Keys one script touches share a hash tag, hence a Cluster slot.
func TestScriptKeysShareSlot(t *testing.T) {
	k := keys{DefaultPrefix}
	pairs := [][2]Key{
		{k.client("g.x"), k.clientGroups("g.x")},
		{k.group("room"), k.groupGateways("room")},
		{k.gwClients("gw"), k.gwAlive("gw")},
		{k.gwClients("gw"), k.inbox("gw")},
	}
	for _, p := range pairs {
		if hashTag(p[0]) != hashTag(p[1]) || hashTag(p[0]) == "" {
			t.Errorf("%q and %q do not share a hash tag", p[0], p[1])
		}
	}
}

func hashTag(k Key) string {
	s := string(k)
	i := strings.IndexByte(s, '{')
	j := strings.IndexByte(s[i+1:], '}')
	if i < 0 || j <= 0 {
		return ""
	}
	return s[i+1 : i+1+j]
}

func TestValidID(t *testing.T) {
	tests := []struct {
		id string
		ok bool
	}{
		{"room-1", true},
		{"用户", true},
		{"a b", true},
		{"", false},
		{strings.Repeat("x", 257), false},
		{"a{b", false},
		{"a}b", false},
		{"a\nb", false},
	}
	for _, tt := range tests {
		err := validID(tt.id)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrInvalidID)) {
			t.Errorf("validID(%q) = %v, want ok=%v", tt.id, err, tt.ok)
		}
	}
}

func TestClientIDs(t *testing.T) {
	gw := NewGatewayID()
	if err := ValidGatewayID(gw); err != nil {
		t.Fatal(err)
	}
	a, b := NewClientID(gw), NewClientID(gw)
	if a == b {
		t.Fatal("two client ids are equal")
	}
	if got, ok := GatewayOf(a); !ok || got != gw {
		t.Fatalf("GatewayOf(%q) = %q, %v", a, got, ok)
	}
	for _, bad := range []string{"", "nodot", ".x", "gw.", "GW.x", "g w.x", "g{.x"} {
		if _, ok := GatewayOf(bad); ok {
			t.Errorf("GatewayOf(%q) accepted", bad)
		}
	}
}

// Compact ids (GatewayWorker compatibility): 12 hex digits of gateway, 8 of
// a random non-zero number; GatewayOf reads the gateway back, and only the
// exact form is accepted.
func TestCompactClientIDs(t *testing.T) {
	const gw = "7f0000010b54" // 127.0.0.1:2900
	if !IsCompactGatewayID(gw) || ValidGatewayID(gw) != nil {
		t.Fatalf("%q is not a compact gateway id", gw)
	}
	seen := map[string]bool{}
	for range 1000 {
		cid := NewCompactClientID(gw)
		if len(cid) != 20 || cid[:12] != gw || cid[12:] == "00000000" || seen[cid] {
			t.Fatalf("NewCompactClientID = %q (seen before: %v)", cid, seen[cid])
		}
		seen[cid] = true
		if got, ok := GatewayOf(cid); !ok || got != gw {
			t.Fatalf("GatewayOf(%q) = %q, %v", cid, got, ok)
		}
	}
	for _, bad := range []string{"7f0000010b540000000", "7f0000010b54000000001", "7F0000010B5400000001", "7f0000010b54g0000001"} {
		if _, ok := GatewayOf(bad); ok {
			t.Errorf("GatewayOf(%q) accepted", bad)
		}
	}
	for _, notCompact := range []string{"7f0000010b5", "7f0000010b54a", "7F0000010B54", "gw1"} {
		if IsCompactGatewayID(notCompact) {
			t.Errorf("IsCompactGatewayID(%q)", notCompact)
		}
	}
}

func TestDecodeEnvelope(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"send to group", `{"op":"send","groups":["g"],"payload":"x"}`, true},
		{"broadcast", `{"op":"send","payload":"x"}`, true},
		{"join", `{"op":"join","clients":["g.x"],"groups":["r"]}`, true},
		{"join without group", `{"op":"join","clients":["g.x"]}`, false},
		{"bind two uids", `{"op":"bind","clients":["g.x"],"uids":["a","b"]}`, false},
		{"close without client", `{"op":"close"}`, false},
		{"unknown op", `{"op":"explode"}`, false},
		{"missing op", `{"payload":"x"}`, false},
		{"not json", `{"op":`, false},
		{"not an object", `[1,2]`, false},
		{"unknown field ignored", `{"op":"ungroup","groups":["g"],"future":1}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeEnvelope([]byte(tt.in))
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrBadEnvelope) {
				t.Fatalf("err %v does not wrap ErrBadEnvelope", err)
			}
		})
	}
}

func TestParseRedisURL(t *testing.T) {
	tests := []struct {
		url     string
		addrs   int
		cluster bool
		master  string
		ok      bool
	}{
		{"redis://127.0.0.1:6379/0", 1, false, "", true},
		{"rediss://user:pw@host:6380/1", 1, false, "", true},
		{"redis://s1:26379?master_name=mymaster&addr=s2:26379", 2, false, "mymaster", true},
		{"redis-cluster://n1:7000?addr=n2:7000&addr=n3:7000", 3, true, "", true},
		{"http://x", 0, false, "", false},
		{"redis://h:1?bogus=1", 0, false, "", false},
	}
	for _, tt := range tests {
		o, err := ParseRedisURL(tt.url)
		if (err == nil) != tt.ok {
			t.Errorf("%s: err %v, want ok=%v", tt.url, err, tt.ok)
			continue
		}
		if err != nil {
			continue
		}
		if len(o.Addrs) != tt.addrs || o.IsClusterMode != tt.cluster || o.MasterName != tt.master {
			t.Errorf("%s: got addrs %v cluster %v master %q", tt.url, o.Addrs, o.IsClusterMode, o.MasterName)
		}
	}
}

// TestParseRedisURLKeepsQueryOptions: every deployment keeps go-redis's
// query options (they used to come back zero). In a Sentinel URL the
// credentials are the sentinels'.
func TestParseRedisURLKeepsQueryOptions(t *testing.T) {
	t.Parallel()
	const q = "max_retries=7&pool_timeout=3s&client_name=cg&min_idle_conns=2&pool_size=9&dial_timeout=4s&read_timeout=5s&conn_max_idle_time=1m&max_retry_backoff=2s"
	for _, base := range []string{
		"redis://user:pw@h:6379/2?",
		"redis://user:pw@s1:26379/2?master_name=m&addr=s2:26379&",
		"redis-cluster://user:pw@n1:7000?addr=n2:7000&",
	} {
		o, err := ParseRedisURL(base + q)
		if err != nil {
			t.Fatalf("%s: %v", base, err)
		}
		if o.MaxRetries != 7 || o.PoolTimeout != 3*time.Second || o.ClientName != "cg" || o.MinIdleConns != 2 ||
			o.PoolSize != 9 || o.DialTimeout != 4*time.Second || o.ReadTimeout != 5*time.Second ||
			o.ConnMaxIdleTime != time.Minute || o.MaxRetryBackoff != 2*time.Second ||
			o.Username+o.SentinelUsername != "user" || o.Password+o.SentinelPassword != "pw" {
			t.Errorf("%s: options lost: %+v", base, o)
		}
		if !o.IsClusterMode && o.DB != 2 {
			t.Errorf("%s: db %d, want 2", base, o.DB)
		}
	}
}
