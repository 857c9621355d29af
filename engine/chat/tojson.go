package chat

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/ardanlabs/jinja"
)

// transformers replaces jinja2's tojson with json.dumps(x,
// ensure_ascii=False, indent=..., separators=..., sort_keys=False). The
// Jinja engine's own filter sorts the keys of an indented dump and writes
// floats the Go way, and its filters cannot be replaced, so templates are
// rewritten to call tojsonGlobal instead wherever the filter's operand is
// a plain variable path (all that chat templates pipe into tojson).

const tojsonGlobal = "__vkinfer_tojson"

// tojsonUse matches "path | tojson" inside a tag; group 1 is the
// character before the path (so that a path is not matched from its
// middle), 2 the path. Arguments after it are found by balancedArgs.
var tojsonUse = regexp.MustCompile(`(^|[^\w.\]])([A-Za-z_]\w*(?:\.[A-Za-z_]\w*|\[[^\[\]]*\])*)\s*\|\s*tojson\b`)

// rewriteToJSON rewrites the tojson filters in the tags of src.
func rewriteToJSON(src string) string { return rewriteTags(src, rewriteTag) }

// rewriteTags returns src with each of its tags replaced by f of it; the
// text between tags is kept.
func rewriteTags(src string, f func(tag string) string) string {
	var b strings.Builder
	for {
		start, end, ok := nextTag(src)
		if !ok {
			b.WriteString(src)
			return b.String()
		}
		b.WriteString(src[:start])
		b.WriteString(f(src[start:end]))
		src = src[end:]
	}
}

// rewriteTag rewrites the tojson filters of one tag.
func rewriteTag(tag string) string {
	var b strings.Builder
	for {
		m := tojsonUse.FindStringSubmatchIndex(tag)
		if m == nil {
			b.WriteString(tag)
			return b.String()
		}
		args, rest := balancedArgs(tag[m[1]:])
		if args != "" {
			args = ", " + args
		}
		b.WriteString(tag[:m[3]])
		b.WriteString(tojsonGlobal + "(" + tag[m[4]:m[5]] + args + ")")
		tag = rest
	}
}

// balancedArgs splits "(a, (b, c)) rest" after a filter name into the
// text inside its parentheses and the rest; without parentheses the args
// are empty.
func balancedArgs(s string) (args, rest string) {
	t := strings.TrimLeft(s, " \t\n")
	if !strings.HasPrefix(t, "(") {
		return "", s
	}
	depth := 0
	var quote byte
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case quote != 0 && c == '\\':
			i++
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '(':
			depth++
		case c == ')':
			if depth--; depth == 0 {
				return strings.TrimSpace(t[1:i]), t[i+1:]
			}
		}
	}
	return "", s // unbalanced: leave it to the engine to report
}

// nextTag finds the first {{ }} or {% %} tag of src, skipping over quoted
// strings inside it (Mistral's template prints "}}").
func nextTag(src string) (start, end int, ok bool) {
	for i := 0; i+1 < len(src); i++ {
		if src[i] != '{' || (src[i+1] != '{' && src[i+1] != '%') {
			continue
		}
		closer := byte('}')
		if src[i+1] == '%' {
			closer = '%'
		}
		var quote byte
		for j := i + 2; j+1 < len(src); j++ {
			c := src[j]
			switch {
			case quote != 0 && c == '\\':
				j++
			case quote != 0:
				if c == quote {
					quote = 0
				}
			case c == '"' || c == '\'':
				quote = c
			case c == closer && src[j+1] == '}':
				return i, j + 2, true
			}
		}
		return 0, 0, false
	}
	return 0, 0, false
}

// tojson is json.dumps as transformers calls it.
func tojson(args []jinja.Value, kwargs map[string]jinja.Value) (jinja.Value, error) {
	if len(args) < 1 {
		return jinja.Undefined(), errors.New("tojson: no value")
	}
	e := jsonEncoder{itemSep: ", ", keySep: ": "}
	if v, ok := kwargs["indent"]; ok && !v.IsNone() {
		switch {
		case v.IsInt():
			e.indent = strings.Repeat(" ", int(max(v.AsInt(), 0)))
		case v.IsString():
			e.indent = v.AsString()
		default:
			return jinja.Undefined(), fmt.Errorf("tojson: indent %s is not an integer", v)
		}
		e.indented = true
		e.itemSep = ","
	}
	if v, ok := kwargs["separators"]; ok && !v.IsNone() {
		if !v.IsList() || v.AsList().Len() != 2 || !v.AsList().Items[0].IsString() || !v.AsList().Items[1].IsString() {
			return jinja.Undefined(), errors.New("tojson: separators must be two strings")
		}
		e.itemSep, e.keySep = v.AsList().Items[0].AsString(), v.AsList().Items[1].AsString()
	}
	if v, ok := kwargs["sort_keys"]; ok {
		e.sortKeys = v.IsTruthy()
	}
	if v, ok := kwargs["ensure_ascii"]; ok {
		e.ascii = v.IsTruthy()
	}
	if err := e.value(args[0], 0); err != nil {
		return jinja.Undefined(), err
	}
	return jinja.NewString(e.b.String()), nil
}

