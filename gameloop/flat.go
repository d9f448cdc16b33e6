package gameloop

import (
	"bytes"
	"fmt"
	"strconv"

	"comet"
)

// FlatKind is the type of a FlatValue.
type FlatKind uint8

const (
	FlatNull FlatKind = iota
	FlatNumber
	FlatBool
)

// FlatValue is one member value of a flat JSON object.
type FlatValue struct {
	Kind FlatKind
	Num  float64
	Bool bool
}

// Int returns the value as an integer in [lo, hi], or an error naming key.
func (v FlatValue) Int(key string, lo, hi int) (int, error) {
	if v.Kind != FlatNumber || v.Num != float64(int64(v.Num)) || v.Num < float64(lo) || v.Num > float64(hi) {
		return 0, fmt.Errorf("%q must be an integer from %d to %d", key, lo, hi)
	}
	return int(v.Num), nil
}

// DecodeFlat parses a flat JSON object whose values are numbers, booleans or
// null, calling fn for each member in order; it allocates nothing, so modes
// use it for inputs, the hottest decoder (a 1,000-player room decodes
// hundreds per tick). Strings, arrays, nested objects, duplicate keys,
// escapes in keys and trailing data are rejected; every error is an
// EINVALID *comet.Error naming the mode.
func DecodeFlat(mode string, data []byte, fn func(key []byte, v FlatValue) error) error {
	if len(data) > MaxInputBytes {
		return comet.Errorf(comet.EINVALID, "%s input: larger than %d bytes", mode, MaxInputBytes)
	}
	if err := decodeFlat(data, fn); err != nil {
		return comet.Errorf(comet.EINVALID, "%s input: %v", mode, err)
	}
	return nil
}

func decodeFlat(data []byte, fn func(key []byte, v FlatValue) error) error {
	p := flatParser{data: data}
	p.space()
	if !p.eat('{') {
		return fmt.Errorf("expected a JSON object")
	}
	var seen [16][]byte
	n := 0
	p.space()
	if !p.eat('}') {
		for {
			p.space()
			key, err := p.key()
			if err != nil {
				return err
			}
			for _, k := range seen[:min(n, len(seen))] {
				if bytes.Equal(k, key) {
					return fmt.Errorf("field %q given twice", key)
				}
			}
			if n == len(seen) {
				return fmt.Errorf("more than %d fields", len(seen))
			}
			seen[n] = key
			n++
			p.space()
			if !p.eat(':') {
				return fmt.Errorf("expected ':' after %q", key)
			}
			p.space()
			v, err := p.value()
			if err != nil {
				return fmt.Errorf("field %q: %w", key, err)
			}
			if err := fn(key, v); err != nil {
				return err
			}
			p.space()
			if p.eat('}') {
				break
			}
			if !p.eat(',') {
				return fmt.Errorf("expected ',' or '}' after field %q", key)
			}
		}
	}
	p.space()
	if p.i != len(p.data) {
		return fmt.Errorf("trailing data after the input object")
	}
	return nil
}

type flatParser struct {
	data []byte
	i    int
}

func (p *flatParser) space() {
	for p.i < len(p.data) {
		switch p.data[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *flatParser) eat(c byte) bool {
	if p.i < len(p.data) && p.data[p.i] == c {
		p.i++
		return true
	}
	return false
}

// key reads a member name: a JSON string of printable ASCII without escapes.
func (p *flatParser) key() ([]byte, error) {
	if !p.eat('"') {
		return nil, fmt.Errorf("expected a field name")
	}
	start := p.i
	for p.i < len(p.data) {
		c := p.data[p.i]
		switch {
		case c == '"':
			p.i++
			return p.data[start : p.i-1], nil
		case c == '\\' || c < 0x20 || c >= 0x7f:
			return nil, fmt.Errorf("field names must be plain ASCII")
		}
		p.i++
	}
	return nil, fmt.Errorf("unterminated field name")
}

func (p *flatParser) value() (FlatValue, error) {
	rest := p.data[p.i:]
	for _, lit := range [...]struct {
		text string
		v    FlatValue
	}{{"true", FlatValue{Kind: FlatBool, Bool: true}}, {"false", FlatValue{Kind: FlatBool}}, {"null", FlatValue{}}} {
		if bytes.HasPrefix(rest, []byte(lit.text)) {
			p.i += len(lit.text)
			return lit.v, nil
		}
	}
	if len(rest) > 0 && (rest[0] == '-' || (rest[0] >= '0' && rest[0] <= '9')) {
		return p.number()
	}
	if len(rest) > 0 && (rest[0] == '"' || rest[0] == '[' || rest[0] == '{') {
		return FlatValue{}, fmt.Errorf("must be a number or a boolean")
	}
	return FlatValue{}, fmt.Errorf("invalid value")
}

// number reads a JSON number (RFC 8259 grammar: no leading zeros, no '+',
// no hex, no NaN or Infinity) and rejects ones too large for a float64.
func (p *flatParser) number() (FlatValue, error) {
	start := p.i
	p.eat('-')
	switch {
	case p.eat('0'):
	case p.i < len(p.data) && p.data[p.i] >= '1' && p.data[p.i] <= '9':
		p.digits()
	default:
		return FlatValue{}, fmt.Errorf("invalid number")
	}
	if p.eat('.') && p.digits() == 0 {
		return FlatValue{}, fmt.Errorf("invalid number")
	}
	if p.eat('e') || p.eat('E') {
		if !p.eat('+') {
			p.eat('-')
		}
		if p.digits() == 0 {
			return FlatValue{}, fmt.Errorf("invalid number")
		}
	}
	f, err := strconv.ParseFloat(string(p.data[start:p.i]), 64)
	if err != nil { // only a range error is left: 1e999 and the like
		return FlatValue{}, fmt.Errorf("number out of range")
	}
	return FlatValue{Kind: FlatNumber, Num: f}, nil
}

func (p *flatParser) digits() int {
	n := 0
	for p.i < len(p.data) && p.data[p.i] >= '0' && p.data[p.i] <= '9' {
		p.i++
		n++
	}
	return n
}
