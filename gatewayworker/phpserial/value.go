// Package phpserial reads and writes the subset of PHP's serialize() format
// that GatewayWorker puts on the wire: null, bool, int, float, string and
// arrays (ordered maps with int or string keys), nested.
//
// Objects (O:, C:), enums (E:), references (r:, R:) and escaped strings (S:)
// are refused: GatewayWorker refuses objects in packets too, and a value from
// the network must never make PHP instantiate a class. Decoding is bounded
// (nesting depth; element counts are checked against the input left), so any
// input is safe to decode.
//
// Values are represented as Go values:
//
//	PHP        Go
//	null       nil
//	bool       bool
//	int        int64
//	float      float64
//	string     string (bytes, not necessarily UTF-8)
//	array      *Array
//
// PHP normalizes array keys: a string that is a canonical decimal integer
// ("123", "-5", not "0123", "1.0", " 1" or "-0") is the integer key 123.
// StrKey applies the same rule, so "123" and 123 are one key here too.
package phpserial

import (
	"math"
	"strconv"
)

// Value is a PHP value: nil, bool, int64, float64, string or *Array.
type Value = any

// Key is a PHP array key: an int or a string that is not a canonical
// decimal integer. The zero Key is the int key 0.
type Key struct {
	str   string
	num   int64
	isStr bool
}

// IntKey returns the int key i.
func IntKey(i int64) Key { return Key{num: i} }

// StrKey returns the key PHP uses for the string s: the int key when s is a
// canonical decimal integer that fits in 64 bits, else the string key.
func StrKey(s string) Key {
	if i, ok := canonicalInt(s); ok {
		return Key{num: i}
	}
	return Key{str: s, isStr: true}
}

// IsInt reports whether k is an int key.
func (k Key) IsInt() bool { return !k.isStr }

// Int returns the value of an int key (0 for a string key).
func (k Key) Int() int64 { return k.num }

// String returns the key as PHP converts it to a string.
func (k Key) String() string {
	if k.isStr {
		return k.str
	}
	return strconv.FormatInt(k.num, 10)
}

// canonicalInt reports whether s is how PHP writes an integer: "0", or an
// optional '-' and a non-zero digit followed by digits, within int64.
func canonicalInt(s string) (int64, bool) {
	if s == "" || len(s) > 20 {
		return 0, false
	}
	digits := s
	if s[0] == '-' {
		digits = s[1:]
	}
	if digits == "" || digits[0] == '0' && (len(digits) > 1 || s[0] == '-') {
		return 0, false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, false
		}
	}
	i, err := strconv.ParseInt(s, 10, 64)
	return i, err == nil
}

// Array is a PHP array: an ordered map from Key to Value. The zero value is
// an empty array ready to use. It is not safe for concurrent mutation.
type Array struct {
	keys []Key
	vals []Value
	idx  map[Key]int // position of each key, built once the array grows
	next int64       // next key Append uses (PHP's nNextFreeElement)
}

const indexFrom = 8 // arrays this long or longer keep a key index

// NewArray returns an empty array.
func NewArray() *Array { return &Array{} }

// List returns the PHP list [vs[0], vs[1], …] (keys 0, 1, …).
func List(vs ...Value) *Array {
	a := &Array{}
	for _, v := range vs {
		a.Append(v)
	}
	return a
}

// Len returns the number of entries.
func (a *Array) Len() int { return len(a.keys) }

// At returns the i-th entry in order.
func (a *Array) At(i int) (Key, Value) { return a.keys[i], a.vals[i] }

func (a *Array) find(k Key) int {
	if a.idx != nil {
		if i, ok := a.idx[k]; ok {
			return i
		}
		return -1
	}
	for i, have := range a.keys {
		if have == k {
			return i
		}
	}
	return -1
}

// Get returns the value at k.
func (a *Array) Get(k Key) (Value, bool) {
	if i := a.find(k); i >= 0 {
		return a.vals[i], true
	}
	return nil, false
}

// Set stores v at k: in place when k exists (its position is kept), else at
// the end, as PHP's $a[k] = v does.
func (a *Array) Set(k Key, v Value) {
	if i := a.find(k); i >= 0 {
		a.vals[i] = v
		return
	}
	a.keys = append(a.keys, k)
	a.vals = append(a.vals, v)
	if a.idx != nil {
		a.idx[k] = len(a.keys) - 1
	} else if len(a.keys) >= indexFrom {
		a.idx = make(map[Key]int, len(a.keys))
		for i, k := range a.keys {
			a.idx[k] = i
		}
	}
	if !k.isStr && k.num >= a.next && k.num < math.MaxInt64 {
		a.next = k.num + 1
	}
}

// Append stores v under the next int key, as PHP's $a[] = v does.
func (a *Array) Append(v Value) { a.Set(IntKey(a.next), v) }

// Delete removes k, keeping the order of the other entries.
func (a *Array) Delete(k Key) {
	i := a.find(k)
	if i < 0 {
		return
	}
	a.keys = append(a.keys[:i], a.keys[i+1:]...)
	a.vals = append(a.vals[:i], a.vals[i+1:]...)
	if a.idx != nil {
		delete(a.idx, k)
		for j := i; j < len(a.keys); j++ {
			a.idx[a.keys[j]] = j
		}
	}
}

// Clone returns a deep copy of a.
func (a *Array) Clone() *Array {
	c := &Array{keys: append([]Key(nil), a.keys...), vals: make([]Value, len(a.vals)), next: a.next}
	for i, v := range a.vals {
		if sub, ok := v.(*Array); ok {
			v = sub.Clone()
		}
		c.vals[i] = v
	}
	if a.idx != nil {
		c.idx = make(map[Key]int, len(a.idx))
		for k, i := range a.idx {
			c.idx[k] = i
		}
	}
	return c
}

// ReplaceRecursive is PHP's array_replace_recursive(base, repl): a copy of
// base where each entry of repl replaces base's entry with the same key, and
// where both are arrays the replacement is applied recursively. Entries only
// in repl are appended in repl's order. Neither argument is modified.
func ReplaceRecursive(base, repl *Array) *Array {
	out := base.Clone()
	for i, k := range repl.keys {
		v := repl.vals[i]
		if sub, ok := v.(*Array); ok {
			if cur, ok := out.Get(k); ok {
				if curArr, ok := cur.(*Array); ok {
					out.Set(k, ReplaceRecursive(curArr, sub))
					continue
				}
			}
			v = sub.Clone()
		}
		out.Set(k, v)
	}
	return out
}

// Equal reports whether a and b hold the same values in the same order, with
// the same types (1 and 1.0 differ; NaN equals NaN).
func Equal(a, b Value) bool {
	switch x := a.(type) {
	case *Array:
		y, ok := b.(*Array)
		if !ok || x.Len() != y.Len() {
			return false
		}
		for i := range x.keys {
			if x.keys[i] != y.keys[i] || !Equal(x.vals[i], y.vals[i]) {
				return false
			}
		}
		return true
	case float64:
		y, ok := b.(float64)
		return ok && (x == y && math.Signbit(x) == math.Signbit(y) || math.IsNaN(x) && math.IsNaN(y))
	default:
		return a == b
	}
}