type jsonEncoder struct {
	b               strings.Builder
	indented        bool
	indent          string
	itemSep, keySep string
	sortKeys, ascii bool
}

func (e *jsonEncoder) newline(depth int) {
	if e.indented {
		e.b.WriteByte('\n')
		e.b.WriteString(strings.Repeat(e.indent, depth))
	}
}

func (e *jsonEncoder) value(v jinja.Value, depth int) error {
	switch {
	case v.IsUndefined(), v.IsNone(), v.IsCallable():
		e.b.WriteString("null")
	case v.IsBool():
		e.b.WriteString(map[bool]string{true: "true", false: "false"}[v.AsBool()])
	case v.IsInt():
		e.b.WriteString(strconv.FormatInt(v.AsInt(), 10))
	case v.IsFloat():
		e.b.WriteString(pyFloat(v.AsFloat()))
	case v.IsString():
		e.str(v.AsString())
	case v.IsList():
		items := v.AsList().Items
		if len(items) == 0 {
			e.b.WriteString("[]")
			return nil
		}
		e.b.WriteByte('[')
		for i, it := range items {
			if i > 0 {
				e.b.WriteString(e.itemSep)
			}
			e.newline(depth + 1)
			if err := e.value(it, depth+1); err != nil {
				return err
			}
		}
		e.newline(depth)
		e.b.WriteByte(']')
	case v.IsDict():
		d := v.AsDict()
		keys := d.OrderedKeys()
		if e.sortKeys {
			sort.Strings(keys)
		}
		if len(keys) == 0 {
			e.b.WriteString("{}")
			return nil
		}
		e.b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				e.b.WriteString(e.itemSep)
			}
			e.newline(depth + 1)
			e.str(k)
			e.b.WriteString(e.keySep)
			if err := e.value(d.Data[k], depth+1); err != nil {
				return err
			}
		}
		e.newline(depth)
		e.b.WriteByte('}')
	default:
		return fmt.Errorf("tojson: cannot encode %s", v)
	}
	return nil
}

// str writes s as Python's json module does: only quotes, backslashes
// and control characters escaped (and, with ensure_ascii, non-ASCII as
// \u escapes, surrogate pairs beyond the BMP).
func (e *jsonEncoder) str(s string) {
	e.b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			e.b.WriteString(`\"`)
		case '\\':
			e.b.WriteString(`\\`)
		case '\n':
			e.b.WriteString(`\n`)
		case '\r':
			e.b.WriteString(`\r`)
		case '\t':
			e.b.WriteString(`\t`)
		case '\b':
			e.b.WriteString(`\b`)
		case '\f':
			e.b.WriteString(`\f`)
		default:
			switch {
			case r < 0x20 || (e.ascii && r == utf8.RuneError):
				fmt.Fprintf(&e.b, `\u%04x`, r)
			case e.ascii && r > 0x7e && r <= 0xffff:
				fmt.Fprintf(&e.b, `\u%04x`, r)
			case e.ascii && r > 0xffff:
				r -= 0x10000
				fmt.Fprintf(&e.b, `\u%04x\u%04x`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
			default:
				e.b.WriteRune(r)
			}
		}
	}
	e.b.WriteByte('"')
}

// pyFloat formats f as Python's float repr: the shortest digits, in
// positional form for exponents -4..15 (always with a fractional part),
// else as d.ddde+XX.
func pyFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	sci := strconv.FormatFloat(f, 'e', -1, 64)
	exp, _ := strconv.Atoi(sci[strings.IndexByte(sci, 'e')+1:])
	if exp < -4 || exp >= 16 {
		return sci
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsAny(s, ".") {
		s += ".0"
	}
	return s
}
