package grammar

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

func TestSchemaAccepts(t *testing.T) {
	person := `{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"},"nick":{"type":"string"}},
		"required":["name","age"],"additionalProperties":false}`
	tests := []struct {
		name, schema, text string
		want               bool
	}{
		{"object", person, `{"name": "Al", "age": 3}`, true},
		{"object with optional", person, `{"name":"Al","age":3,"nick":"x"}`, true},
		{"object missing required", person, `{"name":"Al"}`, false},
		{"object out of order", person, `{"age":3,"name":"Al"}`, false},
		{"object extra", person, `{"name":"Al","age":3,"x":1}`, false},
		{"integer refuses a fraction", `{"type":"integer"}`, `1.5`, false},
		{"integer leading zero", `{"type":"integer"}`, `01`, false},
		{"number", `{"type":"number"}`, `-0.25e+10`, true},
		{"enum", `{"enum":["a",1,null,{"x":[true]}]}`, `{"x":[true]}`, true},
		{"enum other", `{"enum":["a",1]}`, `2`, false},
		{"const", `{"const":"q\"uote"}`, `"q\"uote"`, true},
		{"string escapes", `{"type":"string"}`, `"a\n\u00e9\\"`, true},
		{"string refuses a surrogate escape", `{"type":"string"}`, `"\ud800"`, false},
		{"string refuses a raw control", `{"type":"string"}`, "\"a\tb\"", false},
		{"maxLength", `{"type":"string","maxLength":2}`, `"abc"`, false},
		{"minLength", `{"type":"string","minLength":2,"maxLength":3}`, `"éé"`, true},
		{"array bounds", `{"type":"array","items":{"type":"integer"},"minItems":1,"maxItems":2}`, `[1, 2]`, true},
		{"array too long", `{"type":"array","items":{"type":"integer"},"maxItems":2}`, `[1,2,3]`, false},
		{"array empty below min", `{"type":"array","minItems":1}`, `[]`, false},
		{"pattern", `{"type":"string","pattern":"^[a-c]+-\\d{2}$"}`, `"abc-42"`, true},
		{"pattern refuses", `{"type":"string","pattern":"^[a-c]+-\\d{2}$"}`, `"abd-42"`, false},
		{"pattern quote", `{"type":"string","pattern":"^a\"b\\\\$"}`, `"a\"b\\"`, true},
		{"pattern bounded repetition of an optional part", `{"type":"string","pattern":"^(a?){2,3}b$"}`, `"ab"`, true},
		{"pattern unanchored", `{"type":"string","pattern":"x[0-9]"}`, `"abx1yz"`, true},
		{"pattern case-insensitive", `{"type":"string","pattern":"^(?i:ab)$"}`, `"aB"`, true},
		{"type list", `{"type":["integer","null"]}`, `null`, true},
		{"anyOf", `{"anyOf":[{"type":"boolean"},{"type":"array","maxItems":0}]}`, `[]`, true},
		{"ref recursion", `{"$ref":"#/$defs/t","$defs":{"t":{"type":"object","properties":{"k":{"$ref":"#/$defs/t"}}}}}`, `{"k":{"k":{}}}`, true},
		{"map", `{"type":"object","additionalProperties":{"type":"integer"}}`, `{"a":1,"b":2}`, true},
		{"map refuses a value", `{"type":"object","additionalProperties":{"type":"integer"}}`, `{"a":"x"}`, false},
		{"empty schema", `{}`, `[1,{"a":null}]`, true},
		{"true", `true`, `"x"`, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, err := FromSchema([]byte(tc.schema))
			if err != nil {
				t.Fatal(err)
			}
			m := NewMatcher(g)
			if got := m.Advance([]byte(tc.text)) && m.Accepting(); got != tc.want {
				t.Errorf("%s accepts %s: %v, want %v\n%s", tc.schema, tc.text, got, tc.want, g)
			}
		})
	}
}

