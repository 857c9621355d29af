package grammar

import (
	"slices"
	"unicode/utf8"
)

// complete is the empty stack: everything root asked for has matched.
const complete = -1

// node is one entry of a parse stack: the grammar position to match next,
// and the stack beneath it (complete at the bottom).
type node struct{ pos, next int32 }

// arena hash-conses stack nodes, so equal stacks have one id, memoises
// what consuming a code point does to each stack top, and interns whole
// states with their byte transitions: the grammar determinised lazily, so
// that walking the trie through states seen before is table lookups.
type arena struct {
	g      *Grammar
	nodes  []node
	index  map[node]int32
	memo   map[uint64][]int32 // (top, code point) -> sorted tops after it
	out    []int32            // expand's scratch
	states []dstate
	ids    map[string]int32 // state key -> index in states
	budget int              // expansions left for the current code point
}

// Transitions not taken yet, and ones that fail.
const (
	unknown = -2
	dead    = -1
)

// dstate is an interned state and its byte transitions, filled in as
// they are first taken.
type dstate struct {
	state
	next *[256]int32
}

func newArena(g *Grammar) *arena {
	return &arena{g: g, index: map[node]int32{}, memo: map[uint64][]int32{}, ids: map[string]int32{}, budget: maxExpansions}
}

// intern returns the id of state s.
func (a *arena) intern(s state) int32 {
	k := s.key()
	if id, ok := a.ids[k]; ok {
		return id
	}
	id := int32(len(a.states))
	a.states = append(a.states, dstate{state: s})
	a.ids[k] = id
	return id
}

// next returns the state after state id consumes b, or dead.
func (a *arena) next(id int32, b byte) int32 {
	tab := a.states[id].next
	if tab == nil {
		tab = new([256]int32)
		for i := range tab {
			tab[i] = unknown
		}
		a.states[id].next = tab
	}
	if n := tab[b]; n != unknown {
		return n
	}
	n := int32(dead)
	if s, ok := a.byteStep(a.states[id].state, b); ok {
		n = a.intern(s)
	}
	tab[b] = n
	return n
}

func (a *arena) push(pos, next int32) int32 {
	n := node{pos, next}
	if id, ok := a.index[n]; ok {
		return id
	}
	id := int32(len(a.nodes))
	a.nodes = append(a.nodes, n)
	a.index[n] = id
	return id
}

// expand adds to a.out the tops that stack id reaches without consuming
// anything: stacks whose top is a character element, or complete.
func (a *arena) expand(id int32) {
	for {
		if a.budget--; a.budget < 0 {
			return
		}
		if id == complete {
			a.out = append(a.out, complete)
			return
		}
		n := a.nodes[id]
		e := &a.g.elems[n.pos]
		switch e.kind {
		case kChar:
			a.out = append(a.out, id)
			return
		case kEnd:
			id = n.next
			continue
		}
		// A rule: its alternatives over the continuation, which is left
		// out when the rule ends the alternative (a tail call keeps
		// right recursion from growing the stack).
		cont := n.next
		if a.g.elems[n.pos+1].kind != kEnd {
			cont = a.push(n.pos+1, n.next)
		}
		for _, alt := range a.g.alts[e.rule] {
			a.expand(a.push(alt, cont))
		}
		return
	}
}

// sortedSet sorts and deduplicates a.out and returns a copy.
func (a *arena) sortedSet() []int32 {
	slices.Sort(a.out)
	s := slices.Clone(slices.Compact(a.out))
	a.out = a.out[:0]
	return s
}

// start returns the tops of the empty text.
func (a *arena) start() []int32 {
	for _, alt := range a.g.alts[a.g.root] {
		a.expand(a.push(alt, complete))
	}
	return a.sortedSet()
}

// step returns the tops after top consumes r (none when it cannot).
func (a *arena) step(top int32, r rune) []int32 {
	key := uint64(uint32(top))<<32 | uint64(uint32(r))
	if s, ok := a.memo[key]; ok {
		return s
	}
	n := a.nodes[top]
	var s []int32
	if a.g.elems[n.pos].matches(r) {
		a.expand(a.push(n.pos+1, n.next))
		if a.budget < 0 {
			a.out = a.out[:0]
			return nil // cut short: not memoised
		}
		s = a.sortedSet()
	}
	a.memo[key] = s
	return s
}

// advance returns the tops after tops consume r, sorted; nil when none
// can. The result may be a memoised slice: callers must not modify it.
func (a *arena) advance(tops []int32, r rune) []int32 {
	a.budget = maxExpansions
	defer func() { a.budget = maxExpansions }()
	var one []int32
	var merged []int32
	for _, t := range tops {
		if t == complete {
			continue
		}
		s := a.step(t, r)
		switch {
		case len(s) == 0:
		case one == nil && merged == nil:
			one = s
		case merged == nil:
			merged = append(slices.Clone(one), s...)
		default:
			merged = append(merged, s...)
		}
		if len(merged) > maxExpansions {
			return nil
		}
	}
	if a.budget < 0 {
		return nil
	}
	if merged == nil {
		return one
	}
	slices.Sort(merged)
	if merged = slices.Compact(merged); len(merged) > maxTops {
		return nil
	}
	return merged
}

