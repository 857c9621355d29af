package tokenizer

import (
	"fmt"
	"strings"
)

// fragment is a piece of input: raw text still to tokenize, or a special
// token already recognised (id >= 0).
type fragment struct {
	text string
	id   int32
}

// Encode turns text into token ids. addSpecial adds the model's BOS/EOS
// (CLS/SEP for BERT) as its metadata says; parseSpecial also turns the text
// of control tokens (e.g. "<|im_start|>") into their ids. User-defined
// tokens are always recognised, as in llama.cpp.
func (t *Tokenizer) Encode(text string, addSpecial, parseSpecial bool) ([]int32, error) {
	var out []int32
	s := t.spec
	if addSpecial && s.AddBOS {
		if s.BOS < 0 {
			return nil, fmt.Errorf("%w: the model adds a BOS token but names none", ErrModel)
		}
		out = append(out, s.BOS)
	}
	frags := t.partition(text, parseSpecial)
	prevSpecial := true // SentencePiece puts a space before the first text
	for _, f := range frags {
		if f.id >= 0 {
			out = append(out, f.id)
			prevSpecial = true
			continue
		}
		switch s.Model {
		case ModelSPM:
			raw := f.text
			if s.AddSpacePrefix && prevSpecial {
				raw = " " + raw
			}
			out = t.encodeSPM(strings.ReplaceAll(raw, " ", "\u2581"), out)
		case ModelBPE:
			for _, word := range t.pre.split(f.text) {
				out = t.encodeBPE(byteEncode(word), out)
			}
		case ModelWPM:
			out = t.encodeWPM(f.text, out)
		}
		prevSpecial = false
	}
	if addSpecial && s.AddEOS {
		if s.EOS < 0 {
			return nil, fmt.Errorf("%w: the model adds an EOS token but names none", ErrModel)
		}
		out = append(out, s.EOS)
	}
	return out, nil
}

// partition splits special tokens out of text, longest first, as llama.cpp
// does: user-defined tokens always, control and unknown ones only when
// parseSpecial is set.
func (t *Tokenizer) partition(text string, parseSpecial bool) []fragment {
	if text == "" {
		return nil
	}
	frags := []fragment{{text: text, id: -1}}
	for _, id := range t.special {
		if tt := t.spec.Types[id]; !parseSpecial && tt != TypeUserDefined {
			continue
		}
		tok := t.spec.Tokens[id]
		var next []fragment
		for _, f := range frags {
			if f.id >= 0 || !strings.Contains(f.text, tok) {
				next = append(next, f)
				continue
			}
			rest := f.text
			for {
				i := strings.Index(rest, tok)
				if i < 0 {
					break
				}
				if i > 0 {
					next = append(next, fragment{text: rest[:i], id: -1})
				}
				next = append(next, fragment{id: id})
				rest = rest[i+len(tok):]
			}
			if rest != "" {
				next = append(next, fragment{text: rest, id: -1})
			}
		}
		frags = next
	}
	return frags
}
