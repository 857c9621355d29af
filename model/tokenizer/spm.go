package tokenizer

import "container/heap"

type spmBigram struct {
	left, right int
	score       float32
	size        int
}

// spmFirst ranks the highest score first, then the leftmost.
func spmFirst(a, b spmBigram) bool {
	return a.score > b.score || (a.score == b.score && a.left < b.left)
}

// encodeSPM tokenizes text (spaces already escaped to U+2581) the way
// SentencePiece BPE does: start from characters, repeatedly merge the
// adjacent pair whose merged text is the highest-scoring token, then emit
// each symbol's id, falling back to byte tokens.
func (t *Tokenizer) encodeSPM(text string, out []int32) []int32 {
	if text == "" {
		return out
	}
	syms := splitChars(text)

	q := &queue[spmBigram]{less: spmFirst}
	try := func(left, right int) {
		if left < 0 || right < 0 {
			return
		}
		s := text[syms[left].start : syms[left].start+syms[left].n+syms[right].n]
		id, ok := t.ids[s]
		if !ok {
			return
		}
		var score float32
		if t.spec.Scores != nil {
			score = t.spec.Scores[id]
		}
		heap.Push(q, spmBigram{left: left, right: right, score: score, size: len(s)})
	}
	for i := 1; i < len(syms); i++ {
		try(i-1, i)
	}
	for q.Len() > 0 {
		b := heap.Pop(q).(spmBigram)
		l, r := &syms[b.left], &syms[b.right]
		if l.n == 0 || r.n == 0 || l.n+r.n != b.size {
			continue // outdated: one side was merged since
		}
		mergeRight(syms, b.left, b.right)
		try(l.prev, b.left)
		try(b.left, l.next)
	}
	// Every merged symbol is a token (merges only form tokens); a single
	// character that is not one falls back to its bytes.
	for i := 0; i >= 0; i = syms[i].next {
		s := text[syms[i].start : syms[i].start+syms[i].n]
		if id, ok := t.ids[s]; ok {
			out = append(out, id)
			continue
		}
		for j := 0; j < len(s); j++ {
			if id := t.byteIDs[s[j]]; id >= 0 {
				out = append(out, id)
			} else if t.spec.UNK >= 0 {
				out = append(out, t.spec.UNK)
			}
		}
	}
	return out
}
