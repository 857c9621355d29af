package engine_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/engine/enginetest"
	"github.com/vkinfer/vkinfer/grammar"
	"github.com/vkinfer/vkinfer/internal/testmodels"
	"github.com/vkinfer/vkinfer/sampling"
)

// constrainedSchemas cover objects (required, optional, closed), arrays
// with bounds, enums, const, numbers, integers (bounded), booleans, null, strings
// with patterns and lengths, anyOf, $ref and nesting. Every string and
// array is bounded: a random-weight model picks among thousands of
// allowed tokens, and would almost never pick the one closing an
// unbounded string.
var constrainedSchemas = []string{
	`{"type":"object","properties":{"name":{"type":"string","maxLength":8},"age":{"type":"integer","minimum":0,"maximum":120},
	  "ok":{"type":"boolean"},"color":{"enum":["red","green","blue"]}},
	  "required":["name","age","color"],"additionalProperties":false}`,
	`{"type":"array","items":{"type":"number"},"minItems":1,"maxItems":4}`,
	`{"type":"object","properties":{"id":{"type":"string","pattern":"^[A-Z]{2}-[0-9]{3}$"},
	  "code":{"type":"string","pattern":"^(ab|c\\.d){1,3}x?$"},"word":{"type":"string","pattern":"^\\w{1,4}( \\d)?$"}},
	  "required":["id","code","word"]}`,
	`{"type":"object","properties":{"user":{"$ref":"#/$defs/user"},
	  "tags":{"type":"array","items":{"type":"string","minLength":1,"maxLength":5},"maxItems":3}},
	  "required":["user","tags"],"additionalProperties":false,
	  "$defs":{"user":{"type":"object","properties":{"id":{"type":"integer"},
	    "email":{"type":"string","pattern":"^[a-z]{1,6}@[a-z]{1,6}\\.com$"}},"required":["id","email"],"additionalProperties":false}}}`,
	`{"anyOf":[{"type":"null"},{"const":{"k":[1,2],"s":"a\"b"}},{"type":"string","minLength":2,"maxLength":4}]}`,
	`{"type":"object","properties":{"a":{"type":"integer","exclusiveMinimum":-5},"b":{"type":"number","minimum":0},"c":{"type":["boolean","null"]}}}`,
	`{"type":"array","minItems":2,"maxItems":3,"items":{"type":"object","properties":{
	  "kind":{"const":"point"},"xy":{"type":"array","items":{"type":"integer"},"minItems":2,"maxItems":2}},
	  "required":["kind","xy"],"additionalProperties":false}}`,
}

func compileSchema(t testing.TB, i int, src string) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	url := fmt.Sprintf("mem://schema%d.json", i)
	if err := c.AddResource(url, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(url)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// checkJSON fails unless text parses and validates against s.
func checkJSON(t testing.TB, s *jsonschema.Schema, text, what string) {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(text))
	if err != nil {
		t.Fatalf("%s: output %q does not parse: %v", what, text, err)
	}
	if err := s.Validate(inst); err != nil {
		t.Fatalf("%s: output %q does not validate: %v", what, text, err)
	}
}

// Every seeded, tempered generation under a schema parses, validates and
// ends because the output is complete: 100 per model, 200 in all.
func TestSchemaConstrainedGeneration(t *testing.T) {
	const perModel = 100
	validators := make([]*jsonschema.Schema, len(constrainedSchemas))
	for i, s := range constrainedSchemas {
		validators[i] = compileSchema(t, i, s)
	}
	for _, rel := range []string{"llama/stories260K.gguf", "llama/llama-2-tiny-random.gguf"} {
		t.Run(rel, func(t *testing.T) {
			m, err := enginetest.Load(testmodels.Model(t, rel))
			if err != nil {
				t.Fatal(err)
			}
			e := engine.New(m.NewSession(512), m.Tokenizer(), engine.Options{})
			for seed := range perModel {
				i := seed % len(constrainedSchemas)
				p := sampling.Defaults()
				p.Temperature, p.Seed = 1, uint64(seed)
				req := engine.Request{Prompt: "Once upon a time", Params: p, MaxTokens: 400, Format: constrainedSchemas[i]}
				chunks, res, err := collect(t, e, req)
				if err != nil {
					t.Fatalf("seed %d schema %d: %v", seed, i, err)
				}
				text, _ := joined(chunks)
				what := fmt.Sprintf("seed %d schema %d (%s)", seed, i, res.StopReason)
				if res.StopReason != engine.StopEOG {
					t.Fatalf("%s: stopped before the output was complete: %q", what, text)
				}
				checkJSON(t, validators[i], text, what)
			}
		})
	}
}

