package grammar

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxRepeat bounds the n of x{m,n}, which unrolls into n rules.
const maxRepeat = 4096

// Parse compiles GBNF text: rules "name ::= alternatives", alternatives
// separated by "|", sequences of "literals", [character classes] (ranges,
// ^ negation), rule names, (groups), . (any code point), each optionally
// followed by *, +, ?, {m}, {m,} or {m,n}; # starts a comment. Escapes
// \n \r \t \\ \" \] \[ \- \xHH \uHHHH \UHHHHHHHH. A rule may span lines;
// it ends where the next "name ::=" starts. The start rule is root.
func Parse(src string) (*Grammar, error) {
	p := &parser{src: src, index: map[string]int32{}}
	if err := p.parse(); err != nil {
		return nil, err
	}
	root, ok := p.index["root"]
	if !ok {
		return nil, fmt.Errorf("%w: no root rule", ErrSyntax)
	}
	for i, def := range p.defined {
		if !def {
			return nil, fmt.Errorf("%w: rule %q is used but not defined", ErrSyntax, p.names[i])
		}
	}
	g := &Grammar{names: p.names, root: root, src: src, alts: make([][]int32, len(p.rules))}
	for r, alts := range p.rules {
		for _, seq := range alts {
			g.alts[r] = append(g.alts[r], int32(len(g.elems)))
			g.elems = append(g.elems, seq...)
			g.elems = append(g.elems, elem{kind: kEnd})
		}
	}
	if err := g.checkLeftRecursion(); err != nil {
		return nil, err
	}
	return g, nil
}

type parser struct {
	src     string
	pos     int
	rules   [][][]elem // rule, alternative, element
	names   []string
	defined []bool
	index   map[string]int32
}

func (p *parser) errorf(format string, args ...any) error {
	line := 1 + strings.Count(p.src[:p.pos], "\n")
	return fmt.Errorf("%w: line %d: %s", ErrSyntax, line, fmt.Sprintf(format, args...))
}

// rule returns the id of the rule called name, declaring it on first use.
func (p *parser) rule(name string) int32 {
	if id, ok := p.index[name]; ok {
		return id
	}
	id := int32(len(p.rules))
	p.index[name] = id
	p.names = append(p.names, name)
	p.rules = append(p.rules, nil)
	p.defined = append(p.defined, false)
	return id
}

// generated adds a rule made by a group or repetition inside base.
func (p *parser) generated(base string, alts [][]elem) int32 {
	id := p.rule(fmt.Sprintf("%s_%d", base, len(p.rules)))
	p.rules[id], p.defined[id] = alts, true
	return id
}

func (p *parser) eof() bool { return p.pos >= len(p.src) }

func (p *parser) space() {
	for !p.eof() {
		switch c := p.src[p.pos]; {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			p.pos++
		case c == '#':
			for !p.eof() && p.src[p.pos] != '\n' {
				p.pos++
			}
		default:
			return
		}
	}
}

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

func (p *parser) name() string {
	start := p.pos
	for !p.eof() && isNameByte(p.src[p.pos]) {
		p.pos++
	}
	return p.src[start:p.pos]
}

// atRuleStart reports whether "name ::=" follows.
func (p *parser) atRuleStart() bool {
	save := p.pos
	defer func() { p.pos = save }()
	if p.name() == "" {
		return false
	}
	p.space()
	return strings.HasPrefix(p.src[p.pos:], "::=")
}

func (p *parser) parse() error {
	p.space()
	for !p.eof() {
		name := p.name()
		if name == "" {
			return p.errorf("expected a rule name, found %q", p.src[p.pos:p.pos+1])
		}
		p.space()
		if !strings.HasPrefix(p.src[p.pos:], "::=") {
			return p.errorf("expected ::= after %q", name)
		}
		p.pos += 3
		id := p.rule(name)
		if p.defined[id] {
			return p.errorf("rule %q is defined twice", name)
		}
		p.defined[id] = true
		alts, err := p.alternatives(name, false)
		if err != nil {
			return err
		}
		p.rules[id] = alts
		p.space()
	}
	return nil
}

func (p *parser) alternatives(rule string, nested bool) ([][]elem, error) {
	var alts [][]elem
	for {
		seq, err := p.sequence(rule, nested)
		if err != nil {
			return nil, err
		}
		alts = append(alts, seq)
		p.space()
		if p.eof() || p.src[p.pos] != '|' {
			return alts, nil
		}
		p.pos++
	}
}

func (p *parser) sequence(rule string, nested bool) ([]elem, error) {
	var seq []elem
	for {
		p.space()
		if p.eof() || p.src[p.pos] == '|' || p.src[p.pos] == ')' || !nested && p.atRuleStart() {
			return seq, nil
		}
		item, err := p.item(rule)
		if err != nil {
			return nil, err
		}
		p.space()
		if !p.eof() && strings.IndexByte("*+?{", p.src[p.pos]) >= 0 {
			if len(item) != 1 {
				item = []elem{{kind: kRef, rule: p.generated(rule, [][]elem{item})}}
			}
			if item, err = p.repeat(rule, item[0]); err != nil {
				return nil, err
			}
		}
		seq = append(seq, item...)
	}
}