func TestSchemaErrors(t *testing.T) {
	tests := []struct {
		name, schema string
		want         error
		msg          string
	}{
		{"multipleOf", `{"type":"integer","multipleOf":2}`, ErrUnsupported, `grammar: unsupported feature: keyword "multipleOf" at the schema's root`},
		{"number maximum", `{"type":"number","maximum":1}`, ErrUnsupported, `grammar: unsupported feature: maximum on a number (integers take any bounds, numbers only minimum 0) at the schema's root`},
		{"number minimum", `{"type":"number","minimum":1}`, ErrUnsupported, `grammar: unsupported feature: minimum 1 on a number (integers take any bounds, numbers only minimum 0) at the schema's root`},
		{"bound too large", `{"type":"integer","minimum":1e16}`, ErrSchema, `grammar: invalid schema: minimum must be a number of magnitude at most 1e+15 at the schema's root`},
		{"format", `{"type":"object","properties":{"d":{"type":"string","format":"date"}}}`, ErrUnsupported, `grammar: unsupported feature: keyword "format" at /properties/d`},
		{"allOf", `{"allOf":[{}]}`, ErrUnsupported, `grammar: unsupported feature: keyword "allOf" at the schema's root`},
		{"tuple", `{"type":"array","items":[{}]}`, ErrUnsupported, `grammar: unsupported feature: items as an array (tuples) at the schema's root`},
		{"remote ref", `{"$ref":"other.json"}`, ErrUnsupported, `grammar: unsupported feature: $ref "other.json" (only #, #/$defs/NAME and #/definitions/NAME) at the schema's root`},
		{"open object with properties", `{"properties":{"a":{}},"additionalProperties":true}`, ErrUnsupported, `grammar: unsupported feature: additionalProperties other than false beside properties at the schema's root`},
		{"lookahead", `{"type":"string","pattern":"^a(?=b)$"}`, ErrSchema, "grammar: invalid schema: pattern \"^a(?=b)$\": error parsing regexp: invalid or unsupported Perl syntax: `(?=` at the schema's root"},
		{"inner anchor", `{"type":"string","pattern":"^a$|^b$"}`, ErrUnsupported, `grammar: unsupported feature: pattern "^a$|^b$": anchors other than a leading ^ and a trailing $ at the schema's root`},
		{"nullable repetition", `{"type":"string","pattern":"^(a|b?)+$"}`, ErrUnsupported, `grammar: unsupported feature: pattern "^(a|b?)+$": an unbounded repetition of a part that can match the empty string, such as (a?)* at the schema's root`},
		{"pattern with length", `{"type":"string","pattern":"a","maxLength":3}`, ErrUnsupported, `grammar: unsupported feature: pattern together with minLength or maxLength at the schema's root`},
		{"missing required", `{"properties":{"a":{}},"required":["b"]}`, ErrSchema, `grammar: invalid schema: required property "b" is not in properties at the schema's root`},
		{"false", `{"properties":{"a":false}}`, ErrSchema, `grammar: invalid schema: the schema false accepts nothing at /properties/a`},
		{"unknown type", `{"type":"date"}`, ErrSchema, `grammar: invalid schema: unknown type "date" at the schema's root`},
		{"bad json", `{"type":`, ErrSchema, `grammar: invalid schema: unexpected EOF`},
		{"dangling ref", `{"$ref":"#/$defs/x"}`, ErrSchema, `grammar: invalid schema: $ref "#/$defs/x" names no definition at the schema's root`},
		{"bad bounds", `{"type":"string","minLength":3,"maxLength":2}`, ErrSchema, `grammar: invalid schema: maxLength 2 is below minLength 3 at the schema's root`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := FromSchema([]byte(tc.schema))
			if !errors.Is(err, tc.want) || err.Error() != tc.msg {
				t.Errorf("error %v, want %q wrapping %v", err, tc.msg, tc.want)
			}
		})
	}
}

