package luajson

import (
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	lua "github.com/yuin/gopher-lua"
)

// Decode parses one JSON text (RFC 8259) straight into Lua values: objects
// become tables with string keys, arrays tables with keys 1..n, null nil (a
// null in an array is left out, as FromGo's Append leaves it out), numbers
// float64. It builds no Go tree first: a domain record is read at every
// destroy and restart, and going through encoding/json's map[string]any
// and then FromGo cost twice the allocations and most of the time.
//
// Anything after the value but white space is an error, as is nesting
// deeper than maxDepth; an error names the byte offset.
func Decode(L *lua.LState, b []byte) (lua.LValue, error) {
	d := decoder{L: L, b: b}
	d.space()
	v, err := d.value(0)
	if err != nil {
		return lua.LNil, err
	}
	d.space()
	if d.i < len(d.b) {
		return lua.LNil, d.errorf("data after the JSON value")
	}
	return v, nil
}

const maxDepth = 200

type decoder struct {
	L *lua.LState
	b []byte
	i int
}

func (d *decoder) errorf(format string, args ...any) error {
	return fmt.Errorf("offset %d: "+format, append([]any{d.i}, args...)...)
}

func (d *decoder) space() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *decoder) value(depth int) (lua.LValue, error) {
	if d.i >= len(d.b) {
		return lua.LNil, d.errorf("unexpected end of JSON input")
	}
	switch c := d.b[d.i]; {
	case c == '{':
		return d.object(depth + 1)
	case c == '[':
		return d.array(depth + 1)
	case c == '"':
		s, err := d.str()
		if err != nil {
			return lua.LNil, err
		}
		return lua.LString(s), nil
	case c == '-' || (c >= '0' && c <= '9'):
		return d.number()
	case c == 't':
		return lua.LTrue, d.literal("true")
	case c == 'f':
		return lua.LFalse, d.literal("false")
	case c == 'n':
		return lua.LNil, d.literal("null")
	default:
		return lua.LNil, d.errorf("invalid character %q looking for a value", c)
	}
}

func (d *decoder) literal(word string) error {
	if len(d.b)-d.i < len(word) || string(d.b[d.i:d.i+len(word)]) != word {
		return d.errorf("invalid literal (want %s)", word)
	}
	d.i += len(word)
	return nil
}

func (d *decoder) object(depth int) (lua.LValue, error) {
	if depth > maxDepth {
		return lua.LNil, d.errorf("nesting deeper than %d", maxDepth)
	}
	d.i++ // {
	t := d.L.CreateTable(0, 4)
	d.space()
	if d.i < len(d.b) && d.b[d.i] == '}' {
		d.i++
		return t, nil
	}
	for {
		d.space()
		if d.i >= len(d.b) || d.b[d.i] != '"' {
			return lua.LNil, d.errorf("object key expected")
		}
		k, err := d.str()
		if err != nil {
			return lua.LNil, err
		}
		d.space()
		if d.i >= len(d.b) || d.b[d.i] != ':' {
			return lua.LNil, d.errorf("':' expected after object key")
		}
		d.i++
		d.space()
		v, err := d.value(depth)
		if err != nil {
			return lua.LNil, err
		}
		t.RawSetString(k, v)
		d.space()
		if d.i >= len(d.b) {
			return lua.LNil, d.errorf("unexpected end of JSON input in an object")
		}
		switch d.b[d.i] {
		case ',':
			d.i++
		case '}':
			d.i++
			return t, nil
		default:
			return lua.LNil, d.errorf("',' or '}' expected in an object")
		}
	}
}