// item parses one literal, class, name, group or dot.
func (p *parser) item(rule string) ([]elem, error) {
	switch c := p.src[p.pos]; {
	case c == '"':
		p.pos++
		var seq []elem
		for {
			if p.eof() {
				return nil, p.errorf("unterminated string")
			}
			if p.src[p.pos] == '"' {
				p.pos++
				return seq, nil
			}
			r, err := p.char()
			if err != nil {
				return nil, err
			}
			seq = append(seq, elem{kind: kChar, ranges: []runeRange{{r, r}}})
		}
	case c == '[':
		p.pos++
		e := elem{kind: kChar}
		if !p.eof() && p.src[p.pos] == '^' {
			e.negate = true
			p.pos++
		}
		for {
			if p.eof() {
				return nil, p.errorf("unterminated character class")
			}
			if p.src[p.pos] == ']' {
				p.pos++
				return []elem{e}, nil
			}
			lo, err := p.char()
			if err != nil {
				return nil, err
			}
			hi := lo
			if p.pos+1 < len(p.src) && p.src[p.pos] == '-' && p.src[p.pos+1] != ']' {
				p.pos++
				if hi, err = p.char(); err != nil {
					return nil, err
				}
				if hi < lo {
					return nil, p.errorf("range %q-%q is reversed", lo, hi)
				}
			}
			e.ranges = append(e.ranges, runeRange{lo, hi})
		}
	case c == '.':
		p.pos++
		return []elem{{kind: kChar, negate: true}}, nil
	case c == '(':
		p.pos++
		alts, err := p.alternatives(rule, true)
		if err != nil {
			return nil, err
		}
		if p.eof() || p.src[p.pos] != ')' {
			return nil, p.errorf("expected )")
		}
		p.pos++
		return []elem{{kind: kRef, rule: p.generated(rule, alts)}}, nil
	case isNameByte(c):
		return []elem{{kind: kRef, rule: p.rule(p.name())}}, nil
	}
	return nil, p.errorf("unexpected %q", p.src[p.pos:p.pos+1])
}

// char reads one code point of a literal or class, decoding escapes.
func (p *parser) char() (rune, error) {
	if p.src[p.pos] != '\\' {
		r, n := utf8.DecodeRuneInString(p.src[p.pos:])
		if r == utf8.RuneError && n <= 1 {
			return 0, p.errorf("invalid UTF-8")
		}
		p.pos += n
		return r, nil
	}
	p.pos++
	if p.eof() {
		return 0, p.errorf("escape at end of input")
	}
	c := p.src[p.pos]
	p.pos++
	hex := 0
	switch c {
	case 'n':
		return '\n', nil
	case 'r':
		return '\r', nil
	case 't':
		return '\t', nil
	case '\\', '"', '[', ']', '-', '^':
		return rune(c), nil
	case 'x':
		hex = 2
	case 'u':
		hex = 4
	case 'U':
		hex = 8
	default:
		return 0, p.errorf("unknown escape \\%c", c)
	}
	if p.pos+hex > len(p.src) {
		return 0, p.errorf("short \\%c escape", c)
	}
	v, err := strconv.ParseUint(p.src[p.pos:p.pos+hex], 16, 32)
	if err != nil || v > utf8.MaxRune {
		return 0, p.errorf("bad \\%c escape %q", c, p.src[p.pos:p.pos+hex])
	}
	p.pos += hex
	return rune(v), nil
}

// repeat applies the postfix operator at p.pos to x.
func (p *parser) repeat(rule string, x elem) ([]elem, error) {
	op := p.src[p.pos]
	p.pos++
	star := func() elem {
		id := p.rule(fmt.Sprintf("%s_%d", rule, len(p.rules)))
		p.rules[id], p.defined[id] = [][]elem{{x, {kind: kRef, rule: id}}, {}}, true
		return elem{kind: kRef, rule: id}
	}
	switch op {
	case '*':
		return []elem{star()}, nil
	case '+':
		return []elem{x, star()}, nil
	case '?':
		return []elem{{kind: kRef, rule: p.generated(rule, [][]elem{{x}, {}})}}, nil
	}
	m, n, err := p.bounds()
	if err != nil {
		return nil, err
	}
	seq := make([]elem, 0, m+1)
	for range m {
		seq = append(seq, x)
	}
	if n < 0 {
		return append(seq, star()), nil
	}
	// x{0,k} as nested optionals: opt_k ::= x opt_{k-1} | ε.
	var tail []elem
	for range n - m {
		alt := append([]elem{x}, tail...)
		tail = []elem{{kind: kRef, rule: p.generated(rule, [][]elem{alt, {}})}}
	}
	return append(seq, tail...), nil
}

// bounds reads "m}", "m,}" or "m,n}"; n is -1 when unbounded.
func (p *parser) bounds() (m, n int, err error) {
	num := func() (int, bool) {
		p.space()
		start := p.pos
		for !p.eof() && p.src[p.pos] >= '0' && p.src[p.pos] <= '9' {
			p.pos++
		}
		v, err := strconv.Atoi(p.src[start:p.pos])
		p.space()
		return v, err == nil
	}
	var ok bool
	if m, ok = num(); !ok {
		return 0, 0, p.errorf("expected a repetition count")
	}
	n = m
	if !p.eof() && p.src[p.pos] == ',' {
		p.pos++
		if n, ok = num(); !ok {
			n = -1
		}
	}
	if p.eof() || p.src[p.pos] != '}' {
		return 0, 0, p.errorf("expected }")
	}
	p.pos++
	if n >= 0 && n < m || max(m, n) > maxRepeat {
		return 0, 0, p.errorf("repetition {%d,%d} must have m <= n <= %d", m, n, maxRepeat)
	}
	return m, n, nil
}
