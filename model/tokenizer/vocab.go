package tokenizer

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/vkinfer/vkinfer/gguf"
)

// Sentinel errors callers branch on.
var (
	// ErrModel: the tokenizer metadata is missing, inconsistent or of a
	// model this package does not implement.
	ErrModel = errors.New("tokenizer: bad tokenizer metadata")
	// ErrToken: an id outside the vocabulary.
	ErrToken = errors.New("tokenizer: token id out of range")
)

// TokenType is llama.cpp's token type, as stored in tokenizer.ggml.token_type.
type TokenType int32

// Token types.
const (
	TypeUndefined   TokenType = 0
	TypeNormal      TokenType = 1
	TypeUnknown     TokenType = 2
	TypeControl     TokenType = 3
	TypeUserDefined TokenType = 4
	TypeUnused      TokenType = 5
	TypeByte        TokenType = 6
)

// Model names, as in tokenizer.ggml.model.
const (
	ModelSPM = "llama"
	ModelBPE = "gpt2"
	ModelWPM = "bert"
)

// Spec is everything a Tokenizer is built from. FromGGUF fills it from
// metadata; tests and tools may fill it by hand (e.g. from a tokenizer's
// vocabulary and merges files).
type Spec struct {
	Model  string      // ModelSPM, ModelBPE or ModelWPM
	Pre    string      // pre-tokenizer name (BPE), e.g. "llama-bpe"
	Tokens []string    // token texts by id
	Scores []float32   // SPM merge scores by id (nil: all 0)
	Types  []TokenType // by id (nil: all normal)
	Merges []string    // BPE merges, "left right", highest priority first

	// Special token ids; -1 when the model has none.
	BOS, EOS, EOT, EOM, UNK, PAD, SEP, CLS, MASK int32
	// AddBOS and AddEOS say whether Encode with addSpecial adds them.
	AddBOS, AddEOS bool
	// AddSpacePrefix (SPM) puts a space before the text, as SentencePiece.
	AddSpacePrefix bool
}

// Tokenizer encodes and decodes text. It is immutable after construction
// and safe for concurrent use.
type Tokenizer struct {
	spec  Spec
	ids   map[string]int32
	ranks map[string]int // "left right" → merge rank
	eog   map[int32]bool
	// special are the ids split out of raw text before tokenization,
	// longest text first.
	special     []int32
	maxTokenLen int
	pre         *preTokenizer
	byteIDs     [256]int32
}

func defaultSpec(model string) Spec {
	s := Spec{Model: model, BOS: -1, EOS: -1, EOT: -1, EOM: -1, UNK: -1, PAD: -1, SEP: -1, CLS: -1, MASK: -1}
	switch model {
	case ModelSPM:
		s.BOS, s.EOS, s.UNK = 1, 2, 0
		s.AddBOS, s.AddSpacePrefix = true, true
	case ModelBPE:
		s.BOS, s.EOS = 11, 11
	case ModelWPM:
		s.BOS, s.EOS, s.UNK, s.SEP, s.PAD, s.CLS, s.MASK = 101, 102, 100, 102, 0, 101, 103
		s.AddBOS, s.AddEOS = true, true
	}
	return s
}

// FromGGUF builds the tokenizer described by f's tokenizer.ggml.* metadata.
func FromGGUF(f *gguf.File) (*Tokenizer, error) {
	model, err := f.String("tokenizer.ggml.model")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrModel, err)
	}
	s := defaultSpec(model)
	if s.Tokens, err = gguf.ArrayOf[string](f, "tokenizer.ggml.tokens"); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrModel, err)
	}
	if _, ok := f.Lookup("tokenizer.ggml.scores"); ok {
		if s.Scores, err = gguf.ArrayOf[float32](f, "tokenizer.ggml.scores"); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrModel, err)
		}
	}
	if _, ok := f.Lookup("tokenizer.ggml.token_type"); ok {
		types, err := gguf.ArrayOf[int32](f, "tokenizer.ggml.token_type")
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrModel, err)
		}
		s.Types = make([]TokenType, len(types))
		for i, t := range types {
			s.Types[i] = TokenType(t)
		}
	}
	if _, ok := f.Lookup("tokenizer.ggml.merges"); ok {
		if s.Merges, err = gguf.ArrayOf[string](f, "tokenizer.ggml.merges"); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrModel, err)
		}
	}
	if pre, err := f.String("tokenizer.ggml.pre"); err == nil {
		s.Pre = pre
	}
	for key, dst := range map[string]*int32{
		"bos_token_id": &s.BOS, "eos_token_id": &s.EOS, "eot_token_id": &s.EOT, "eom_token_id": &s.EOM,
		"unknown_token_id": &s.UNK, "padding_token_id": &s.PAD, "seperator_token_id": &s.SEP,
		"cls_token_id": &s.CLS, "mask_token_id": &s.MASK,
	} {
		v, ok := f.Lookup("tokenizer.ggml." + key)
		if !ok {
			continue
		}
		id, ok := v.Int()
		if !ok {
			return nil, fmt.Errorf("%w: tokenizer.ggml.%s is %s, want an integer", ErrModel, key, v.Type)
		}
		if id < 0 || id >= int64(len(s.Tokens)) {
			id = -1 // llama.cpp stores 0xFFFFFFFF for "none"
		}
		*dst = int32(id)
	}
	for key, dst := range map[string]*bool{"add_bos_token": &s.AddBOS, "add_eos_token": &s.AddEOS, "add_space_prefix": &s.AddSpacePrefix} {
		if b, err := f.Bool("tokenizer.ggml." + key); err == nil {
			*dst = b
		}
	}
	t, err := New(s)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name, err)
	}
	return t, nil
}