func (d *decoder) array(depth int) (lua.LValue, error) {
	if depth > maxDepth {
		return lua.LNil, d.errorf("nesting deeper than %d", maxDepth)
	}
	d.i++ // [
	t := d.L.CreateTable(4, 0)
	d.space()
	if d.i < len(d.b) && d.b[d.i] == ']' {
		d.i++
		return t, nil
	}
	for {
		d.space()
		v, err := d.value(depth)
		if err != nil {
			return lua.LNil, err
		}
		t.Append(v)
		d.space()
		if d.i >= len(d.b) {
			return lua.LNil, d.errorf("unexpected end of JSON input in an array")
		}
		switch d.b[d.i] {
		case ',':
			d.i++
		case ']':
			d.i++
			return t, nil
		default:
			return lua.LNil, d.errorf("',' or ']' expected in an array")
		}
	}
}

func (d *decoder) number() (lua.LValue, error) {
	start := d.i
	if d.b[d.i] == '-' {
		d.i++
	}
	digits := func() int {
		n := 0
		for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
			d.i++
			n++
		}
		return n
	}
	if d.i < len(d.b) && d.b[d.i] == '0' {
		d.i++ // a leading zero stands alone
	} else if digits() == 0 {
		return lua.LNil, d.errorf("invalid number")
	}
	if d.i < len(d.b) && d.b[d.i] == '.' {
		d.i++
		if digits() == 0 {
			return lua.LNil, d.errorf("invalid number: digits expected after '.'")
		}
	}
	if d.i < len(d.b) && (d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		d.i++
		if d.i < len(d.b) && (d.b[d.i] == '+' || d.b[d.i] == '-') {
			d.i++
		}
		if digits() == 0 {
			return lua.LNil, d.errorf("invalid number: digits expected in the exponent")
		}
	}
	f, err := strconv.ParseFloat(string(d.b[start:d.i]), 64)
	if err != nil {
		// only a magnitude past float64's range gets here, which
		// encoding/json refuses too
		return lua.LNil, fmt.Errorf("offset %d: number %s out of range", start, d.b[start:d.i])
	}
	return lua.LNumber(f), nil
}

// str reads a string at d.i (its opening quote); a string without escapes
// is one slice of the input.
func (d *decoder) str() (string, error) {
	d.i++ // "
	start := d.i
	for d.i < len(d.b) {
		c := d.b[d.i]
		if c == '"' {
			s := string(d.b[start:d.i])
			d.i++
			return s, nil
		}
		if c == '\\' {
			return d.escaped(start)
		}
		if c < 0x20 {
			return "", d.errorf("control character %#x in a string", c)
		}
		d.i++
	}
	return "", d.errorf("unexpected end of JSON input in a string")
}

func (d *decoder) escaped(start int) (string, error) {
	out := append([]byte(nil), d.b[start:d.i]...)
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			return string(out), nil
		case c < 0x20:
			return "", d.errorf("control character %#x in a string", c)
		case c != '\\':
			out = append(out, c)
			d.i++
			continue
		}
		if d.i+1 >= len(d.b) {
			break
		}
		e := d.b[d.i+1]
		d.i += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := d.hex4()
			if !ok {
				return "", d.errorf("invalid \\u escape")
			}
			if utf16.IsSurrogate(r) {
				// a pair makes one rune; a lone half is U+FFFD, as
				// encoding/json decodes it
				r2 := utf8.RuneError
				if d.i+1 < len(d.b) && d.b[d.i] == '\\' && d.b[d.i+1] == 'u' {
					save := d.i
					d.i += 2
					if lo, ok := d.hex4(); ok && utf16.DecodeRune(r, lo) != utf8.RuneError {
						r2 = utf16.DecodeRune(r, lo)
					} else {
						d.i = save
					}
				}
				r = r2
			}
			out = utf8.AppendRune(out, r)
		default:
			return "", d.errorf("invalid escape \\%c", e)
		}
	}
	return "", d.errorf("unexpected end of JSON input in a string")
}

func (d *decoder) hex4() (rune, bool) {
	if len(d.b)-d.i < 4 {
		return 0, false
	}
	v, err := strconv.ParseUint(string(d.b[d.i:d.i+4]), 16, 32)
	if err != nil {
		return 0, false
	}
	d.i += 4
	return rune(v), true
}
