package grammar

import (
	"bytes"
	"fmt"
	"slices"
)

// Vocab is a model vocabulary laid out for masking: a trie of every
// token's decoded bytes, and the end-of-generation tokens. It is
// immutable and shared by the constraints of one model.
type Vocab struct {
	size   int
	pieces [][]byte
	eog    []int32
	nodes  []trieNode
	edges  []trieEdge
	tokens []int32 // token ids by node, in each node's range
}

type trieNode struct {
	edge0, nedges int32 // children in edges
	tok0, ntoks   int32 // tokens whose bytes end here
}

type trieEdge struct {
	b     byte
	child int32
}

// NewVocab builds the trie. pieces[id] is what token id adds to the
// generated text (the tokenizer's decode of that one token: SentencePiece
// spaces restored, byte-fallback tokens as their byte, byte-level BPE
// mapped back to bytes); eog[id] marks tokens that end generation. Tokens
// with no bytes that are not EOG (BOS, other control tokens) are never
// allowed under a constraint.
func NewVocab(pieces [][]byte, eog []bool) (*Vocab, error) {
	if len(eog) != len(pieces) {
		return nil, fmt.Errorf("grammar: %d pieces but %d end-of-generation flags", len(pieces), len(eog))
	}
	v := &Vocab{size: len(pieces), pieces: pieces}
	var ids []int32
	for id, p := range pieces {
		switch {
		case eog[id]:
			v.eog = append(v.eog, int32(id))
		case len(p) > 0:
			ids = append(ids, int32(id))
		}
	}
	slices.SortFunc(ids, func(a, b int32) int { return bytes.Compare(pieces[a], pieces[b]) })
	v.nodes = append(v.nodes, trieNode{})
	v.build(0, ids, 0)
	return v, nil
}

// build fills node n from ids, sorted and all sharing their first depth
// bytes.
func (v *Vocab) build(n int32, ids []int32, depth int) {
	i := 0
	for i < len(ids) && len(v.pieces[ids[i]]) == depth {
		i++
	}
	v.nodes[n].tok0, v.nodes[n].ntoks = int32(len(v.tokens)), int32(i)
	v.tokens = append(v.tokens, ids[:i]...)
	ids = ids[i:]
	// Children first, so that each node's edges are contiguous.
	type group struct {
		b        byte
		from, to int
	}
	var groups []group
	for j := 0; j < len(ids); {
		b := v.pieces[ids[j]][depth]
		k := j
		for k < len(ids) && v.pieces[ids[k]][depth] == b {
			k++
		}
		groups = append(groups, group{b, j, k})
		j = k
	}
	v.nodes[n].edge0, v.nodes[n].nedges = int32(len(v.edges)), int32(len(groups))
	first := len(v.edges)
	for _, g := range groups {
		v.edges = append(v.edges, trieEdge{b: g.b, child: int32(len(v.nodes))})
		v.nodes = append(v.nodes, trieNode{})
	}
	for i, g := range groups {
		v.build(v.edges[first+i].child, ids[g.from:g.to], depth+1)
	}
}

// Size returns the number of token ids.
func (v *Vocab) Size() int { return v.size }

// Piece returns token id's bytes.
func (v *Vocab) Piece(id int32) []byte { return v.pieces[id] }

// IsEOG reports whether id ends generation.
func (v *Vocab) IsEOG(id int32) bool { return slices.Contains(v.eog, id) }