// eogTexts are end-of-turn markers llama.cpp treats as end of generation
// when a vocabulary has them as control tokens.
var eogTexts = []string{"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>", "<EOT>", "<|end_of_text|>", "<end_of_utterance>"}

// New builds a tokenizer from s.
func New(s Spec) (*Tokenizer, error) {
	n := len(s.Tokens)
	switch {
	case s.Model != ModelSPM && s.Model != ModelBPE && s.Model != ModelWPM:
		return nil, fmt.Errorf("%w: tokenizer model %q (want llama, gpt2 or bert)", ErrModel, s.Model)
	case n == 0:
		return nil, fmt.Errorf("%w: empty vocabulary", ErrModel)
	case s.Scores != nil && len(s.Scores) != n:
		return nil, fmt.Errorf("%w: %d scores for %d tokens", ErrModel, len(s.Scores), n)
	case s.Types != nil && len(s.Types) != n:
		return nil, fmt.Errorf("%w: %d token types for %d tokens", ErrModel, len(s.Types), n)
	case s.Model == ModelBPE && len(s.Merges) == 0:
		return nil, fmt.Errorf("%w: BPE vocabulary without merges", ErrModel)
	}
	if s.Types == nil {
		s.Types = make([]TokenType, n)
		for i := range s.Types {
			s.Types[i] = TypeNormal
		}
	}
	t := &Tokenizer{spec: s, ids: make(map[string]int32, n), eog: map[int32]bool{}}
	for i, text := range s.Tokens {
		t.ids[text] = int32(i) // a repeated text maps to its last id, as in llama.cpp
		t.maxTokenLen = max(t.maxTokenLen, len(text))
		if tt := s.Types[i]; tt == TypeControl || tt == TypeUserDefined || tt == TypeUnknown {
			if text != "" {
				t.special = append(t.special, int32(i))
			}
		}
	}
	slices.SortStableFunc(t.special, func(a, b int32) int { return len(s.Tokens[b]) - len(s.Tokens[a]) })
	for _, id := range []int32{s.EOS, s.EOT, s.EOM} {
		if id >= 0 {
			t.eog[id] = true
		}
	}
	for _, text := range eogTexts {
		if id, ok := t.ids[text]; ok && s.Types[id] == TypeControl {
			t.eog[id] = true
		}
	}
	for b := range 256 {
		t.byteIDs[b] = -1
		if id, ok := t.ids[fmt.Sprintf("<0x%02X>", b)]; ok {
			t.byteIDs[b] = id
		} else if id, ok := t.ids[string(rune(b))]; ok && b < 0x80 {
			t.byteIDs[b] = id
		}
	}
	if s.Model == ModelBPE {
		t.ranks = make(map[string]int, len(s.Merges))
		for r, m := range s.Merges {
			if i := strings.IndexByte(m[min(1, len(m)):], ' '); i < 0 {
				return nil, fmt.Errorf("%w: merge %d %q has no space", ErrModel, r, m)
			}
			if _, dup := t.ranks[m]; !dup {
				t.ranks[m] = r
			}
		}
		pre, err := newPreTokenizer(s.Pre)
		if err != nil {
			return nil, err
		}
		t.pre = pre
	}
	return t, nil
}

// Model returns the tokenizer model name (ModelSPM, ModelBPE or ModelWPM).
func (t *Tokenizer) Model() string { return t.spec.Model }

// VocabSize returns the number of tokens.
func (t *Tokenizer) VocabSize() int { return len(t.spec.Tokens) }

// BOS returns the beginning-of-sequence id (CLS for BERT), or -1.
func (t *Tokenizer) BOS() int32 { return t.spec.BOS }

// EOS returns the end-of-sequence id (SEP for BERT), or -1.
func (t *Tokenizer) EOS() int32 { return t.spec.EOS }

// Spec returns what the tokenizer was built from.
func (t *Tokenizer) Spec() Spec { return t.spec }

// IsEOG reports whether id ends generation (EOS, EOT, EOM and known
// end-of-turn control tokens).
func (t *Tokenizer) IsEOG(id int32) bool { return t.eog[id] }

// TokenText returns the stored text of id.
func (t *Tokenizer) TokenText(id int32) (string, error) {
	if id < 0 || int(id) >= len(t.spec.Tokens) {
		return "", fmt.Errorf("%w: %d of %d", ErrToken, id, len(t.spec.Tokens))
	}
	return t.spec.Tokens[id], nil
}

// TokenType returns the type of id.
func (t *Tokenizer) TokenType(id int32) TokenType {
	if id < 0 || int(id) >= len(t.spec.Types) {
		return TypeUndefined
	}
	return t.spec.Types[id]
}

// ID returns the id of a token text.
func (t *Tokenizer) ID(text string) (int32, bool) {
	id, ok := t.ids[text]
	return id, ok
}
