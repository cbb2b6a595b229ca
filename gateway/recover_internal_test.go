package gateway

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/chatgate/chatgate/session"
)

// The recovery examples of docs/client-protocol.md are what the gateway
// reads and writes, and its reason table lists every reason.
func TestDocRecoveryFrames(t *testing.T) {
	raw, err := os.ReadFile("../docs/client-protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	i := strings.Index(doc, "## Recovery")
	j := strings.Index(doc[i:], "\n## ")
	if i < 0 || j < 0 {
		t.Fatal("no Recovery section")
	}
	sec := doc[i : i+j]
	blocks := regexp.MustCompile("(?s)```json\n(.*?)\n```").FindAllStringSubmatch(sec, -1)
	byType := map[string]string{}
	for _, b := range blocks {
		var f struct{ Type string }
		if err := json.Unmarshal([]byte(b[1]), &f); err != nil {
			t.Fatalf("example %s: %v", b[1], err)
		}
		byType[f.Type] = b[1]
	}
	rec := byType["recover"]
	var req recoverRequest
	if !bytes.HasPrefix([]byte(rec), recoverPrefix) || json.Unmarshal([]byte(rec), &req) != nil || req.Group == "" || req.Since == 0 {
		t.Fatalf("recover example %q is not a recover frame the gateway reads", rec)
	}
	var ok struct {
		Group, Epoch string
		Seq          int64
	}
	if err := json.Unmarshal([]byte(byType["recovered"]), &ok); err != nil {
		t.Fatal(err)
	}
	if got := recoveredFrame(ok.Group, seqMark{ok.Epoch, ok.Seq}); got != byType["recovered"] {
		t.Errorf("recovered: gateway writes %s, doc shows %s", got, byType["recovered"])
	}
	var fail struct {
		Group, Epoch, Reason string
		Seq                  int64
	}
	if err := json.Unmarshal([]byte(byType["recover_failed"]), &fail); err != nil {
		t.Fatal(err)
	}
	if got := recoverFailedFrame(fail.Group, fail.Reason, &session.GroupLog{Epoch: fail.Epoch, Seq: fail.Seq}); got != byType["recover_failed"] {
		t.Errorf("recover_failed: gateway writes %s, doc shows %s", got, byType["recover_failed"])
	}
	documented := regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\|").FindAllStringSubmatch(sec, -1)
	want := []string{recoverEpochChanged, recoverTrimmed, recoverNotMember, recoverNoLog, recoverBadRequest, recoverUnavailable}
	if len(documented) != len(want) {
		t.Fatalf("doc lists %d reasons, gateway has %d", len(documented), len(want))
	}
	for k, m := range documented {
		if m[1] != want[k] {
			t.Errorf("reason %d: doc %q, gateway %q", k, m[1], want[k])
		}
	}
}
