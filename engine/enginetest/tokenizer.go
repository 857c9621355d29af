package enginetest

import (
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/model/gguf"
)

// Tokenizer is SentencePiece BPE over a GGUF vocabulary: a space prefix,
// spaces as U+2581, repeated merging of the best-scored adjacent pair, and
// byte tokens <0xXX> for what the vocabulary lacks. It implements
// engine.Tokenizer.
type Tokenizer struct {
	pieces   [][]byte // decoded bytes of each token
	scores   []float32
	ids      map[string]int32
	bos, eos int32
}

var _ engine.Tokenizer = (*Tokenizer)(nil)

func newTokenizer(f *gguf.File) (*Tokenizer, error) {
	tokens, err := gguf.ArrayOf[string](f, "tokenizer.ggml.tokens")
	if err != nil {
		return nil, err
	}
	scores, err := gguf.ArrayOf[float32](f, "tokenizer.ggml.scores")
	if err != nil {
		return nil, err
	}
	if len(scores) != len(tokens) {
		return nil, fmt.Errorf("enginetest: %d scores for %d tokens", len(scores), len(tokens))
	}
	bos, err := f.Uint("tokenizer.ggml.bos_token_id")
	if err != nil {
		return nil, err
	}
	eos, err := f.Uint("tokenizer.ggml.eos_token_id")
	if err != nil {
		return nil, err
	}
	t := &Tokenizer{scores: scores, ids: make(map[string]int32, len(tokens)), bos: int32(bos), eos: int32(eos)}
	for i, s := range tokens {
		t.ids[s] = int32(i)
		var b byte
		if n, _ := fmt.Sscanf(s, "<0x%02X>", &b); n == 1 && len(s) == 6 {
			t.pieces = append(t.pieces, []byte{b})
		} else {
			t.pieces = append(t.pieces, []byte(strings.ReplaceAll(s, "\u2581", " ")))
		}
	}
	return t, nil
}

// Encode implements engine.Tokenizer. Special-token text is not parsed.
func (t *Tokenizer) Encode(text string, addSpecial, _ bool) ([]int32, error) {
	var out []int32
	if addSpecial {
		out = append(out, t.bos)
	}
	if text == "" {
		return out, nil
	}
	text = "\u2581" + strings.ReplaceAll(text, " ", "\u2581")
	var syms []string
	for _, r := range text {
		syms = append(syms, string(r))
	}
	for {
		best, bestScore := -1, float32(math.Inf(-1))
		for i := 0; i+1 < len(syms); i++ {
			if id, ok := t.ids[syms[i]+syms[i+1]]; ok && t.scores[id] > bestScore {
				best, bestScore = i, t.scores[id]
			}
		}
		if best < 0 {
			break
		}
		syms[best] += syms[best+1]
		syms = append(syms[:best+1], syms[best+2:]...)
	}
	for _, s := range syms {
		if id, ok := t.ids[s]; ok {
			out = append(out, id)
			continue
		}
		for i := 0; i < len(s); i++ {
			id, ok := t.ids[fmt.Sprintf("<0x%02X>", s[i])]
			if !ok {
				return nil, fmt.Errorf("enginetest: no byte token for %#x", s[i])
			}
			out = append(out, id)
		}
	}
	return out, nil
}

// IsEOG implements engine.Tokenizer.
func (t *Tokenizer) IsEOG(id int32) bool { return id == t.eos }

// NewDecoder implements engine.Tokenizer.
func (t *Tokenizer) NewDecoder() engine.Decoder { return &decoder{t: t} }

// decoder holds back a trailing incomplete UTF-8 sequence.
type decoder struct {
	t   *Tokenizer
	buf []byte
}

func (d *decoder) Decode(id int32) string {
	if id < 0 || int(id) >= len(d.t.pieces) || id == d.t.bos || id == d.t.eos {
		return ""
	}
	d.buf = append(d.buf, d.t.pieces[id]...)
	n := len(d.buf)
	for k := 1; k <= 3 && k <= len(d.buf); k++ {
		if utf8.RuneStart(d.buf[len(d.buf)-k]) {
			if !utf8.FullRune(d.buf[len(d.buf)-k:]) {
				n = len(d.buf) - k
			}
			break
		}
	}
	out := string(d.buf[:n])
	d.buf = append(d.buf[:0], d.buf[n:]...)
	return out
}

func (d *decoder) Flush() string {
	out := string(d.buf)
	d.buf = d.buf[:0]
	return out
}
