package tokenizer

import "unicode/utf8"

// symbol is a run of bytes of the text being merged, linked to its
// neighbours; n == 0 marks a symbol merged into its left neighbour.
type symbol struct {
	start, n   int
	prev, next int
}

// splitChars returns one symbol per UTF-8 character of text, linked.
func splitChars(text string) []symbol {
	var syms []symbol
	for off := 0; off < len(text); {
		_, n := utf8.DecodeRuneInString(text[off:])
		syms = append(syms, symbol{start: off, n: n, prev: len(syms) - 1, next: len(syms) + 1})
		off += n
	}
	syms[len(syms)-1].next = -1
	return syms
}

// mergeRight merges symbol right into its left neighbour left.
func mergeRight(syms []symbol, left, right int) {
	l, r := &syms[left], &syms[right]
	l.n += r.n
	r.n = 0
	l.next = r.next
	if r.next >= 0 {
		syms[r.next].prev = left
	}
}
