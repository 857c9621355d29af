package grammar

import (
	"slices"
	"testing"

	"github.com/vkinfer/vkinfer/internal/archtest"
)

// modelVocab lays out a real model's vocabulary as the engine does.
func modelVocab(t testing.TB, rel string) *Vocab {
	t.Helper()
	tok := archtest.Tokenizer(t, rel)
	pieces := make([][]byte, tok.VocabSize())
	eog := make([]bool, tok.VocabSize())
	for id := range pieces {
		pieces[id] = tok.Piece(int32(id), false)
		eog[id] = tok.IsEOG(int32(id))
	}
	v, err := NewVocab(pieces, eog)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// The trie walk's set equals matching every token's bytes one by one,
// at every byte of sample texts (mid-sequence UTF-8 included), on SPM
// vocabularies with byte fallback (stories260K, llama-2-tiny-random) and
// a byte-level BPE one (GPT-2).
func TestMaskMatchesBruteForce(t *testing.T) {
	schema := `{"type":"object","properties":{"name":{"type":"string","maxLength":6},
		"tags":{"type":"array","items":{"enum":["a","bé"]},"maxItems":2},"n":{"type":"number"}},"required":["name"]}`
	sg, err := FromSchema([]byte(schema))
	if err != nil {
		t.Fatal(err)
	}
	lit, err := Parse(`root ::= "héllo" [0-9]+ | [^a-z]{2}`)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		g    *Grammar
		text string
	}{
		{"schema", sg, `{"name": "xé\"", "tags": ["bé"], "n": -1.5e3}`},
		{"json", JSON(), `[{"k": "日本"}, true, null]`},
		{"literal", lit, "héllo12"},
		{"negated class", lit, "€$"},
	}
	for _, rel := range []string{"llama/stories260K.gguf", "llama/llama-2-tiny-random.gguf", "vocab/ggml-vocab-gpt-2.gguf"} {
		v := modelVocab(t, rel)
		for _, tc := range cases {
			t.Run(rel+"/"+tc.name, func(t *testing.T) {
				c := NewConstraint(tc.g, v)
				for i := 0; i <= len(tc.text); i++ {
					if i > 0 && !c.m.Advance([]byte{tc.text[i-1]}) {
						t.Fatalf("sample text refused at byte %d", i-1)
					}
					set := c.Allowed()
					for id := range int32(v.Size()) {
						save := c.m.cur
						want := false
						switch p := v.Piece(id); {
						case v.IsEOG(id):
							want = c.m.Accepting()
						case len(p) > 0:
							want = c.m.Advance(p)
						}
						c.m.cur = save
						if got := set[id/64]&(1<<(id%64)) != 0; got != want || c.Allows(id) != want {
							t.Fatalf("after %q: token %d %q allowed %v, want %v", tc.text[:i], id, v.Piece(id), got, want)
						}
					}
				}
			})
		}
	}
}

func benchVocab(b *testing.B) *Vocab { return modelVocab(b, "llama/llama-2-tiny-random.gguf") }

// Constraints of one Tables, interleaved, each allow what a constraint
// of its own would, and a later generation over the same text computes
// no new mask.
func TestTablesShared(t *testing.T) {
	v := walkVocab(t)
	g, err := FromSchema([]byte(`{"type":"array","items":{"enum":["ab","ac",12]},"maxItems":3}`))
	if err != nil {
		t.Fatal(err)
	}
	tables := NewTables(g, v)
	texts := []string{`["ab", 12]`, `[12,"ac","ab"]`}
	shared := []*Constraint{tables.NewConstraint(), tables.NewConstraint()}
	own := []*Constraint{NewConstraint(g, v), NewConstraint(g, v)}
	for i := 0; i < len(texts[1]); i++ {
		for k, text := range texts {
			if i >= len(text) {
				continue
			}
			if got, want := allowedIDs(shared[k]), allowedIDs(own[k]); !slices.Equal(got, want) {
				t.Fatalf("text %d byte %d: shared tables allow %v, own %v", k, i, got, want)
			}
			for _, c := range []*Constraint{shared[k], own[k]} {
				if err := c.Accept(int32(text[i])); err != nil {
					t.Fatalf("text %d byte %d: %v", k, i, err)
				}
			}
		}
	}
	masks := len(tables.masks)
	again := tables.NewConstraint()
	for _, b := range []byte(texts[0]) {
		again.Allowed()
		if err := again.Accept(int32(b)); err != nil {
			t.Fatal(err)
		}
	}
	if len(tables.masks) != masks || tables.Full() {
		t.Errorf("a repeated generation computed %d new masks (full %v)", len(tables.masks)-masks, tables.Full())
	}
}
