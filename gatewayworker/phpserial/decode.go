package phpserial

import (
	"errors"
	"fmt"
	"math"
	"strconv"
)

// DefaultMaxDepth bounds the nesting of arrays Unmarshal accepts.
const DefaultMaxDepth = 64

// ErrSyntax wraps every decoding failure.
var ErrSyntax = errors.New("phpserial: invalid serialized value")

// ErrRefused wraps values this package refuses on purpose: objects, enums,
// references and escaped strings.
var ErrRefused = errors.New("phpserial: refused")

// DecodeOptions bounds Unmarshal. The zero value is ready to use.
type DecodeOptions struct {
	// MaxDepth is the deepest array nesting accepted (a scalar is depth 0, a
	// flat array depth 1). Default DefaultMaxDepth.
	MaxDepth int
}

// Unmarshal decodes one serialized value that must span all of data. It
// never panics; any input that is not a complete value of the supported
// subset is an error wrapping ErrSyntax or ErrRefused.
func Unmarshal(data []byte, opts *DecodeOptions) (Value, error) {
	d := decoder{b: data, maxDepth: DefaultMaxDepth}
	if opts != nil && opts.MaxDepth > 0 {
		d.maxDepth = opts.MaxDepth
	}
	v, err := d.value(0)
	if err != nil {
		return nil, err
	}
	if d.i != len(d.b) {
		return nil, d.fail("trailing bytes after the value")
	}
	return v, nil
}

type decoder struct {
	b        []byte
	i        int
	maxDepth int
}

func (d *decoder) fail(why string) error {
	return fmt.Errorf("%w at offset %d: %s", ErrSyntax, d.i, why)
}

// expect consumes the byte c.
func (d *decoder) expect(c byte) error {
	if d.i >= len(d.b) || d.b[d.i] != c {
		return d.fail(fmt.Sprintf("want %q", c))
	}
	d.i++
	return nil
}

// until returns the bytes up to (not including) the next c and consumes c.
func (d *decoder) until(c byte) ([]byte, error) {
	for j := d.i; j < len(d.b); j++ {
		if d.b[j] == c {
			s := d.b[d.i:j]
			d.i = j + 1
			return s, nil
		}
	}
	return nil, d.fail(fmt.Sprintf("no %q", c))
}

func (d *decoder) value(depth int) (Value, error) {
	if d.i+1 >= len(d.b) {
		return nil, d.fail("truncated")
	}
	tag := d.b[d.i]
	if tag == 'N' {
		d.i++
		return nil, d.expect(';')
	}
	if d.b[d.i+1] != ':' {
		return nil, d.fail(fmt.Sprintf("want ':' after %q", tag))
	}
	d.i += 2
	switch tag {
	case 'b':
		return d.boolean()
	case 'i':
		return d.integer(';')
	case 'd':
		return d.float()
	case 's':
		return d.str()
	case 'a':
		return d.array(depth + 1)
	case 'O', 'C', 'E', 'r', 'R', 'S':
		return nil, fmt.Errorf("%w: %q values (objects, enums, references, escaped strings)", ErrRefused, tag)
	}
	return nil, d.fail(fmt.Sprintf("unknown type %q", tag))
}

func (d *decoder) boolean() (Value, error) {
	if d.i+1 < len(d.b) && (d.b[d.i] == '0' || d.b[d.i] == '1') && d.b[d.i+1] == ';' {
		v := d.b[d.i] == '1'
		d.i += 2
		return v, nil
	}
	return nil, d.fail("bool must be b:0; or b:1;")
}

// integer reads [+-]?[0-9]+ followed by end, as PHP does.
func (d *decoder) integer(end byte) (int64, error) {
	s, err := d.until(end)
	if err != nil {
		return 0, err
	}
	digits := s
	if len(digits) > 0 && (digits[0] == '+' || digits[0] == '-') {
		digits = digits[1:]
	}
	if len(digits) == 0 || !allDigits(digits) {
		return 0, d.fail("bad integer")
	}
	if s[0] == '+' {
		s = s[1:]
	}
	n, err := strconv.ParseInt(string(s), 10, 64)
	if err != nil {
		return 0, d.fail("integer out of range")
	}
	return n, nil
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// length reads an unsigned decimal length followed by end.
func (d *decoder) length(end byte) (int, error) {
	s, err := d.until(end)
	if err != nil {
		return 0, err
	}
	if len(s) == 0 || len(s) > 10 || !allDigits(s) {
		return 0, d.fail("bad length")
	}
	n, _ := strconv.Atoi(string(s))
	return n, nil
}

func (d *decoder) float() (Value, error) {
	s, err := d.until(';')
	if err != nil {
		return nil, err
	}
	switch string(s) {
	case "INF":
		return math.Inf(1), nil
	case "-INF":
		return math.Inf(-1), nil
	case "NAN":
		return math.NaN(), nil
	}
	if !phpFloatSyntax(s) {
		return nil, d.fail("bad float")
	}
	f, err := strconv.ParseFloat(string(s), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return nil, d.fail("bad float")
	}
	return f, nil // out of range: ±Inf or 0, as PHP's strtod gives
}

// phpFloatSyntax checks [+-]? (digits | digits.digits* | .digits) ([eE][+-]?digits)?.
func phpFloatSyntax(s []byte) bool {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	intDigits := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
		intDigits++
	}
	fracDigits := 0
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			fracDigits++
		}
	}
	if intDigits+fracDigits == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		expDigits := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			expDigits++
		}
		if expDigits == 0 {
			return false
		}
	}
	return i == len(s)
}

func (d *decoder) str() (string, error) {
	n, err := d.length(':')
	if err != nil {
		return "", err
	}
	if err := d.expect('"'); err != nil {
		return "", err
	}
	if n > len(d.b)-d.i {
		return "", d.fail("string longer than the input")
	}
	s := string(d.b[d.i : d.i+n])
	d.i += n
	if err := d.expect('"'); err != nil {
		return "", err
	}
	return s, d.expect(';')
}

func (d *decoder) array(depth int) (Value, error) {
	if depth > d.maxDepth {
		return nil, d.fail(fmt.Sprintf("nested deeper than %d", d.maxDepth))
	}
	n, err := d.length(':')
	if err != nil {
		return nil, err
	}
	// Each entry takes at least 6 bytes ("i:0;N;"): a count that
	// the rest of the input cannot hold is refused before anything is allocated.
	if n > (len(d.b)-d.i)/6 {
		return nil, d.fail("array count larger than the input")
	}
	if err := d.expect('{'); err != nil {
		return nil, err
	}
	a := &Array{}
	for range n {
		k, err := d.key()
		if err != nil {
			return nil, err
		}
		v, err := d.value(depth)
		if err != nil {
			return nil, err
		}
		a.Set(k, v) // a repeated key replaces the earlier value in place, as in PHP
	}
	return a, d.expect('}')
}

func (d *decoder) key() (Key, error) {
	if d.i+1 >= len(d.b) || d.b[d.i+1] != ':' {
		return Key{}, d.fail("want an array key")
	}
	switch d.b[d.i] {
	case 'i':
		d.i += 2
		n, err := d.integer(';')
		return IntKey(n), err
	case 's':
		d.i += 2
		s, err := d.str()
		return StrKey(s), err
	}
	return Key{}, d.fail("array key must be i: or s:")
}