// walkVocab is every byte as a token, some multi-byte tokens (a split
// UTF-8 sequence among them) and an end-of-generation token, last.
func walkVocab(t *testing.T) *Vocab {
	var pieces [][]byte
	for b := range 256 {
		pieces = append(pieces, []byte{byte(b)})
	}
	for _, s := range []string{`{"`, `":`, `", "`, "true", "é", "日本", "\xe6\x97", "null", `\u00`, "12"} {
		pieces = append(pieces, []byte(s))
	}
	pieces = append(pieces, nil)
	eog := make([]bool, len(pieces))
	eog[len(eog)-1] = true
	v, err := NewVocab(pieces, eog)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Random walks through the masks, drawing uniformly among the allowed
// tokens until the end-of-generation token, give JSON that validates.
func TestSchemaRandomWalks(t *testing.T) {
	schemas := []string{
		`{"type":"object","properties":{"s":{"type":"string","maxLength":5},"n":{"type":"number"},"i":{"type":"integer","minimum":-30,"maximum":4500},
		  "e":{"enum":["x","日本",3]},"b":{"type":"boolean"}},"required":["s","e"],"additionalProperties":false}`,
		`{"type":"array","items":{"type":"string","pattern":"^[a-f0-9]{2,4}(-[xyz])?$"},"minItems":1,"maxItems":3}`,
		`{"anyOf":[{"type":"null"},{"type":"object","properties":{"r":{"$ref":"#/$defs/p"}},"required":["r"]}],
		  "$defs":{"p":{"type":"array","items":{"type":"integer"},"maxItems":2}}}`,
	}
	v := walkVocab(t)
	eog := int32(v.Size() - 1)
	r := rand.New(rand.NewPCG(1, 2))
	for si, src := range schemas {
		g, err := FromSchema([]byte(src))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(strings.NewReader(src))
		if err != nil {
			t.Fatal(err)
		}
		comp := jsonschema.NewCompiler()
		url := fmt.Sprintf("mem://walk%d.json", si)
		if err := comp.AddResource(url, doc); err != nil {
			t.Fatal(err)
		}
		val, err := comp.Compile(url)
		if err != nil {
			t.Fatal(err)
		}
		for walk := range 300 {
			c := NewConstraint(g, v)
			var out []byte
			for step := 0; ; step++ {
				if step > 2000 {
					t.Fatalf("schema %d walk %d: no end after %q", si, walk, out)
				}
				var allowed []int32
				for id := range int32(v.Size()) {
					if c.Allows(id) {
						allowed = append(allowed, id)
					}
				}
				if len(allowed) == 0 {
					t.Fatalf("schema %d walk %d: dead end after %q", si, walk, out)
				}
				id := allowed[r.IntN(len(allowed))]
				// Lean towards the end so walks finish: strings and
				// numbers are long otherwise.
				if c.Allows(eog) && r.IntN(4) == 0 {
					id = eog
				}
				if err := c.Accept(id); err != nil {
					t.Fatal(err)
				}
				if id == eog {
					break
				}
				out = append(out, v.Piece(id)...)
			}
			inst, err := jsonschema.UnmarshalJSON(strings.NewReader(string(out)))
			if err != nil {
				t.Fatalf("schema %d walk %d: %q does not parse: %v", si, walk, out, err)
			}
			if err := val.Validate(inst); err != nil {
				t.Fatalf("schema %d walk %d: %q does not validate: %v", si, walk, out, err)
			}
		}
	}
}

// Random walks over real vocabularies, SPM with byte fallback and
// byte-level BPE, whose tokens hold several characters, parts of UTF-8
// sequences, and bytes JSON must escape, give JSON that validates.
func TestRealVocabWalks(t *testing.T) {
	src := `{"type":"object","properties":{"s":{"type":"string","maxLength":6},"t":{"type":"string","pattern":"^[à-ÿ]{2}x$"},
		"a":{"type":"array","items":{"type":"number"},"maxItems":2}},"required":["s","t","a"],"additionalProperties":false}`
	g, err := FromSchema([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	val := compileTestSchema(t, src)
	r := rand.New(rand.NewPCG(3, 4))
	for _, rel := range []string{"vocab/ggml-vocab-llama-spm.gguf", "vocab/ggml-vocab-gpt-2.gguf"} {
		v := modelVocab(t, rel)
		for walk := range 20 {
			c := NewConstraint(g, v)
			var out []byte
			for step := 0; ; step++ {
				if step > 500 {
					t.Fatalf("%s walk %d: no end after %q", rel, walk, out)
				}
				set := c.Allowed()
				var allowed, eog []int32
				for id := range int32(v.Size()) {
					if set[id/64]&(1<<(id%64)) != 0 {
						if v.IsEOG(id) {
							eog = append(eog, id)
						} else {
							allowed = append(allowed, id)
						}
					}
				}
				var id int32
				switch {
				case len(eog) > 0:
					id = eog[0]
				case len(allowed) == 0:
					t.Fatalf("%s walk %d: dead end after %q", rel, walk, out)
				default:
					id = allowed[r.IntN(len(allowed))]
				}
				if err := c.Accept(id); err != nil {
					t.Fatal(err)
				}
				if v.IsEOG(id) {
					break
				}
				out = append(out, v.Piece(id)...)
			}
			inst, err := jsonschema.UnmarshalJSON(strings.NewReader(string(out)))
			if err == nil {
				err = val.Validate(inst)
			}
			if err != nil {
				t.Fatalf("%s walk %d: %q: %v", rel, walk, out, err)
			}
		}
	}
}

func compileTestSchema(t *testing.T, src string) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	comp := jsonschema.NewCompiler()
	url := fmt.Sprintf("mem://%s.json", strings.ReplaceAll(t.Name(), "/", "-"))
	if err := comp.AddResource(url, doc); err != nil {
		t.Fatal(err)
	}
	val, err := comp.Compile(url)
	if err != nil {
		t.Fatal(err)
	}
	return val
}

func TestAcceptRejects(t *testing.T) {
	v := walkVocab(t)
	g, err := Parse(`root ::= "ab"`)
	if err != nil {
		t.Fatal(err)
	}
	c := NewConstraint(g, v)
	eog := int32(v.Size() - 1)
	for _, tc := range []struct {
		id  int32
		msg string
	}{
		{'b', `grammar: token not allowed: token 98 ("b")`},
		{eog, "grammar: token not allowed: end of generation before the output is complete"},
		{-1, "grammar: token not allowed: token -1 is outside the vocabulary"},
	} {
		if err := c.Accept(tc.id); !errors.Is(err, ErrRejected) || err.Error() != tc.msg {
			t.Errorf("Accept(%d) = %v, want %q", tc.id, err, tc.msg)
		}
	}
	if err := c.Accept('a'); err != nil {
		t.Fatal(err)
	}
	if got := allowedIDs(c); !slices.Equal(got, []int32{'b'}) || c.Done() {
		t.Errorf("after a: allowed %v, done %v", got, c.Done())
	}
	if err := c.Accept('b'); err != nil || !c.Done() || !slices.Equal(allowedIDs(c), []int32{eog}) {
		t.Errorf("after ab: err %v, done %v, allowed %v", err, c.Done(), allowedIDs(c))
	}
}

// allowedIDs lists the tokens c allows.
func allowedIDs(c *Constraint) []int32 {
	var ids []int32
	for id := range int32(c.t.v.Size()) {
		if c.Allows(id) {
			ids = append(ids, id)
		}
	}
	return ids
}
