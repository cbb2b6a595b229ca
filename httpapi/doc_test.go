package httpapi

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"testing"
)

// docExamples maps the example names of docs/http-api.md to the types
// they must decode into.
var docExamples = map[string]func() any{
	"errorResponse":    func() any { return &errorResponse{} },
	"configResponse":   func() any { return &configResponse{} },
	"loginRequest":     func() any { return &loginRequest{} },
	"loginResponse":    func() any { return &loginResponse{} },
	"tabLoginResponse": func() any { return &tabLoginResponse{} },
	"meResponse":       func() any { return &meResponse{} },
	"tokenResponse":    func() any { return &tokenResponse{} },
	"roomList":         func() any { return &[]roomListItem{} },
	"roomRequest":      func() any { return &roomRequest{} },
	"roomResponse":     func() any { return &roomResponse{} },
	"bindRequest":      func() any { return &bindRequest{} },
	"okResponse":       func() any { return &okResponse{} },
	"sayRequest":       func() any { return &sayRequest{} },
	"sayRequestTo":     func() any { return &sayRequest{} },
	"history":          func() any { return &[]chatMessage{} },
	"chatMessage":      func() any { return &chatMessage{} },
	"chatMessageTo":    func() any { return &chatMessage{} },
	"joinNotice":       func() any { return &noticeMessage{} },
	"closeNotice":      func() any { return &noticeMessage{} },
	"flushMessage":     func() any { return &flushMessage{} },

	"roomDeletedMessage":  func() any { return &roomDeletedMessage{} },
	"roomDeletedResponse": func() any { return &roomDeletedResponse{} },
}

var badRequestRe = regexp.MustCompile(`errBadRequest\("(\w+)"`)

var exampleRe = regexp.MustCompile("(?s)<!-- example: (\\w+) -->\\s*```json\\n(.*?)```")

// TestDocExamples: every JSON example of docs/http-api.md decodes into its
// type with no unknown field, and encodes back to the same JSON (so no
// field of the example is dropped or renamed), and every type is shown.
func TestDocExamples(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../docs/http-api.md")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, m := range exampleRe.FindAllSubmatch(doc, -1) {
		name, body := string(m[1]), m[2]
		mk, ok := docExamples[name]
		if !ok {
			t.Errorf("example %q has no type in docExamples", name)
			continue
		}
		seen[name] = true
		v := mk()
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			t.Errorf("example %s does not decode into %T: %v", name, v, err)
			continue
		}
		again, _ := json.Marshal(v)
		var a, b any
		_ = json.Unmarshal(body, &a)
		_ = json.Unmarshal(again, &b)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("example %s changes in a round trip:\n doc:  %s\n code: %s", name, body, again)
		}
	}
	var missing []string
	for name := range docExamples {
		if !seen[name] {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("docs/http-api.md lacks examples for %v", missing)
	}
}

// TestDocErrorCodes: every error code the code can return is in the doc's table.
func TestDocErrorCodes(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../docs/http-api.md")
	if err != nil {
		t.Fatal(err)
	}
	codes := []string{"internal", "unavailable"}
	for _, e := range []*apiError{errNotLoggedIn, errCSRF, errForbidden, errNoRoom, errNoClient, errNoUser, errNotInRoom, errTooManyRooms, errMediaType, errRateLimited, errAdminDisabled, errUnauthorized} {
		codes = append(codes, e.code)
	}
	for _, c := range fiberCodes {
		codes = append(codes, c)
	}
	files, _ := filepath.Glob("*.go")
	for _, f := range files {
		src, _ := os.ReadFile(f)
		for _, m := range badRequestRe.FindAllSubmatch(src, -1) {
			codes = append(codes, string(m[1]))
		}
	}
	for _, c := range codes {
		if !bytes.Contains(doc, []byte("`"+c+"`")) {
			t.Errorf("error code %q is not documented", c)
		}
	}
}
