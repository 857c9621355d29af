package grammar

import (
	"fmt"
	"slices"
	"strings"
)

// jsonRules are the primitives every JSON grammar uses. Whitespace is at
// most one space, and numbers have bounded digits, so that a sentence
// always ends: a model cannot pad forever.
const jsonRules = `ws ::= " "?
json-hex ::= [0-9a-fA-F]
json-u ::= ( [0-9a-cA-CeEfF] json-hex | [dD] [0-7] ) json-hex json-hex
json-char ::= [^"\\\x00-\x1f] | "\\" ( ["\\/bfnrt] | "u" json-u )
json-string ::= "\"" json-char* "\""
json-integer ::= "-"? ( "0" | [1-9] [0-9]{0,15} )
json-number ::= json-integer ( "." [0-9]{1,15} )? ( [eE] [-+]? [0-9]{1,3} )?
json-boolean ::= "true" | "false"
json-null ::= "null"
json-value ::= json-object | json-array | json-string | json-number | json-boolean | json-null
json-member ::= json-string ws ":" ws json-value ws
json-object ::= "{" ws ( json-member ( "," ws json-member )* )? "}"
json-array ::= "[" ws ( json-value ws ( "," ws json-value ws )* )? "]"
`

// JSON returns the grammar of any JSON value (the "json" format).
func JSON() *Grammar {
	g, err := Parse("root ::= json-value\n" + jsonRules)
	if err != nil {
		panic("grammar: the built-in JSON grammar does not parse: " + err.Error())
	}
	return g
}

// annotations are schema keywords that do not constrain values.
var annotations = []string{"title", "description", "$schema", "$id", "$comment", "default", "examples",
	"deprecated", "readOnly", "writeOnly", "$defs", "definitions"}

