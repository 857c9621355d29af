package grammar

import (
	"fmt"
	"regexp/syntax"
	"strings"
	"unicode"
)

// regexGBNF compiles a JSON schema pattern to a GBNF expression of the
// string's JSON text between its quotes. The subset: literals, classes
// (\d \w \s, [...], negated), ., groups, alternation, * + ? {m} {m,}
// {m,n} (lazy forms match the same strings), ^ and $ at the ends. As JSON
// schema patterns are unanchored, a side without its anchor may hold any
// text. Other constructs (\b, anchors inside, flags) are refused.
// Characters are written unescaped, " and \ as their escapes; control
// characters, which JSON must escape, are left out of classes.
func regexGBNF(pattern string) (string, error) {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return "", fmt.Errorf("%w: pattern %q: %v", ErrSchema, pattern, err)
	}
	re = re.Simplify()
	subs := []*syntax.Regexp{re}
	if re.Op == syntax.OpConcat {
		subs = re.Sub
	}
	var parts []string
	if len(subs) > 0 && subs[0].Op == syntax.OpBeginText {
		subs = subs[1:]
	} else {
		parts = append(parts, "json-char*")
	}
	tail := "json-char*"
	if len(subs) > 0 && subs[len(subs)-1].Op == syntax.OpEndText {
		subs, tail = subs[:len(subs)-1], ""
	}
	for _, s := range subs {
		e, err := regexExpr(s)
		if err != nil {
			return "", fmt.Errorf("%w: pattern %q: %v", ErrUnsupported, pattern, err)
		}
		parts = append(parts, e)
	}
	if tail != "" {
		parts = append(parts, tail)
	}
	if len(parts) == 0 {
		return `""`, nil
	}
	return strings.Join(parts, " "), nil
}

func regexExpr(re *syntax.Regexp) (string, error) {
	switch re.Op {
	case syntax.OpEmptyMatch:
		return `""`, nil
	case syntax.OpLiteral:
		var parts []string
		for _, r := range re.Rune {
			if re.Flags&syntax.FoldCase != 0 {
				parts = append(parts, classExpr(foldRanges(r)))
			} else {
				parts = append(parts, charExpr(r))
			}
		}
		return strings.Join(parts, " "), nil
	case syntax.OpCharClass:
		return classExpr(re.Rune), nil
	case syntax.OpAnyCharNotNL:
		return classExpr([]rune{0, '\n' - 1, '\n' + 1, unicode.MaxRune}), nil
	case syntax.OpAnyChar:
		return classExpr([]rune{0, unicode.MaxRune}), nil
	case syntax.OpCapture:
		return regexExpr(re.Sub[0])
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest:
		sub, err := regexExpr(re.Sub[0])
		if err != nil {
			return "", err
		}
		if re.Op != syntax.OpQuest && matchesEmpty(re.Sub[0]) {
			return "", errNullableRepeat
		}
		op := map[syntax.Op]string{syntax.OpStar: "*", syntax.OpPlus: "+", syntax.OpQuest: "?"}[re.Op]
		return "( " + sub + " )" + op, nil
	case syntax.OpRepeat:
		sub, err := regexExpr(re.Sub[0])
		if err != nil {
			return "", err
		}
		if re.Max > maxRepeat || re.Min > maxRepeat {
			return "", fmt.Errorf("repetition {%d,%d} above %d", re.Min, re.Max, maxRepeat)
		}
		if re.Max < 0 && matchesEmpty(re.Sub[0]) {
			return "", errNullableRepeat
		}
		return "( " + sub + " )" + repetition(re.Min, re.Max), nil
	case syntax.OpConcat, syntax.OpAlternate:
		parts := make([]string, len(re.Sub))
		for i, s := range re.Sub {
			var err error
			if parts[i], err = regexExpr(s); err != nil {
				return "", err
			}
		}
		sep := " "
		if re.Op == syntax.OpAlternate {
			sep = " | "
		}
		return "( " + strings.Join(parts, sep) + " )", nil
	case syntax.OpBeginText, syntax.OpEndText, syntax.OpBeginLine, syntax.OpEndLine:
		return "", fmt.Errorf("anchors other than a leading ^ and a trailing $")
	case syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return "", fmt.Errorf("word boundaries")
	case syntax.OpNoMatch:
		return "", fmt.Errorf("a class that matches nothing")
	}
	return "", fmt.Errorf("regular expression operator %v", re.Op)
}

