package pushapi

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// sendFields are the JSON names of sendRequest's fields, for decodeSend.
var sendFields = []string{"client_id", "client_ids", "uid", "uids", "group", "groups", "payload", "exclude", "recoverable"}

// decodeSend is decode for the body of a /send/* route, on the push path's
// fast lane: json.Unmarshal (which rejects data after the object itself) and
// a scan of the object's top-level keys instead of a json.Decoder with
// DisallowUnknownFields, about half the cost. Anything the fast lane does not
// accept goes through decode, so errors are worded exactly as decode words
// them.
func decodeSend(c *fiber.Ctx, req *sendRequest) error {
	body := c.Body()
	if json.Unmarshal(body, req) == nil && knownKeys(body, sendFields) {
		return nil
	}
	req.reset()
	return decode(c, req)
}

// knownKeys reports whether every top-level key of obj, a valid JSON object,
// is one of names (matched without regard to case, as encoding/json matches
// them). A key written with escapes is reported unknown (decode then judges).
func knownKeys(obj []byte, names []string) bool {
	i := bytes.IndexByte(obj, '{')
	if i < 0 {
		return false
	}
	depth, expectKey := 0, true
	for i++; i < len(obj); i++ {
		switch obj[i] {
		case '"':
			end := i + 1
			for ; end < len(obj) && obj[end] != '"'; end++ {
				if obj[end] == '\\' {
					end++
				}
			}
			if depth == 0 && expectKey {
				// A key written with escapes holds a backslash, which no
				// name has: it is reported unknown.
				if !knownName(string(obj[i+1:end]), names) {
					return false
				}
				expectKey = false
			}
			i = end
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		case ',':
			if depth == 0 {
				expectKey = true
			}
		}
	}
	return true
}

func knownName(k string, names []string) bool {
	for _, n := range names {
		if strings.EqualFold(k, n) {
			return true
		}
	}
	return false
}
