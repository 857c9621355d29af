package tokenizer

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// encodeWPM tokenizes text as BERT's WordPiece does in llama.cpp: NFD,
// accents dropped, lower case, split on whitespace and around punctuation,
// ASCII symbols and CJK ideographs; then each word, with the phantom-space
// prefix U+2581 the GGUF vocabulary stores word starts with, is matched
// greedily longest-first. A word with any part unmatched becomes UNK.
func (t *Tokenizer) encodeWPM(text string, out []int32) []int32 {
	for _, word := range wpmWords(text) {
		w := "\u2581" + word
		start := len(out)
		for i := 0; i < len(w); {
			matched := false
			for j := min(len(w), i+t.maxTokenLen+1); j > i; j-- {
				if id, ok := t.ids[w[i:j]]; ok {
					out = append(out, id)
					i, matched = j, true
					break
				}
			}
			if !matched {
				out = out[:start]
				break
			}
		}
		if len(out) == start && t.spec.UNK >= 0 {
			out = append(out, t.spec.UNK)
		}
	}
	return out
}

// wpmWords is BERT's basic tokenization.
func wpmWords(text string) []string {
	var words []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			words = append(words, cur.String())
			cur.Reset()
		}
	}
	for _, r := range norm.NFD.String(text) {
		switch {
		case unicode.IsSpace(r):
			flush()
		case r == 0 || r == unicode.ReplacementChar || unicode.IsControl(r) || unicode.Is(unicode.C, r) || unicode.Is(unicode.Mn, r):
			// dropped: controls, and the accents NFD split off
		case unicode.IsPunct(r) || (r < 0x7f && unicode.IsSymbol(r)) || isCJK(r):
			flush()
			words = append(words, string(unicode.ToLower(r)))
		default:
			cur.WriteRune(unicode.ToLower(r))
		}
	}
	flush()
	return words
}

// isCJK reports the CJK ideograph blocks BERT splits into single words.
func isCJK(r rune) bool {
	return (r >= 0x4E00 && r <= 0x9FFF) || (r >= 0x3400 && r <= 0x4DBF) || (r >= 0x20000 && r <= 0x2A6DF) ||
		(r >= 0x2A700 && r <= 0x2B73F) || (r >= 0x2B740 && r <= 0x2B81F) || (r >= 0x2B920 && r <= 0x2CEAF) ||
		(r >= 0xF900 && r <= 0xFAFF) || (r >= 0x2F800 && r <= 0x2FA1F)
}
