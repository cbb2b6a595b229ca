package session

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

func readDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../docs/redis-protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Every JSON example in docs/redis-protocol.md is a valid envelope that
// survives an encode/decode round trip.
func TestDocEnvelopeExamples(t *testing.T) {
	doc := readDoc(t)
	blocks := regexp.MustCompile("(?s)```json\n(.*?)\n```").FindAllStringSubmatch(doc, -1)
	if len(blocks) < 10 {
		t.Fatalf("found %d json examples, want every op", len(blocks))
	}
	ops := map[Op]bool{}
	for _, b := range blocks {
		env, err := DecodeEnvelope([]byte(b[1]))
		if err != nil {
			t.Errorf("doc example %s: %v", b[1], err)
			continue
		}
		ops[env.Op] = true
		again, err := DecodeEnvelope(env.encode())
		if err != nil || again.Op != env.Op || again.Payload != env.Payload {
			t.Errorf("doc example %s does not round-trip: %v", b[1], err)
		}
		for _, cid := range env.Clients {
			if _, ok := GatewayOf(cid); !ok {
				t.Errorf("doc example client id %q is not a valid client id", cid)
			}
		}
	}
	for _, op := range []Op{OpSend, OpJoin, OpLeave, OpUngroup, OpBind, OpUnbind, OpSetSession, OpUpdateSession, OpClose} {
		if !ops[op] {
			t.Errorf("docs/redis-protocol.md has no example of op %q", op)
		}
	}
}

// The key table in docs/redis-protocol.md lists exactly what the key
// builders produce.
func TestDocKeyTable(t *testing.T) {
	doc := readDoc(t)
	start, end := strings.Index(doc, "<!-- keys:begin -->"), strings.Index(doc, "<!-- keys:end -->")
	if start < 0 || end < start {
		t.Fatal("key table markers missing")
	}
	var documented []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([^`]+)` \\|").FindAllStringSubmatch(doc[start:end], -1) {
		documented = append(documented, m[1])
	}
	k := keys{DefaultPrefix}
	built := []Key{
		k.client("CID"), k.clientGroups("CID"), k.uid("UID"), k.uids(), k.group("GID"), k.groupGateways("GID"),
		k.groupLogState("GID"), k.groupLog("GID"), k.groups(), k.gateways(), k.gwClients("GW"), k.gwAlive("GW"), k.reapLock("GW"), k.events(),
	}
	if len(documented) != len(built) {
		t.Fatalf("doc lists %d keys %v, code builds %d", len(documented), documented, len(built))
	}
	for i, b := range built {
		if string(b) != documented[i] {
			t.Errorf("key %d: doc %q, code %q", i, documented[i], b)
		}
	}
	for _, ch := range []Key{k.inbox("GW"), k.broadcast()} {
		if !strings.Contains(doc, "`"+string(ch)+"`") {
			t.Errorf("channel %q is not documented", ch)
		}
	}
}
