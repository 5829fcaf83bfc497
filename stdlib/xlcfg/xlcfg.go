// Package xlcfg parses the xl.cfg(5) syntax: `key = value` settings separated by
// newlines or semicolons, where a value is a string ("..." or '...'), a number,
// or a list [ v, v, ... ]; `key += value` appends; `#` starts a comment. Every
// setting remembers its line so errors can name file:line. It does not import Lua.
package xlcfg

import (
	"fmt"
	"strconv"
	"strings"
)

// Kind is a value's type.
type Kind int

// Value kinds.
const (
	String Kind = iota
	Number
	List
)

// Value is one parsed value.
type Value struct {
	Kind Kind
	Str  string  // String, and a Number's source text
	Num  float64 // Number
	List []Value // List
	Line int
}

// Setting is one `key = value` line.
type Setting struct {
	Key   string
	Value Value
	Line  int
}

// Config is a parsed file: settings in order, later ones overriding earlier.
type Config struct {
	File     string
	Settings []Setting
}

// Error is a syntax error at file:line.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

type parser struct {
	file string
	src  string
	pos  int
	line int
}

// Parse parses src, naming it file in errors.
func Parse(file, src string) (*Config, error) {
	p := &parser{file: file, src: src, line: 1}
	cfg := &Config{File: file}
	index := map[string]int{}
	for {
		p.skipSpace(true, true)
		if p.pos >= len(p.src) {
			return cfg, nil
		}
		line := p.line
		key, err := p.ident()
		if err != nil {
			return nil, err
		}
		p.skipSpace(false, false)
		appendOp := false
		if strings.HasPrefix(p.src[p.pos:], "+=") {
			appendOp = true
			p.pos += 2
		} else if p.pos < len(p.src) && p.src[p.pos] == '=' {
			p.pos++
		} else {
			return nil, p.errf("expected '=' after %q", key)
		}
		p.skipSpace(false, false)
		v, err := p.value(0)
		if err != nil {
			return nil, err
		}
		p.skipSpace(false, false)
		if p.pos < len(p.src) {
			switch p.src[p.pos] {
			case ';':
				p.pos++
			case '\n':
			case '#':
			default:
				return nil, p.errf("unexpected %q after the value of %q", p.src[p.pos], key)
			}
		}
		if i, ok := index[key]; ok {
			if appendOp {
				old := cfg.Settings[i].Value
				merged, err := appendValues(old, v)
				if err != nil {
					return nil, &Error{File: file, Line: line, Msg: fmt.Sprintf("%s += : %v", key, err)}
				}
				cfg.Settings[i].Value = merged
				continue
			}
			cfg.Settings[i] = Setting{Key: key, Value: v, Line: line}
			continue
		}
		index[key] = len(cfg.Settings)
		cfg.Settings = append(cfg.Settings, Setting{Key: key, Value: v, Line: line})
	}
}

func appendValues(a, b Value) (Value, error) {
	switch {
	case a.Kind == List && b.Kind == List:
		a.List = append(append([]Value(nil), a.List...), b.List...)
		return a, nil
	case a.Kind == List:
		a.List = append(append([]Value(nil), a.List...), b)
		return a, nil
	case a.Kind == String && b.Kind == String:
		a.Str += b.Str
		return a, nil
	}
	return a, fmt.Errorf("cannot append to a number")
}

func (p *parser) errf(format string, a ...any) error {
	return &Error{File: p.file, Line: p.line, Msg: fmt.Sprintf(format, a...)}
}

// skipSpace skips blanks and comments; newlines too when nl is true, and
// the ';' that may end a statement when semi is true. Lists pass nl but not
// semi: they may span lines, with comments between items.
func (p *parser) skipSpace(nl, semi bool) {
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case c == ' ' || c == '\t' || c == '\r':
			p.pos++
		case c == '\n' && nl:
			p.line++
			p.pos++
		case c == ';' && semi:
			p.pos++
		case c == '#':
			for p.pos < len(p.src) && p.src[p.pos] != '\n' {
				p.pos++
			}
		default:
			return
		}
	}
}

func (p *parser) ident() (string, error) {
	start := p.pos
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || (p.pos > start && (c >= '0' && c <= '9' || c == '.')) {
			p.pos++
			continue
		}
		break
	}
	if p.pos == start {
		return "", p.errf("expected a setting name, found %q", p.src[p.pos])
	}
	return p.src[start:p.pos], nil
}

const maxDepth = 8

func (p *parser) value(depth int) (Value, error) {
	if p.pos >= len(p.src) {
		return Value{}, p.errf("missing value")
	}
	line := p.line
	c := p.src[p.pos]
	switch {
	case c == '"' || c == '\'':
		s, err := p.str(c)
		return Value{Kind: String, Str: s, Line: line}, err
	case c == '[':
		if depth >= maxDepth {
			return Value{}, p.errf("lists nested too deeply")
		}
		p.pos++
		v := Value{Kind: List, Line: line}
		for {
			p.skipSpace(true, false)
			if p.pos >= len(p.src) {
				return Value{}, &Error{File: p.file, Line: line, Msg: "unterminated list (missing ']')"}
			}
			if p.src[p.pos] == ']' {
				p.pos++
				return v, nil
			}
			item, err := p.value(depth + 1)
			if err != nil {
				return Value{}, err
			}
			v.List = append(v.List, item)
			p.skipSpace(true, false)
			if p.pos < len(p.src) && p.src[p.pos] == ',' {
				p.pos++
				continue
			}
			if p.pos < len(p.src) && p.src[p.pos] == ']' {
				continue
			}
			if p.pos >= len(p.src) {
				return Value{}, &Error{File: p.file, Line: line, Msg: "unterminated list (missing ']')"}
			}
			return Value{}, p.errf("expected ',' or ']' in list, found %q", p.src[p.pos])
		}
	case c == '-' || c == '+' || c >= '0' && c <= '9':
		start := p.pos
		p.pos++
		for p.pos < len(p.src) && strings.IndexByte("0123456789abcdefABCDEFxX.", p.src[p.pos]) >= 0 {
			p.pos++
		}
		text := p.src[start:p.pos]
		var f float64
		if n, err := strconv.ParseInt(text, 0, 64); err == nil {
			f = float64(n)
		} else if g, err := strconv.ParseFloat(text, 64); err == nil {
			f = g
		} else {
			return Value{}, p.errf("bad number %q", text)
		}
		return Value{Kind: Number, Num: f, Str: text, Line: line}, nil
	}
	return Value{}, p.errf("expected a value (a \"string\", a number or a [list]), found %q", c)
}

func (p *parser) str(q byte) (string, error) {
	line := p.line
	p.pos++
	var b strings.Builder
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case c == q:
			p.pos++
			return b.String(), nil
		case c == '\n':
			return "", &Error{File: p.file, Line: line, Msg: "unterminated string"}
		case c == '\\' && p.pos+1 < len(p.src):
			p.pos++
			e := p.src[p.pos]
			switch e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case '\\', '"', '\'':
				b.WriteByte(e)
			case 'x':
				if p.pos+2 >= len(p.src) {
					return "", p.errf("bad \\x escape")
				}
				n, err := strconv.ParseUint(p.src[p.pos+1:p.pos+3], 16, 8)
				if err != nil {
					return "", p.errf("bad \\x escape")
				}
				b.WriteByte(byte(n))
				p.pos += 2
			default:
				return "", p.errf("unknown escape \\%c", e)
			}
			p.pos++
		default:
			b.WriteByte(c)
			p.pos++
		}
	}
	return "", &Error{File: p.file, Line: line, Msg: "unterminated string"}
}
