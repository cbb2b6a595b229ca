package gatewayworker

import (
	"encoding/hex"
	"encoding/json"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/chatgate/chatgate/session"
)

func readDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../docs/gatewayworker.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func section(t *testing.T, doc, name string) string {
	t.Helper()
	start, end := strings.Index(doc, "<!-- "+name+":begin -->"), strings.Index(doc, "<!-- "+name+":end -->")
	if start < 0 || end < start {
		t.Fatalf("markers of %q missing", name)
	}
	return doc[start:end]
}

// The command table of docs/gatewayworker.md lists exactly the commands the
// inner listener implements.
func TestDocCommandTable(t *testing.T) {
	var documented []int
	for _, m := range regexp.MustCompile(`(?m)^\| (\d+) \|`).FindAllStringSubmatch(section(t, readDoc(t), "commands"), -1) {
		n, _ := strconv.Atoi(m[1])
		documented = append(documented, n)
	}
	var implemented []int
	for cmd := range commands {
		implemented = append(implemented, int(cmd))
	}
	slices.Sort(implemented)
	if !slices.Equal(documented, implemented) {
		t.Fatalf("doc lists commands %v, the listener implements %v", documented, implemented)
	}
}

// Each session example: what PHP wrote, and the plain fields Go sees.
func TestDocSessionExamples(t *testing.T) {
	rows := regexp.MustCompile("(?m)^\\| `(a:[^`]*)` \\| `(\\{[^`]*\\})` \\|$").FindAllStringSubmatch(section(t, readDoc(t), "sessions"), -1)
	if len(rows) < 3 {
		t.Fatalf("found %d session examples", len(rows))
	}
	for _, r := range rows {
		a, err := decodeSession([]byte(r[1]))
		if err != nil {
			t.Errorf("%s: %v", r[1], err)
			continue
		}
		got, _ := json.Marshal(mirror(a))
		if string(got) != r[2] {
			t.Errorf("%s: Go sees %s, doc says %s", r[1], got, r[2])
		}
		if _, ser, _ := phpView(session.SessionState{Fields: mirror(a), Serialized: r[1]}); string(ser) != r[1] {
			t.Errorf("%s does not read back as written: %s", r[1], ser)
		}
	}
}

// The wire examples: the Register's broadcast line, the auth packet, the
// client id of 127.0.0.1:2900.
func TestDocWireExamples(t *testing.T) {
	doc := readDoc(t)
	b := regexp.MustCompile("(?s)```json\n(\\{\"event\":\"broadcast_addresses\".*?)\n```").FindStringSubmatch(doc)
	if b == nil || string(broadcastLine([]string{"10.0.0.5:2900", "10.0.0.6:2900"})) != b[1]+"\n" {
		t.Errorf("broadcast example %q differs from what the Register writes", b)
	}
	h := regexp.MustCompile("(?m)^0000002e ca [0-9a-f ]+$").FindString(doc)
	want := (&Packet{Cmd: CmdGatewayClientConnect, Flag: FlagBodyIsScalar, Body: []byte(`{"secret_key":"k"}`)}).Append(nil)
	if got, err := hex.DecodeString(strings.ReplaceAll(h, " ", "")); err != nil || string(got) != string(want) {
		t.Errorf("auth packet example %q, want %x", h, want)
	}
	id, _ := GatewayID(netip.MustParseAddrPort("127.0.0.1:2900"))
	if !strings.Contains(doc, "`127.0.0.1:2900` → gateway id `"+id+"`") || !strings.Contains(doc, "`"+id+"9c3e01a7`") {
		t.Errorf("client id example does not match %s", id)
	}
}