// A GBNF grammar constrains greedy decoding too, and logprobs come with
// every token: the drawn token's equals the first alternative's (greedy
// draws the most likely), alternatives are in descending order, and their
// probabilities sum to at most 1.
func TestGrammarWithLogprobs(t *testing.T) {
	m := stories(t)
	e := engine.New(m.NewSession(256), m.Tokenizer(), engine.Options{})
	req := engine.Request{Prompt: "Once upon a time", Params: sampling.Greedy(), MaxTokens: 60,
		Grammar: `root ::= "Tom" (" " word){2,5} "."` + "\nword ::= [a-z]{1,8}", Logprobs: true, TopLogprobs: 5}
	chunks, res, err := collect(t, e, req)
	if err != nil {
		t.Fatal(err)
	}
	text, ids := joined(chunks)
	g, err := grammar.Parse(req.Grammar)
	if err != nil {
		t.Fatal(err)
	}
	if mt := grammar.NewMatcher(g); !mt.Advance([]byte(text)) || !mt.Accepting() {
		t.Fatalf("output %q is not a sentence of the grammar", text)
	}
	if res.StopReason != engine.StopEOG {
		t.Errorf("stop reason %s, want eog", res.StopReason)
	}
	var lps []engine.TokenLogprob
	for _, c := range chunks {
		if len(c.Logprobs) != len(c.Tokens) {
			t.Fatalf("chunk has %d tokens and %d logprobs", len(c.Tokens), len(c.Logprobs))
		}
		lps = append(lps, c.Logprobs...)
	}
	for i, lp := range lps {
		if lp.ID != ids[i] || len(lp.Top) == 0 || len(lp.Top) > 5 || lp.Top[0] != lp.TopLogprob {
			t.Fatalf("token %d: logprob %+v for id %d", i, lp, ids[i])
		}
		var mass float64
		for j, a := range lp.Top {
			mass += math.Exp(float64(a.Logprob))
			if j > 0 && a.Logprob > lp.Top[j-1].Logprob {
				t.Fatalf("token %d: alternatives out of order: %+v", i, lp.Top)
			}
		}
		if lp.Logprob > 0 || mass > 1+1e-5 {
			t.Fatalf("token %d: logprob %v, top mass %v", i, lp.Logprob, mass)
		}
	}
}

func TestConstraintErrors(t *testing.T) {
	m := stories(t)
	e := engine.New(m.NewSession(64), m.Tokenizer(), engine.Options{})
	tests := []struct {
		name string
		req  engine.Request
		msg  string
	}{
		{"unsupported keyword", engine.Request{Format: `{"type":"integer","multipleOf":3}`},
			`engine: invalid request: grammar: unsupported feature: keyword "multipleOf" at the schema's root`},
		{"oneOf", engine.Request{Format: `{"type":"object","properties":{"a":{"oneOf":[{"type":"null"}]}}}`},
			`engine: invalid request: grammar: unsupported feature: keyword "oneOf" at /properties/a`},
		{"bad pattern", engine.Request{Format: `{"type":"string","pattern":"^a\\bb$"}`},
			`engine: invalid request: grammar: unsupported feature: pattern "^a\\bb$": word boundaries at the schema's root`},
		{"grammar syntax", engine.Request{Grammar: `root ::= "a`},
			"engine: invalid request: grammar: syntax error: line 1: unterminated string"},
		{"both", engine.Request{Grammar: `root ::= "a"`, Format: "json"},
			"engine: invalid request: format and grammar are exclusive"},
		{"top_logprobs", engine.Request{Logprobs: true, TopLogprobs: 21},
			"engine: invalid request: top_logprobs 21 must be in [0, 20]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Prompt, tc.req.Params = "Hi", sampling.Greedy()
			_, _, err := collect(t, e, tc.req)
			if !errors.Is(err, engine.ErrInvalid) || err.Error() != tc.msg {
				t.Errorf("error %v, want %q wrapping ErrInvalid", err, tc.msg)
			}
		})
	}
}

// json.Valid is enough for the "json" format: any JSON value.
func TestFormatJSON(t *testing.T) {
	m := stories(t)
	e := engine.New(m.NewSession(512), m.Tokenizer(), engine.Options{})
	p := sampling.Greedy()
	chunks, res, err := collect(t, e, engine.Request{Prompt: "Once upon a time", Params: p, MaxTokens: 300, Format: "json"})
	if err != nil {
		t.Fatal(err)
	}
	text, _ := joined(chunks)
	if res.StopReason == engine.StopEOG && !json.Valid([]byte(text)) {
		t.Fatalf("complete output %q is not JSON", text)
	}
	g := grammar.JSON()
	if mt := grammar.NewMatcher(g); !mt.Advance([]byte(text)) {
		t.Fatalf("output %q is not a JSON prefix", text)
	}
}