// errNullableRepeat refuses an unbounded repetition of something that can
// match nothing, such as (a?)*: as a grammar it is left-recursive.
var errNullableRepeat = fmt.Errorf("an unbounded repetition of a part that can match the empty string, such as (a?)*")

// matchesEmpty reports whether re matches the empty string.
func matchesEmpty(re *syntax.Regexp) bool {
	prog, err := syntax.Compile(re)
	if err != nil {
		return false
	}
	// Run the program on no input: follow empty-width steps from the
	// start and see whether one reaches a match.
	seen := make([]bool, len(prog.Inst))
	var reach func(pc uint32) bool
	reach = func(pc uint32) bool {
		if seen[pc] {
			return false
		}
		seen[pc] = true
		switch in := &prog.Inst[pc]; in.Op {
		case syntax.InstMatch:
			return true
		case syntax.InstAlt, syntax.InstAltMatch:
			return reach(in.Out) || reach(in.Arg)
		case syntax.InstCapture, syntax.InstNop, syntax.InstEmptyWidth:
			return reach(in.Out)
		}
		return false
	}
	return reach(uint32(prog.Start))
}

// foldRanges returns the class of r and its case variants.
func foldRanges(r rune) []rune {
	var out []rune
	for f := r; ; {
		out = append(out, f, f)
		if f = unicode.SimpleFold(f); f == r {
			return out
		}
	}
}

// charExpr is code point r as JSON string text.
func charExpr(r rune) string {
	switch {
	case r == '"':
		return literal(`\"`)
	case r == '\\':
		return literal(`\\`)
	case r < 0x20:
		return literal(fmt.Sprintf(`\u%04x`, r))
	}
	return literal(string(r))
}

// classExpr is a class (pairs of inclusive bounds) as JSON string text:
// its printable code points unescaped, " and \ escaped, controls left out.
func classExpr(pairs []rune) string {
	var sb strings.Builder
	var alts []string
	sb.WriteByte('[')
	n := 0
	for i := 0; i+1 < len(pairs); i += 2 {
		lo, hi := pairs[i], pairs[i+1]
		for _, special := range []rune{'"', '\\'} {
			if lo <= special && special <= hi {
				alts = append(alts, charExpr(special))
			}
		}
		lo = max(lo, 0x20)
		// Split around " and \ so that they stay out of the raw class.
		for _, cut := range [][2]rune{{lo, min(hi, '"'-1)}, {max(lo, '"'+1), min(hi, '\\'-1)}, {max(lo, '\\'+1), hi}} {
			if cut[0] <= cut[1] {
				sb.WriteString(classChar(cut[0]))
				if cut[1] > cut[0] {
					sb.WriteString("-" + classChar(cut[1]))
				}
				n++
			}
		}
	}
	sb.WriteByte(']')
	if n > 0 {
		alts = append(alts, sb.String())
	}
	if len(alts) == 0 {
		return `[^\x00-\U0010FFFF]` // nothing printable: matches no code point
	}
	return "( " + strings.Join(alts, " | ") + " )"
}

// classChar writes r for use inside a GBNF class.
func classChar(r rune) string {
	switch r {
	case ']', '[', '-', '\\', '^', '"':
		return `\` + string(r)
	case 0x7f:
		return `\x7f`
	}
	if r > 0xffff {
		return fmt.Sprintf(`\U%08x`, r)
	}
	if !unicode.IsPrint(r) {
		return fmt.Sprintf(`\u%04x`, r)
	}
	return string(r)
}
