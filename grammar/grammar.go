package grammar

import (
	"errors"
	"fmt"
)

// Sentinel errors callers branch on.
var (
	// ErrSyntax is wrapped by errors in grammar text.
	ErrSyntax = errors.New("grammar: syntax error")
	// ErrUnsupported is wrapped by errors naming a schema or regular
	// expression feature the compiler does not implement.
	ErrUnsupported = errors.New("grammar: unsupported feature")
	// ErrSchema is wrapped by errors in a JSON schema itself.
	ErrSchema = errors.New("grammar: invalid schema")
)

// kind is what one grammar element does.
type kind uint8

const (
	kEnd  kind = iota // end of an alternative
	kChar             // one code point in (or, negated, outside) ranges
	kRef              // a rule
)

// runeRange is an inclusive range of code points.
type runeRange struct{ lo, hi rune }

// elem is one element of an alternative.
type elem struct {
	kind   kind
	negate bool        // kChar: match code points outside ranges
	ranges []runeRange // kChar
	rule   int32       // kRef
}

func (e *elem) matches(r rune) bool {
	in := false
	for _, rg := range e.ranges {
		if r >= rg.lo && r <= rg.hi {
			in = true
			break
		}
	}
	return in != e.negate
}

// mayMatchIn reports whether e can match some code point in [lo, hi]; it
// lets a partial UTF-8 sequence through only where one of the code points
// it can still become may go.
func (e *elem) mayMatchIn(lo, hi rune) bool {
	for _, rg := range e.ranges {
		if e.negate && rg.lo <= lo && hi <= rg.hi {
			return false
		}
		if !e.negate && rg.lo <= hi && lo <= rg.hi {
			return true
		}
	}
	return e.negate
}

// Grammar is a compiled grammar: every alternative of every rule laid out
// in one element slice, each ended by a kEnd. A Grammar is immutable and
// safe to share; matchers hold their own state.
type Grammar struct {
	elems []elem
	alts  [][]int32 // per rule, the start position of each alternative
	names []string
	root  int32
	src   string
}

// String returns the grammar's source text.
func (g *Grammar) String() string { return g.src }

// checkLeftRecursion refuses a rule that can reach itself without
// consuming a code point.
func (g *Grammar) checkLeftRecursion() error {
	nullable := make([]bool, len(g.alts))
	for changed := true; changed; {
		changed = false
		for r, alts := range g.alts {
			if nullable[r] {
				continue
			}
			for _, a := range alts {
				if g.seqNullable(a, nullable) {
					nullable[r], changed = true, true
					break
				}
			}
		}
	}
	// left[r] lists the rules r can start with.
	left := make([][]int32, len(g.alts))
	for r, alts := range g.alts {
		for _, a := range alts {
			for p := a; g.elems[p].kind == kRef; p++ {
				left[r] = append(left[r], g.elems[p].rule)
				if !nullable[g.elems[p].rule] {
					break
				}
			}
		}
	}
	const (
		white = iota
		grey
		black
	)
	color := make([]uint8, len(g.alts))
	var visit func(r int32) error
	visit = func(r int32) error {
		color[r] = grey
		for _, n := range left[r] {
			switch color[n] {
			case grey:
				return fmt.Errorf("%w: rule %q is left-recursive", ErrUnsupported, g.names[n])
			case white:
				if err := visit(n); err != nil {
					return err
				}
			}
		}
		color[r] = black
		return nil
	}
	for r := range g.alts {
		if color[r] == white {
			if err := visit(int32(r)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (g *Grammar) seqNullable(p int32, nullable []bool) bool {
	for ; g.elems[p].kind != kEnd; p++ {
		if g.elems[p].kind == kChar || !nullable[g.elems[p].rule] {
			return false
		}
	}
	return true
}
