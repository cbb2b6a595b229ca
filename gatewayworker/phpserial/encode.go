package phpserial

import (
	"fmt"
	"math"
	"strconv"
)

// Marshal returns the serialize() form of v, byte for byte what PHP 7.1+
// writes (serialize_precision -1). Besides the Value types it accepts, for
// convenience, int, int32, uint32, []byte (a string), []string (a list) and
// map-free Go scalars; anything else is an error.
func Marshal(v Value) ([]byte, error) { return Append(nil, v) }

// MustMarshal is Marshal for values built by the caller from supported
// types only; it panics on an unsupported type (a programming error).
func MustMarshal(v Value) []byte {
	b, err := Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// Append appends the serialize() form of v to dst.
func Append(dst []byte, v Value) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(dst, "N;"...), nil
	case bool:
		if x {
			return append(dst, "b:1;"...), nil
		}
		return append(dst, "b:0;"...), nil
	case int64:
		return appendInt(dst, x), nil
	case int:
		return appendInt(dst, int64(x)), nil
	case int32:
		return appendInt(dst, int64(x)), nil
	case uint32:
		return appendInt(dst, int64(x)), nil
	case float64:
		dst = append(dst, "d:"...)
		dst = AppendFloat(dst, x)
		return append(dst, ';'), nil
	case string:
		return appendString(dst, x), nil
	case []byte:
		return appendString(dst, string(x)), nil
	case []string:
		dst = append(dst, "a:"...)
		dst = strconv.AppendInt(dst, int64(len(x)), 10)
		dst = append(dst, ":{"...)
		for i, s := range x {
			dst = appendInt(dst, int64(i))
			dst = appendString(dst, s)
		}
		return append(dst, '}'), nil
	case *Array:
		return appendArray(dst, x)
	}
	return dst, fmt.Errorf("phpserial: cannot serialize %T", v)
}

func appendInt(dst []byte, i int64) []byte {
	dst = append(dst, "i:"...)
	dst = strconv.AppendInt(dst, i, 10)
	return append(dst, ';')
}

func appendString(dst []byte, s string) []byte {
	dst = append(dst, "s:"...)
	dst = strconv.AppendInt(dst, int64(len(s)), 10)
	dst = append(dst, ":\""...)
	dst = append(dst, s...)
	return append(dst, "\";"...)
}

func appendArray(dst []byte, a *Array) ([]byte, error) {
	if a == nil {
		return append(dst, "a:0:{}"...), nil
	}
	dst = append(dst, "a:"...)
	dst = strconv.AppendInt(dst, int64(a.Len()), 10)
	dst = append(dst, ":{"...)
	var err error
	for i, k := range a.keys {
		if k.isStr {
			dst = appendString(dst, k.str)
		} else {
			dst = appendInt(dst, k.num)
		}
		if dst, err = Append(dst, a.vals[i]); err != nil {
			return dst, err
		}
	}
	return append(dst, '}'), nil
}

// AppendFloat appends f as PHP 7.1+ prints it in serialize() and in a
// string conversion: the shortest decimal that reads back as f, in fixed
// notation when the decimal exponent is in [-4, 17) ("0.0001", "1.5",
// "100"), else as d.dddE±x ("1.0E+25", "1.0E-5"); INF, -INF, NAN.
func AppendFloat(dst []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, "NAN"...)
	case math.IsInf(f, 1):
		return append(dst, "INF"...)
	case math.IsInf(f, -1):
		return append(dst, "-INF"...)
	}
	if math.Signbit(f) {
		dst = append(dst, '-')
		f = -f
	}
	if f == 0 {
		return append(dst, '0')
	}
	digits, exp := shortestDigits(f)
	decpt := exp + 1 // position of the decimal point after the first digit
	const ndigit = 17
	switch {
	case decpt < -3 || decpt > ndigit: // exponential, as php_gcvt
		dst = append(dst, digits[0], '.')
		if len(digits) == 1 {
			dst = append(dst, '0')
		} else {
			dst = append(dst, digits[1:]...)
		}
		dst = append(dst, 'E')
		if exp < 0 {
			dst = append(dst, '-')
			exp = -exp
		} else {
			dst = append(dst, '+')
		}
		return strconv.AppendInt(dst, int64(exp), 10)
	case decpt <= 0: // 0.000ddd
		dst = append(dst, '0', '.')
		for range -decpt {
			dst = append(dst, '0')
		}
		return append(dst, digits...)
	default:
		for i := range decpt {
			if i < len(digits) {
				dst = append(dst, digits[i])
			} else {
				dst = append(dst, '0')
			}
		}
		if len(digits) > decpt {
			dst = append(dst, '.')
			dst = append(dst, digits[decpt:]...)
		}
		return dst
	}
}

// shortestDigits returns the shortest decimal digits that read back as f > 0
// (as zend_dtoa mode 0 gives them) and the decimal exponent of the first.
func shortestDigits(f float64) (digits []byte, exp int) {
	e := strconv.AppendFloat(make([]byte, 0, 32), f, 'e', -1, 64) // d[.ddd]e±xx
	mant := e
	for i, c := range e {
		if c == 'e' {
			mant = e[:i]
			exp, _ = strconv.Atoi(string(e[i+1:]))
			break
		}
	}
	digits = make([]byte, 0, len(mant))
	for _, c := range mant {
		if c != '.' {
			digits = append(digits, c)
		}
	}
	return digits, exp
}
