package tokenizer

import "container/heap"

type bpeBigram struct {
	left, right int
	rank        int
	text        string
}

// bpeFirst ranks the lowest merge rank first, then the leftmost.
func bpeFirst(a, b bpeBigram) bool {
	return a.rank < b.rank || (a.rank == b.rank && a.left < b.left)
}

// encodeBPE merges one pre-tokenized, byte-encoded piece by merge rank and
// appends its ids.
func (t *Tokenizer) encodeBPE(word string, out []int32) []int32 {
	if word == "" {
		return out
	}
	if t.pre.ignoreMerges {
		if id, ok := t.ids[word]; ok {
			return append(out, id)
		}
	}
	syms := splitChars(word)
	text := func(i int) string { return word[syms[i].start : syms[i].start+syms[i].n] }

	q := &queue[bpeBigram]{less: bpeFirst}
	add := func(left, right int) {
		if left < 0 || right < 0 {
			return
		}
		l, r := text(left), text(right)
		rank, ok := t.ranks[l+" "+r]
		if !ok {
			return
		}
		heap.Push(q, bpeBigram{left: left, right: right, rank: rank, text: l + r})
	}
	for i := 1; i < len(syms); i++ {
		add(i-1, i)
	}
	for q.Len() > 0 {
		b := heap.Pop(q).(bpeBigram)
		l, r := &syms[b.left], &syms[b.right]
		if l.n == 0 || r.n == 0 || text(b.left)+text(b.right) != b.text {
			continue // outdated
		}
		mergeRight(syms, b.left, b.right)
		add(l.prev, b.left)
		add(b.left, l.next)
	}
	for i := 0; i >= 0; i = syms[i].next {
		s := text(i)
		if id, ok := t.ids[s]; ok {
			out = append(out, id)
			continue
		}
		// Not a token: emit whatever single bytes of it are tokens, as
		// llama.cpp does.
		for j := 0; j < len(s); j++ {
			if id, ok := t.ids[s[j:j+1]]; ok {
				out = append(out, id)
			}
		}
	}
	return out
}