// A grammar ambiguous enough to keep more than maxTops parse stacks open,
// or to need more than maxExpansions rule expansions (or stacks before
// deduplication) for one code point, would cost time and memory without
// bound: the text is refused there instead. Grammars from schemas keep a
// handful of stacks.
const (
	maxTops       = 4096
	maxExpansions = 1 << 16
)

// state is a matcher position: the open stacks and the bytes of a UTF-8
// sequence not yet complete.
type state struct {
	tops    []int32
	partial [utf8.UTFMax]byte
	np      uint8
}

// byteStep returns the state after consuming b, and false when b cannot
// come next.
func (a *arena) byteStep(s state, b byte) (state, bool) {
	if s.np == 0 {
		switch {
		case b < utf8.RuneSelf:
			tops := a.advance(s.tops, rune(b))
			return state{tops: tops}, len(tops) > 0
		case b < 0xC2 || b > 0xF4:
			return s, false
		}
		s.partial[0], s.np = b, 1
		return s, a.mayComplete(s)
	}
	if b&0xC0 != 0x80 {
		return s, false
	}
	s.partial[s.np] = b
	s.np++
	if !utf8.FullRune(s.partial[:s.np]) {
		return s, a.mayComplete(s)
	}
	r, n := utf8.DecodeRune(s.partial[:s.np])
	if r == utf8.RuneError && n <= 1 {
		return s, false
	}
	tops := a.advance(s.tops, r)
	return state{tops: tops}, len(tops) > 0
}

// mayComplete reports whether some top can match a code point that the
// partial sequence of s can still become.
func (a *arena) mayComplete(s state) bool {
	lead := s.partial[0]
	n, v := 4, rune(lead&0x07)
	switch {
	case lead < 0xE0:
		n, v = 2, rune(lead&0x1F)
	case lead < 0xF0:
		n, v = 3, rune(lead&0x0F)
	}
	for _, b := range s.partial[1:s.np] {
		v = v<<6 | rune(b&0x3F)
	}
	shift := 6 * (n - int(s.np))
	// Overlong forms and code points past U+10FFFF never decode.
	lo := max(v<<shift, [...]rune{2: 0x80, 3: 0x800, 4: 0x10000}[n])
	hi := min(v<<shift|(1<<shift-1), utf8.MaxRune)
	for _, t := range s.tops {
		if t != complete && a.g.elems[a.nodes[t].pos].mayMatchIn(lo, hi) {
			return true
		}
	}
	return false
}

func (s state) accepting() bool {
	return s.np == 0 && len(s.tops) > 0 && s.tops[0] == complete
}

// key identifies the state.
func (s state) key() string {
	b := make([]byte, 0, 4*len(s.tops)+int(s.np)+1)
	for _, t := range s.tops {
		b = append(b, byte(t), byte(t>>8), byte(t>>16), byte(t>>24))
	}
	b = append(b, s.np)
	return string(append(b, s.partial[:s.np]...))
}

// Matcher matches text against a grammar incrementally. It is not safe
// for concurrent use.
type Matcher struct {
	a   *arena
	cur int32 // state id in a
}

// NewMatcher returns a matcher at the start of g's root rule.
func NewMatcher(g *Grammar) *Matcher {
	a := newArena(g)
	return &Matcher{a: a, cur: a.intern(state{tops: a.start()})}
}

// Advance consumes text and reports whether the result is still a prefix
// of a sentence; when it is not, the matcher is left unchanged.
func (m *Matcher) Advance(text []byte) bool {
	id := m.cur
	for _, b := range text {
		if id = m.a.next(id, b); id == dead {
			return false
		}
	}
	m.cur = id
	return true
}

func (m *Matcher) state() *state { return &m.a.states[m.cur].state }

// Accepting reports whether the text so far is a whole sentence.
func (m *Matcher) Accepting() bool { return m.state().accepting() }

// Done reports whether the text is a whole sentence that nothing may
// extend.
func (m *Matcher) Done() bool {
	s := m.state()
	return s.np == 0 && len(s.tops) == 1 && s.tops[0] == complete
}

// Past maxNodes stack nodes or maxStates states (of up to 1 KiB of
// transitions each), compact keeps what the current state uses and drops
// the rest.
const (
	maxNodes  = 1 << 20
	maxStates = 1 << 14
)

// compact rebuilds the arena with only the current state's stacks when
// it has grown past its bounds, and reports whether it did (state ids
// held elsewhere are then stale).
func (m *Matcher) compact() bool {
	if len(m.a.nodes) < maxNodes && len(m.a.states) < maxStates {
		return false
	}
	old := m.a
	m.a = newArena(old.g)
	var copyStack func(id int32) int32
	copyStack = func(id int32) int32 {
		if id == complete {
			return complete
		}
		n := old.nodes[id]
		return m.a.push(n.pos, copyStack(n.next))
	}
	s := old.states[m.cur].state
	tops := make([]int32, len(s.tops))
	for i, t := range s.tops {
		tops[i] = copyStack(t)
	}
	slices.Sort(tops)
	s.tops = tops
	m.cur = m.a.intern(s)
	return true
}
