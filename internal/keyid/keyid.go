// Package keyid checks ids that become part of a Redis key (client, uid,
// group and room ids, login session ids, rate-limit keys), for the two
// packages that build keys: session and chatdata.
package keyid

import (
	"fmt"
	"strings"
)

// MaxLen bounds an id (bytes).
const MaxLen = 256

// Check returns nil when s can be an id inside a key, else an error wrapping
// invalid that says why: empty, longer than MaxLen, or holding a brace (a
// Cluster hash tag) or a control character.
func Check(s string, invalid error) error {
	if s == "" || len(s) > MaxLen {
		return fmt.Errorf("%w: %q must be 1..%d bytes", invalid, s, MaxLen)
	}
	if i := strings.IndexFunc(s, func(r rune) bool { return r == '{' || r == '}' || r < 0x20 || r == 0x7f }); i >= 0 {
		return fmt.Errorf("%w: %q holds a forbidden character at %d", invalid, s, i)
	}
	return nil
}
