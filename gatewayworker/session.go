package gatewayworker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/chatgate/chatgate/gatewayworker/phpserial"
	"github.com/chatgate/chatgate/session"
)

// Sessions (docs/gatewayworker.md, "Sessions"). A GatewayWorker session is
// a PHP array; a chatgate session is string fields. A PHP write stores both:
// the serialized array as sent (session's `_php` field) and each top-level
// entry with a string key and a scalar value as a plain field ("uid" => 42
// becomes uid = "42"), which is what the Go push API and the HTTP app see.
//
// A PHP read starts from the serialized array and applies what Go changed
// since: a mirrored entry whose field now holds another value takes that
// string, one whose field was deleted is dropped, and fields Go added are
// appended as strings (sorted by name). Nested arrays, nulls and keys that
// cannot be field names ("" or starting with '_') live only in the
// serialized array. Go's SetSession replaces the session, serialized array
// included; UpdateSession keeps it. Unchanged, a session round-trips
// byte for byte.

// maxSessionRetries bounds the compare-and-swap retries of a session write
// that keeps racing other writers.
const maxSessionRetries = 10

// errNotArray: a session must be a PHP array.
var errNotArray = errors.New("session is not a PHP array")

// fieldOf returns the chatgate field name of a top-level key, and whether a
// value under it can be mirrored as a plain field.
func fieldOf(k phpserial.Key, v phpserial.Value) (string, bool) {
	name := k.String()
	if name == "" || strings.HasPrefix(name, "_") {
		return "", false
	}
	_, ok := scalarString(v)
	return name, ok
}

// scalarString converts a PHP scalar as PHP's (string) cast does.
func scalarString(v phpserial.Value) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case int64:
		return strconv.FormatInt(x, 10), true
	case float64:
		return string(phpserial.AppendFloat(nil, x)), true
	case bool:
		if x {
			return "1", true
		}
		return "", true
	}
	return "", false
}

// mirror returns the plain fields a PHP session array is stored with.
func mirror(a *phpserial.Array) session.Session {
	out := make(session.Session, a.Len())
	for i := range a.Len() {
		k, v := a.At(i)
		if name, ok := fieldOf(k, v); ok {
			out[name], _ = scalarString(v)
		}
	}
	return out
}

// phpView returns a stored session as PHP sees it and its serialized form.
// It reports has = false when the client has no session at all (never set,
// or set to nothing).
func phpView(st session.SessionState) (view *phpserial.Array, serialized []byte, has bool) {
	if st.Serialized == "" && len(st.Fields) == 0 {
		return phpserial.NewArray(), []byte("a:0:{}"), false
	}
	base := phpserial.NewArray()
	decoded := false // a serialized copy that cannot be read is rebuilt from the fields
	if st.Serialized != "" {
		if a, err := decodeSession([]byte(st.Serialized)); err == nil {
			base, decoded = a, true
		}
	}
	view = phpserial.NewArray()
	changed := !decoded
	seen := make(map[string]bool, len(st.Fields))
	for i := range base.Len() {
		k, v := base.At(i)
		name, ok := fieldOf(k, v)
		if !ok {
			view.Set(k, v)
			continue
		}
		seen[name] = true
		fv, present := st.Fields[name]
		switch s, _ := scalarString(v); {
		case !present:
			changed = true // Go deleted it
		case s == fv:
			view.Set(k, v) // keep PHP's type
		default:
			view.Set(k, fv)
			changed = true
		}
	}
	var added []string
	for name := range st.Fields {
		if !seen[name] {
			added = append(added, name)
		}
	}
	slices.Sort(added)
	for _, name := range added {
		view.Set(phpserial.StrKey(name), st.Fields[name])
		changed = true
	}
	if !changed {
		return view, []byte(st.Serialized), true
	}
	return view, phpserial.MustMarshal(view), true
}

// writeSession stores a new PHP session for cid, computed from the current
// one by next (nil: the client is gone, nothing to do), with
// compare-and-swap retries. A client that does not exist is ignored, as
// GatewayWorker ignores it.
func (l *Inner) writeSession(ctx context.Context, cid string, next func(cur session.SessionState) (session.SessionState, error)) error {
	for range maxSessionRetries {
		recs, err := l.store.ClientRecords(ctx, []string{cid}, false)
		if err != nil {
			return err
		}
		if recs[0] == nil {
			return nil
		}
		cur := recs[0].Session
		want, err := next(cur)
		if err != nil {
			return err
		}
		ok, err := l.store.ReplaceSessionIf(ctx, cid, cur, want)
		if errors.Is(err, session.ErrNoClient) {
			return nil
		}
		if err != nil || ok {
			return err
		}
	}
	return fmt.Errorf("session of %s kept changing: gave up after %d attempts", cid, maxSessionRetries)
}

// decodeSession reads a session PHP sent (ext_data of cmd 204 or 9).
func decodeSession(ext []byte) (*phpserial.Array, error) {
	v, err := phpserial.Unmarshal(ext, nil)
	if err != nil {
		return nil, err
	}
	a, ok := v.(*phpserial.Array)
	if !ok {
		return nil, errNotArray
	}
	return a, nil
}

// setSession is cmd 204: replace the session with ext (serialize($array);
// "" clears it). The serialized bytes are kept as PHP sent them.
func (l *Inner) setSession(ctx context.Context, cid string, ext []byte) error {
	next := session.SessionState{Fields: session.Session{}}
	if len(ext) > 0 {
		a, err := decodeSession(ext)
		if err != nil {
			return fmt.Errorf("set session: %w", err)
		}
		next = session.SessionState{Fields: mirror(a), Serialized: string(ext)}
	}
	return l.writeSession(ctx, cid, func(session.SessionState) (session.SessionState, error) { return next, nil })
}

// updateSession is cmd 9: array_replace_recursive(current, ext), or ext
// itself when the client has no session yet.
func (l *Inner) updateSession(ctx context.Context, cid string, ext []byte) error {
	repl, err := decodeSession(ext)
	if err != nil {
		return fmt.Errorf("update session: %w", err)
	}
	return l.writeSession(ctx, cid, func(cur session.SessionState) (session.SessionState, error) {
		view, _, has := phpView(cur)
		if !has {
			return session.SessionState{Fields: mirror(repl), Serialized: string(ext)}, nil
		}
		merged := phpserial.ReplaceRecursive(view, repl)
		return session.SessionState{Fields: mirror(merged), Serialized: string(phpserial.MustMarshal(merged))}, nil
	})
}

// sessionString is a session as GatewayWorker keeps it per connection and
// returns it inside query replies: the serialized array, "" when none.
func sessionString(st session.SessionState) string {
	_, ser, has := phpView(st)
	if !has {
		return ""
	}
	return string(ser)
}