// keywords are the constraining keywords the compiler implements.
var keywords = []string{"type", "properties", "required", "additionalProperties", "items",
	"minItems", "maxItems", "enum", "const", "pattern", "minLength", "maxLength", "$ref", "anyOf",
	"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}

// FromSchema compiles a JSON schema to a grammar of the JSON texts that
// validate against it. It implements type (one or a list), properties,
// required, additionalProperties (false, or a schema for an object
// without properties), items, minItems, maxItems, enum, const, pattern
// (see the regular expression subset at regexGBNF), minLength, maxLength,
// minimum, maximum, exclusiveMinimum and exclusiveMaximum on integers
// (minimum 0 only on numbers), anyOf and $ref to #, #/$defs/... and
// #/definitions/...; annotations are ignored. Any other keyword (format,
// multipleOf, oneOf, ...) is refused with an error wrapping
// ErrUnsupported that names it. Object properties come out in the
// schema's order.
func FromSchema(schema []byte) (*Grammar, error) {
	src, err := SchemaGBNF(schema)
	if err != nil {
		return nil, err
	}
	g, err := Parse(src)
	if err != nil {
		return nil, fmt.Errorf("grammar: the grammar compiled from the schema does not parse: %w", err)
	}
	return g, nil
}

// SchemaGBNF returns the GBNF text FromSchema compiles.
func SchemaGBNF(schema []byte) (string, error) {
	root, err := parseJSON(schema)
	if err != nil {
		return "", err
	}
	c := &schemaCompiler{root: root, refs: map[string]string{}, used: map[string]bool{}}
	body, err := c.schema(root, "root", "")
	if err != nil {
		return "", err
	}
	var sb strings.Builder
	sb.WriteString("root ::= " + body + "\n")
	for _, r := range c.rules {
		sb.WriteString(r + "\n")
	}
	sb.WriteString(jsonRules)
	return sb.String(), nil
}

type schemaCompiler struct {
	root  *jval
	rules []string
	refs  map[string]string // $ref -> rule name
	used  map[string]bool   // rule names taken
}

// rule adds "name ::= body" under a fresh name derived from hint.
func (c *schemaCompiler) rule(hint, body string) string {
	name := c.fresh(hint)
	c.rules = append(c.rules, name+" ::= "+body)
	return name
}

func (c *schemaCompiler) fresh(hint string) string {
	var sb strings.Builder
	for _, r := range hint {
		if r < 128 && isNameByte(byte(r)) {
			sb.WriteRune(r)
		} else {
			sb.WriteByte('-')
		}
	}
	base := "s-" + sb.String()
	name := base
	for i := 2; c.used[name]; i++ {
		name = fmt.Sprintf("%s-%d", base, i)
	}
	c.used[name] = true
	return name
}

func unsupported(path, format string, args ...any) error {
	return fmt.Errorf("%w: %s at %s", ErrUnsupported, fmt.Sprintf(format, args...), where(path))
}

func invalid(path, format string, args ...any) error {
	return fmt.Errorf("%w: %s at %s", ErrSchema, fmt.Sprintf(format, args...), where(path))
}

func where(path string) string {
	if path == "" {
		return "the schema's root"
	}
	return path
}

// schema returns a GBNF expression for the values s accepts; path names
// s in errors, hint names its rules.
func (c *schemaCompiler) schema(s *jval, hint, path string) (string, error) {
	switch {
	case s.kind == 'b' && s.b:
		return "json-value", nil
	case s.kind == 'b':
		return "", invalid(path, "the schema false accepts nothing")
	case s.kind != 'o':
		return "", invalid(path, "a schema must be an object or a boolean")
	}
	for _, k := range s.keys {
		if !slices.Contains(keywords, k) && !slices.Contains(annotations, k) {
			return "", unsupported(path, "keyword %q", k)
		}
	}
	if ref := s.get("$ref"); ref != nil {
		for _, k := range s.keys {
			if k != "$ref" && !slices.Contains(annotations, k) {
				return "", unsupported(path, "keyword %q beside $ref", k)
			}
		}
		return c.ref(ref, path)
	}
	if v := s.get("const"); v != nil {
		return literal(jsonText(v)), nil
	}
	if v := s.get("enum"); v != nil {
		if v.kind != 'a' || len(v.vals) == 0 {
			return "", invalid(path, "enum must be a non-empty array")
		}
		alts := make([]string, len(v.vals))
		for i, e := range v.vals {
			alts[i] = literal(jsonText(e))
		}
		return "( " + strings.Join(alts, " | ") + " )", nil
	}
	if v := s.get("anyOf"); v != nil {
		if v.kind != 'a' || len(v.vals) == 0 {
			return "", invalid(path, "anyOf must be a non-empty array")
		}
		for _, k := range s.keys {
			if k != "anyOf" && !slices.Contains(annotations, k) {
				return "", unsupported(path, "keyword %q beside anyOf", k)
			}
		}
		alts := make([]string, len(v.vals))
		for i, e := range v.vals {
			var err error
			if alts[i], err = c.schema(e, fmt.Sprintf("%s-%d", hint, i), fmt.Sprintf("%s/anyOf/%d", path, i)); err != nil {
				return "", err
			}
		}
		return "( " + strings.Join(alts, " | ") + " )", nil
	}
	types, err := schemaTypes(s, path)
	if err != nil {
		return "", err
	}
	alts := make([]string, 0, len(types))
	for _, t := range types {
		var e string
		switch t {
		case "object":
			e, err = c.object(s, hint, path)
		case "array":
			e, err = c.array(s, hint, path)
		case "string":
			e, err = c.string(s, hint, path)
		case "number":
			e, err = number(s, path)
		case "integer":
			e, err = integer(s, path)
		case "boolean":
			e = "json-boolean"
		case "null":
			e = "json-null"
		case "":
			e = "json-value"
		default:
			return "", invalid(path, "unknown type %q", t)
		}
		if err != nil {
			return "", err
		}
		alts = append(alts, e)
	}
	if len(alts) == 1 {
		return alts[0], nil
	}
	return "( " + strings.Join(alts, " | ") + " )", nil
}

// schemaTypes returns the types s allows: its type keyword, else the one
// its keywords imply, else "" (any value).
func schemaTypes(s *jval, path string) ([]string, error) {
	t := s.get("type")
	switch {
	case t == nil:
	case t.kind == 's':
		return []string{t.str}, nil
	case t.kind == 'a' && len(t.vals) > 0:
		var out []string
		for _, e := range t.vals {
			if e.kind != 's' {
				return nil, invalid(path, "type lists must hold strings")
			}
			out = append(out, e.str)
		}
		return out, nil
	default:
		return nil, invalid(path, "type must be a string or a non-empty array")
	}
	switch {
	case s.get("properties") != nil || s.get("required") != nil || s.get("additionalProperties") != nil:
		return []string{"object"}, nil
	case s.get("items") != nil || s.get("minItems") != nil || s.get("maxItems") != nil:
		return []string{"array"}, nil
	case s.get("pattern") != nil || s.get("minLength") != nil || s.get("maxLength") != nil:
		return []string{"string"}, nil
	case s.get("minimum") != nil || s.get("maximum") != nil || s.get("exclusiveMinimum") != nil || s.get("exclusiveMaximum") != nil:
		return []string{"number"}, nil
	}
	return []string{""}, nil
}

// integer is the integers s allows: json-integer within its bounds.
func integer(s *jval, path string) (string, error) {
	lo, hi, err := intBounds(s, path)
	if err != nil || lo == nil && hi == nil {
		return "json-integer", err
	}
	return integerRange(lo, hi), nil
}

// number is the numbers s allows. Of bounds only minimum 0 is
// implemented (a number without a minus sign); fractions and exponents
// make other bounds a grammar of their own.
func number(s *jval, path string) (string, error) {
	min := s.get("minimum")
	for _, k := range []string{"maximum", "exclusiveMinimum", "exclusiveMaximum"} {
		if s.get(k) != nil {
			return "", unsupported(path, "%s on a number (integers take any bounds, numbers only minimum 0)", k)
		}
	}
	if min == nil {
		return "json-number", nil
	}
	if f, err := min.num.Float64(); min.kind != 'n' || err != nil || f != 0 {
		return "", unsupported(path, "minimum %s on a number (integers take any bounds, numbers only minimum 0)", jsonText(min))
	}
	return `( "0" | [1-9] [0-9]{0,15} ) ( "." [0-9]{1,15} )? ( [eE] [-+]? [0-9]{1,3} )?`, nil
}

func jsonText(v *jval) string {
	var sb strings.Builder
	v.text(&sb)
	return sb.String()
}

// ref returns the rule of a $ref, compiling its target on first use (the
// rule is named first, so recursive schemas work).
func (c *schemaCompiler) ref(ref *jval, path string) (string, error) {
	if ref.kind != 's' {
		return "", invalid(path, "$ref must be a string")
	}
	if name, ok := c.refs[ref.str]; ok {
		return name, nil
	}
	target := c.root
	if ref.str != "#" {
		rest, ok := strings.CutPrefix(ref.str, "#/")
		parts := strings.Split(rest, "/")
		if !ok || len(parts) != 2 || parts[0] != "$defs" && parts[0] != "definitions" {
			return "", unsupported(path, "$ref %q (only #, #/$defs/NAME and #/definitions/NAME)", ref.str)
		}
		name := strings.ReplaceAll(strings.ReplaceAll(parts[1], "~1", "/"), "~0", "~")
		if target = c.root.get(parts[0]).get(name); target == nil {
			return "", invalid(path, "$ref %q names no definition", ref.str)
		}
	}
	name := c.fresh("ref-" + ref.str)
	c.refs[ref.str] = name
	body, err := c.schema(target, name, ref.str)
	if err != nil {
		return "", err
	}
	c.rules = append(c.rules, name+" ::= "+body)
	return name, nil
}

// count reads a non-negative integer keyword; -1 when absent.
func count(s *jval, key, path string) (int, error) {
	v := s.get(key)
	if v == nil {
		return -1, nil
	}
	n, err := v.num.Int64()
	if v.kind != 'n' || err != nil || n < 0 || n > maxRepeat {
		return 0, invalid(path, "%s must be an integer in [0, %d]", key, maxRepeat)
	}
	return int(n), nil
}

// repetition returns GBNF bounds {min,max} for counts read by count.
func repetition(lo, hi int) string {
	switch {
	case hi < 0:
		return fmt.Sprintf("{%d,}", lo)
	case lo == hi:
		return fmt.Sprintf("{%d}", lo)
	}
	return fmt.Sprintf("{%d,%d}", lo, hi)
}

func (c *schemaCompiler) string(s *jval, hint, path string) (string, error) {
	lo, err := count(s, "minLength", path)
	if err != nil {
		return "", err
	}
	hi, err := count(s, "maxLength", path)
	if err != nil {
		return "", err
	}
	if p := s.get("pattern"); p != nil {
		if p.kind != 's' {
			return "", invalid(path, "pattern must be a string")
		}
		if lo >= 0 || hi >= 0 {
			return "", unsupported(path, "pattern together with minLength or maxLength")
		}
		body, err := regexGBNF(p.str)
		if err != nil {
			return "", fmt.Errorf("%w at %s", err, where(path))
		}
		return c.rule(hint+"-pattern", `"\"" `+body+` "\""`), nil
	}
	if hi >= 0 && hi < lo {
		return "", invalid(path, "maxLength %d is below minLength %d", hi, lo)
	}
	if lo < 0 && hi < 0 {
		return "json-string", nil
	}
	return c.rule(hint+"-string", `"\"" json-char`+repetition(max(lo, 0), hi)+` "\""`), nil
}

func (c *schemaCompiler) array(s *jval, hint, path string) (string, error) {
	lo, err := count(s, "minItems", path)
	if err != nil {
		return "", err
	}
	hi, err := count(s, "maxItems", path)
	if err != nil {
		return "", err
	}
	lo = max(lo, 0)
	if hi >= 0 && hi < lo {
		return "", invalid(path, "maxItems %d is below minItems %d", hi, lo)
	}
	item := "json-value"
	if it := s.get("items"); it != nil {
		if it.kind == 'a' {
			return "", unsupported(path, "items as an array (tuples)")
		}
		if item, err = c.schema(it, hint+"-item", path+"/items"); err != nil {
			return "", err
		}
	}
	if hi == 0 {
		return c.rule(hint+"-array", `"[" ws "]"`), nil
	}
	// hi-1 stays -1 (unbounded) when hi is.
	more := "( \",\" ws " + item + " ws )" + repetition(max(lo-1, 0), max(hi-1, -1))
	body := item + " ws " + more
	if lo == 0 {
		body = "( " + body + " )?"
	}
	return c.rule(hint+"-array", `"[" ws `+body+` "]"`), nil
}

func (c *schemaCompiler) object(s *jval, hint, path string) (string, error) {
	props := s.get("properties")
	if props != nil && props.kind != 'o' {
		return "", invalid(path, "properties must be an object")
	}
	var required []string
	if r := s.get("required"); r != nil {
		if r.kind != 'a' {
			return "", invalid(path, "required must be an array")
		}
		for _, e := range r.vals {
			if e.kind != 's' {
				return "", invalid(path, "required must hold strings")
			}
			required = append(required, e.str)
		}
	}
	extra := s.get("additionalProperties")
	closed := extra != nil && extra.kind == 'b' && !extra.b
	if props == nil || len(props.keys) == 0 {
		if len(required) > 0 {
			return "", unsupported(path, "required without properties")
		}
		if closed {
			return c.rule(hint+"-object", `"{" ws "}"`), nil
		}
		value := "json-value"
		if extra != nil {
			var err error
			if value, err = c.schema(extra, hint+"-value", path+"/additionalProperties"); err != nil {
				return "", err
			}
		}
		member := "json-string ws \":\" ws " + value + " ws"
		return c.rule(hint+"-object", `"{" ws ( `+member+` ( "," ws `+member+` )* )? "}"`), nil
	}
	if extra != nil && !closed {
		return "", unsupported(path, "additionalProperties other than false beside properties")
	}
	for _, r := range required {
		if props.get(r) == nil {
			return "", invalid(path, "required property %q is not in properties", r)
		}
	}
	// Members in the schema's order, each required one present; rest(i, c)
	// is the members from i on, c saying whether a comma must come first.
	n := len(props.keys)
	members := make([]string, n)
	for i, k := range props.keys {
		v, err := c.schema(props.vals[i], hint+"-"+k, path+"/properties/"+k)
		if err != nil {
			return "", err
		}
		members[i] = literal(quoteJSON(k)) + " ws \":\" ws " + v + " ws"
	}
	names := map[[2]int]string{}
	var rest func(i, comma int) string
	rest = func(i, comma int) string {
		if i == n {
			return `""`
		}
		if name, ok := names[[2]int{i, comma}]; ok {
			return name
		}
		sep := ""
		if comma == 1 {
			sep = `"," ws `
		}
		body := sep + members[i] + " " + rest(i+1, 1)
		if !slices.Contains(required, props.keys[i]) {
			body += " | " + rest(i+1, comma)
		}
		name := c.rule(fmt.Sprintf("%s-from-%d-%d", hint, i, comma), body)
		names[[2]int{i, comma}] = name
		return name
	}
	return c.rule(hint+"-object", `"{" ws `+rest(0, 0)+` "}"`), nil
}
