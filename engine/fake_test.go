package engine

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/sampling"
)

// Fake tokenizer: id 1 is BOS, 2 is EOS, 3+b is byte b. "</s>" is parsed
// as EOS when parseSpecial is set.
const (
	bosID     = 1
	eosID     = 2
	byteBase  = 3
	vocabSize = byteBase + 256
)

type byteTokenizer struct{}

func (byteTokenizer) Encode(text string, addSpecial, parseSpecial bool) ([]int32, error) {
	var ids []int32
	if addSpecial {
		ids = append(ids, bosID)
	}
	for len(text) > 0 {
		if parseSpecial && strings.HasPrefix(text, "</s>") {
			ids = append(ids, eosID)
			text = text[4:]
			continue
		}
		ids = append(ids, byteBase+int32(text[0]))
		text = text[1:]
	}
	return ids, nil
}

func (byteTokenizer) NewDecoder() Decoder { return &byteDecoder{} }
func (byteTokenizer) IsEOG(id int32) bool { return id == eosID }
func tokensOf(s string) (ids []int32) {
	for i := 0; i < len(s); i++ {
		ids = append(ids, byteBase+int32(s[i]))
	}
	return ids
}

// byteDecoder holds back a trailing incomplete UTF-8 sequence.
type byteDecoder struct{ buf []byte }

func (d *byteDecoder) Decode(id int32) string {
	if id >= byteBase {
		d.buf = append(d.buf, byte(id-byteBase))
	}
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

func (d *byteDecoder) Flush() string {
	out := string(d.buf)
	d.buf = d.buf[:0]
	return out
}

// scriptSession is a deterministic model: after evaluating the token at
// position p, its logits pick next(p). It records every Eval call.
type scriptSession struct {
	ctxSize int
	next    func(pos int) int32
	evals   []evalCall
	last    int // position of the last evaluated token
	logits  []float32
	onEval  func(call int) error
	closed  bool
	soft    bool // give other tokens weight too, for random sampling
}

type evalCall struct {
	pos    int
	tokens []int32
}

func (s *scriptSession) Eval(tokens []int32, pos int) error {
	if s.onEval != nil {
		if err := s.onEval(len(s.evals)); err != nil {
			return err
		}
	}
	if pos+len(tokens) > s.ctxSize {
		return fmt.Errorf("eval %d tokens at %d: %w", len(tokens), pos, model.ErrContextFull)
	}
	s.evals = append(s.evals, evalCall{pos, append([]int32(nil), tokens...)})
	s.last = pos + len(tokens) - 1
	return nil
}

func (s *scriptSession) Logits() ([]float32, error) {
	if s.logits == nil {
		s.logits = make([]float32, vocabSize)
	}
	clear(s.logits)
	if s.soft {
		for i := range s.logits {
			s.logits[i] = -100
		}
		// Letters a-h are all plausible; the scripted token most.
		for b := 'a'; b <= 'h'; b++ {
			s.logits[byteBase+b] = 0.5
		}
	}
	s.logits[s.next(s.last)] = 1
	return s.logits, nil
}

func (s *scriptSession) Sample(smp *sampling.Sampler) (int32, error) {
	l, err := s.Logits()
	if err != nil {
		return 0, err
	}
	return smp.Sample(l), nil
}

func (s *scriptSession) ContextSize() int { return s.ctxSize }
func (s *scriptSession) Close() error     { s.closed = true; return nil }

// say returns a next function that produces text (then EOS) after a
// prompt of promptLen tokens.
func say(promptLen int, text string) func(int) int32 {
	ids := append(tokensOf(text), eosID)
	return func(pos int) int32 {
		i := pos - (promptLen - 1)
		if i < 0 || i >= len(ids) {
			return eosID
		}
		return ids[i]
	}
}
