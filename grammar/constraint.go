package grammar

import (
	"errors"
	"fmt"
)

// ErrRejected is wrapped when a token the constraint does not allow is
// accepted.
var ErrRejected = errors.New("grammar: token not allowed")

// maxCachedMasks bounds a constraint's mask cache; past it the cache is
// dropped and refilled.
const maxCachedMasks = 256

// Constraint restricts a generation's tokens to those that keep the text
// a prefix of a sentence of its grammar. It implements
// sampling.Constraint: Allowed before each draw, Accept after it. Not
// safe for concurrent use.
type Constraint struct {
	m     *Matcher
	v     *Vocab
	cache map[int32][]uint64 // state id -> allowed-token bitset
}

// NewConstraint returns a constraint for one generation of g over v.
func NewConstraint(g *Grammar, v *Vocab) *Constraint {
	return &Constraint{m: NewMatcher(g), v: v, cache: map[int32][]uint64{}}
}

// Allowed returns the tokens that may come next as a bitset (token id is
// bit id%64 of word id/64): those whose bytes the grammar can consume,
// and the end-of-generation tokens when the output is complete. It
// implements sampling.Constraint; the set is cached per grammar state and
// must not be modified.
func (c *Constraint) Allowed() []uint64 {
	key := c.m.cur
	if set, ok := c.cache[key]; ok {
		return set
	}
	set := make([]uint64, (c.v.size+63)/64)
	c.walk(0, c.m.cur, set)
	if c.m.Accepting() {
		for _, id := range c.v.eog {
			set[id/64] |= 1 << (id % 64)
		}
	}
	if len(c.cache) >= maxCachedMasks {
		clear(c.cache)
	}
	c.cache[key] = set
	return set
}

// walk marks the tokens below trie node n that the matcher, in state s,
// can consume, pruning every subtree whose prefix it cannot.
func (c *Constraint) walk(n int32, s int32, set []uint64) {
	v, a := c.v, c.m.a
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
	if id < 0 || int(id) >= c.v.size {
		return false
	}
	return c.Allowed()[id/64]&(1<<(id%64)) != 0
}

// Accept advances past token id, which must be allowed.
func (c *Constraint) Accept(id int32) error {
	if id < 0 || int(id) >= c.v.size {
		return fmt.Errorf("%w: token %d is outside the vocabulary", ErrRejected, id)
	}
	if c.v.IsEOG(id) {
		if !c.m.Accepting() {
			return fmt.Errorf("%w: end of generation before the output is complete", ErrRejected)
		}
		return nil
	}
	p := c.v.pieces[id]
	if len(p) == 0 || !c.m.Advance(p) {
		return fmt.Errorf("%w: token %d (%q)", ErrRejected, id, p)
	}
	if c.m.compact() {
		clear(c.cache)
	}
	return nil
}

// Done reports whether the output is complete and nothing may extend it:
// only an end-of-generation token is still allowed.
func (c *Constraint) Done() bool { return c.m.Done() }
