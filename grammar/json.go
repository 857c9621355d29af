package grammar

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// jval is a JSON value that keeps its object keys in order, so that a
// schema's properties come out in the order it lists them.
type jval struct {
	kind byte // 'o' object, 'a' array, 's' string, 'n' number, 'b' bool, 'z' null
	keys []string
	vals []*jval // object values by keys, or array items
	str  string
	num  json.Number
	b    bool
}

func parseJSON(data []byte) (*jval, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := readJSON(dec)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSchema, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: text after the schema", ErrSchema)
	}
	return v, nil
}

func readJSON(dec *json.Decoder) (*jval, error) {
	t, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := t.(type) {
	case json.Delim:
		v := &jval{kind: 'a'}
		if t == '{' {
			v.kind = 'o'
		}
		for dec.More() {
			if v.kind == 'o' {
				k, err := dec.Token()
				if err != nil {
					return nil, err
				}
				v.keys = append(v.keys, k.(string))
			}
			e, err := readJSON(dec)
			if err != nil {
				return nil, err
			}
			v.vals = append(v.vals, e)
		}
		_, err := dec.Token() // the closing delimiter
		return v, err
	case string:
		return &jval{kind: 's', str: t}, nil
	case json.Number:
		return &jval{kind: 'n', num: t}, nil
	case bool:
		return &jval{kind: 'b', b: t}, nil
	}
	return &jval{kind: 'z'}, nil
}

// get returns the value of key in object v, or nil.
func (v *jval) get(key string) *jval {
	if v == nil || v.kind != 'o' {
		return nil
	}
	for i, k := range v.keys {
		if k == key {
			return v.vals[i]
		}
	}
	return nil
}

// text writes v as compact JSON, object keys in order.
func (v *jval) text(sb *strings.Builder) {
	switch v.kind {
	case 'o', 'a':
		open, close := byte('['), byte(']')
		if v.kind == 'o' {
			open, close = '{', '}'
		}
		sb.WriteByte(open)
		for i, e := range v.vals {
			if i > 0 {
				sb.WriteByte(',')
			}
			if v.kind == 'o' {
				sb.WriteString(quoteJSON(v.keys[i]))
				sb.WriteByte(':')
			}
			e.text(sb)
		}
		sb.WriteByte(close)
	case 's':
		sb.WriteString(quoteJSON(v.str))
	case 'n':
		sb.WriteString(v.num.String())
	case 'b':
		sb.WriteString(strconv.FormatBool(v.b))
	default:
		sb.WriteString("null")
	}
}

func quoteJSON(s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(buf.String(), "\n")
}

// literal returns s as a GBNF string literal.
func literal(s string) string {
	var sb strings.Builder
	sb.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			sb.WriteByte('\\')
			sb.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&sb, "\\x%02x", r)
		default:
			sb.WriteRune(r)
		}
	}
	sb.WriteByte('"')
	return sb.String()
}
