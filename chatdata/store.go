package chatdata

import (
	"embed"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/internal/keyid"
)

// DefaultPrefix is the key prefix used when Options.Prefix is empty; it is
// session's, so the chat app's keys sit beside the gateway protocol's.
const DefaultPrefix = "chat:"

// Options configures a Store. The zero value is ready to use.
type Options struct {
	// Prefix starts every key. Default "chat:". It must not contain braces
	// (they are Cluster hash tags); use the same prefix as session.
	Prefix string
}

// Store is the chat app's data in Redis. It is safe for concurrent use and
// holds no state of its own beyond the client, which the caller owns and
// closes.
type Store struct {
	rdb redis.UniversalClient
	k   keys
}

// New returns a Store over rdb. It does no I/O and never fails; set rdb's
// ContextTimeoutEnabled so that ctx deadlines reach the socket. The process
// uses session's prefix, which session.Open has validated.
func New(rdb redis.UniversalClient, opts *Options) *Store {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	return &Store{rdb: rdb, k: keys{o.Prefix}}
}

// Key is a Redis key built by this package. Nothing else concatenates the
// chat app's key text (docs/http-api.md lists the layout).
type Key string

// keys builds every chat key from one prefix (keys.go).
type keys struct{ p string }

// ErrInvalidID: an id is empty, too long, or holds a forbidden character.
var ErrInvalidID = errors.New("invalid id")

// validID refuses what would break a key (internal/keyid).
func validID(s string) error { return keyid.Check(s, ErrInvalidID) }

// wrap adds the operation to err, in one style for the package.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("chatdata: %s: %w", op, err)
}

// luaFiles holds the chat app's scripts (lua/*.lua), each opening with its
// KEYS/ARGV table; every script's keys share one Cluster slot.
//
//go:embed lua/*.lua
var luaFiles embed.FS

func mustScript(name string) *redis.Script {
	b, err := luaFiles.ReadFile("lua/" + name + ".lua")
	if err != nil {
		panic("chatdata: missing script " + name)
	}
	return redis.NewScript(string(b))
}

var (
	scriptChatHistoryAppend = mustScript("chat_history_append")
	scriptChatMemberAdd     = mustScript("chat_member_add")
)
