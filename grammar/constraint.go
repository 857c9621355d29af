package grammar

import (
	"errors"
	"fmt"
)

// ErrRejected is wrapped when a token the constraint does not allow is
// accepted.
var ErrRejected = errors.New("grammar: token not allowed")

// maxCachedMasks bounds the masks Tables keep; past it they are dropped
// and refilled.
const maxCachedMasks = 1024

// Tables are what the constraints of one grammar over one vocabulary
// share: the grammar's states, determinised as they are first walked,
// and each state's allowed tokens. A constraint made from Tables that
// earlier generations used finds most of its masks computed. Not safe for
// concurrent use: the constraints of one Tables run on one goroutine.
type Tables struct {
	a     *arena
	v     *Vocab
	start int32
	masks map[int32][]uint64 // state id -> allowed-token bitset
}

// NewTables returns empty tables for g over v.
func NewTables(g *Grammar, v *Vocab) *Tables {
	a := newArena(g)
	return &Tables{a: a, v: v, start: a.intern(state{tops: a.start()}), masks: map[int32][]uint64{}}
}

// Full reports whether the tables have grown past what a constraint
// keeps (see compact): new constraints would each move to tables of their
// own at their first token, so the holder should start new tables.
func (t *Tables) Full() bool { return len(t.a.nodes) >= maxNodes || len(t.a.states) >= maxStates }

// NewConstraint returns a constraint for one generation, at the start of
// the grammar.
func (t *Tables) NewConstraint() *Constraint {
	return &Constraint{m: &Matcher{a: t.a, cur: t.start}, t: t}
}

// Constraint restricts a generation's tokens to those that keep the text
// a prefix of a sentence of its grammar. It implements
// sampling.Constraint: Allowed before each draw, Accept after it. Not
// safe for concurrent use.
type Constraint struct {
	m *Matcher
	t *Tables
}

// NewConstraint returns a constraint for one generation of g over v, with
// tables of its own.
func NewConstraint(g *Grammar, v *Vocab) *Constraint { return NewTables(g, v).NewConstraint() }

// Allowed returns the tokens that may come next as a bitset (token id is
// bit id%64 of word id/64): those whose bytes the grammar can consume,
// and the end-of-generation tokens when the output is complete. It
// implements sampling.Constraint; the set is cached per grammar state and
// must not be modified.
func (c *Constraint) Allowed() []uint64 {
	t, key := c.t, c.m.cur
	if set, ok := t.masks[key]; ok {
		return set
	}
	set := make([]uint64, (t.v.size+63)/64)
	c.walk(0, key, set)
	if c.m.Accepting() {
		for _, id := range t.v.eog {
			set[id/64] |= 1 << (id % 64)
		}
	}
	if len(t.masks) >= maxCachedMasks {
		clear(t.masks)
	}
	t.masks[key] = set
	return set
}

// walk marks the tokens below trie node n that the matcher, in state s,
// can consume, pruning every subtree whose prefix it cannot.
func (c *Constraint) walk(n int32, s int32, set []uint64) {
	v, a := c.t.v, c.m.a
	nd := v.nodes[n]
	for _, e := range v.edges[nd.edge0 : nd.edge0+nd.nedges] {
		ns := a.next(s, e.b)
		if ns == dead {
			continue
		}
		ch := v.nodes[e.child]
		for _, id := range v.tokens[ch.tok0 : ch.tok0+ch.ntoks] {
			set[id/64] |= 1 << (id % 64)
		}
		c.walk(e.child, ns, set)
	}
}

// Allows reports whether id may come next.
func (c *Constraint) Allows(id int32) bool {
	if id < 0 || int(id) >= c.t.v.size {
		return false
	}
	return c.Allowed()[id/64]&(1<<(id%64)) != 0
}

// Accept advances past token id, which must be allowed.
func (c *Constraint) Accept(id int32) error {
	if id < 0 || int(id) >= c.t.v.size {
		return fmt.Errorf("%w: token %d is outside the vocabulary", ErrRejected, id)
	}
	if c.t.v.IsEOG(id) {
		if !c.m.Accepting() {
			return fmt.Errorf("%w: end of generation before the output is complete", ErrRejected)
		}
		return nil
	}
	p := c.t.v.pieces[id]
	if len(p) == 0 || !c.m.Advance(p) {
		return fmt.Errorf("%w: token %d (%q)", ErrRejected, id, p)
	}
	if c.m.compact() {
		// The matcher moved to an arena of its own; the shared tables
		// stay with the other constraints.
		c.t = &Tables{a: c.m.a, v: c.t.v, masks: map[int32][]uint64{}}
	}
	return nil
}

// Done reports whether the output is complete and nothing may extend it:
// only an end-of-generation token is still allowed.
func (c *Constraint) Done() bool { return c.m.Done() }
