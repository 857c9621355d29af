package grammar

import (
	"errors"
	"testing"
)

func TestMatcher(t *testing.T) {
	tests := []struct {
		name, grammar, text string
		prefix, complete    bool
	}{
		{"literal", `root ::= "ab"`, "ab", true, true},
		{"literal prefix", `root ::= "ab"`, "a", true, false},
		{"literal wrong", `root ::= "ab"`, "b", false, false},
		{"alternatives", `root ::= "cat" | "car"`, "car", true, true},
		{"class range", `root ::= [a-c]+`, "abcab", true, true},
		{"class outside", `root ::= [a-c]+`, "abd", false, false},
		{"negated class", `root ::= [^"]* "\""`, "x y\"", true, true},
		{"star empty", `root ::= "x"*`, "", true, true},
		{"plus needs one", `root ::= "x"+`, "", true, false},
		{"optional", `root ::= "a" "b"? "c"`, "ac", true, true},
		{"bounded repeat", `root ::= [0-9]{2,3}`, "123", true, true},
		{"bounded repeat too long", `root ::= [0-9]{2,3}`, "1234", false, false},
		{"bounded repeat too short", `root ::= [0-9]{2,3}`, "1", true, false},
		{"exact repeat", `root ::= "ab"{2}`, "abab", true, true},
		{"open repeat", `root ::= "a"{2,}`, "aaaaa", true, true},
		{"nested rules", "root ::= item (\",\" item)*\nitem ::= \"[\" root? \"]\"", "[[],[[]]]", true, true},
		{"multi-line rule", "root ::= \"a\"\n  | \"b\"\n", "b", true, true},
		{"comment", "# greeting\nroot ::= \"hi\" # end", "hi", true, true},
		{"escapes", `root ::= "\x41\u00e9\n"`, "Aé\n", true, true},
		{"multibyte class", `root ::= [α-ω]+`, "λόγ", false, false},
		{"multibyte class ok", `root ::= [α-ω]+`, "λαμ", true, true},
		{"any", `root ::= . .`, "é😀", true, true},
		{"split utf-8", `root ::= "é"`, "\xc3", true, false},
		{"bad utf-8", `root ::= .`, "\xff", false, false},
		{"ascii class refuses a lead byte", `root ::= [a-z]`, "\xc3", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, err := Parse(tc.grammar)
			if err != nil {
				t.Fatal(err)
			}
			m := NewMatcher(g)
			if got := m.Advance([]byte(tc.text)); got != tc.prefix {
				t.Fatalf("Advance(%q) = %v, want %v", tc.text, got, tc.prefix)
			}
			if got := m.Accepting(); got != tc.complete {
				t.Errorf("Accepting after %q = %v, want %v", tc.text, got, tc.complete)
			}
		})
	}
}

func TestMatcherByteAtATime(t *testing.T) {
	g, err := Parse(`root ::= "{" [a-z]* "}"`)
	if err != nil {
		t.Fatal(err)
	}
	m := NewMatcher(g)
	for i, b := range []byte("{abc}") {
		if !m.Advance([]byte{b}) {
			t.Fatalf("byte %d %q refused", i, b)
		}
	}
	if !m.Done() {
		t.Error("not done after the closing brace")
	}
	if m.Advance([]byte("x")) {
		t.Error("text after the end accepted")
	}
	if !m.Done() {
		t.Error("a refused Advance changed the state")
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, grammar string
		want          error
		msg           string
	}{
		{"no root", `item ::= "a"`, ErrSyntax, "grammar: syntax error: no root rule"},
		{"undefined", `root ::= item`, ErrSyntax, `grammar: syntax error: rule "item" is used but not defined`},
		{"twice", "root ::= \"a\"\nroot ::= \"b\"", ErrSyntax, `grammar: syntax error: line 2: rule "root" is defined twice`},
		{"unterminated", `root ::= "a`, ErrSyntax, "grammar: syntax error: line 1: unterminated string"},
		{"class", `root ::= [a-`, ErrSyntax, "grammar: syntax error: line 1: unterminated character class"},
		{"paren", `root ::= ("a"`, ErrSyntax, "grammar: syntax error: line 1: expected )"},
		{"reversed", `root ::= [z-a]`, ErrSyntax, `grammar: syntax error: line 1: range 'z'-'a' is reversed`},
		{"repeat", `root ::= "a"{3,2}`, ErrSyntax, "grammar: syntax error: line 1: repetition {3,2} must have m <= n <= 4096"},
		{"escape", `root ::= "\q"`, ErrSyntax, `grammar: syntax error: line 1: unknown escape \q`},
		{"left recursion", `root ::= root "a" | "a"`, ErrUnsupported, `grammar: unsupported feature: rule "root" is left-recursive`},
		{"hidden left recursion", "root ::= e root \"a\" | \"b\"\ne ::= \"x\"?", ErrUnsupported, `grammar: unsupported feature: rule "root" is left-recursive`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.grammar)
			if !errors.Is(err, tc.want) || err.Error() != tc.msg {
				t.Errorf("error %v, want %q wrapping %v", err, tc.msg, tc.want)
			}
		})
	}
}

// An exponentially ambiguous grammar is refused where its parse stacks
// pass maxTops, not followed at any cost.
func TestAmbiguityBound(t *testing.T) {
	g, err := Parse(`root ::= s
s ::= "a" s s | ""`)
	if err != nil {
		t.Fatal(err)
	}
	m := NewMatcher(g)
	n := 0
	for ; n < 20000 && m.Advance([]byte("a")); n++ {
	}
	if n == 20000 || n < 10 {
		t.Errorf("refused after %d bytes", n)
	}
	if got := len(m.state().tops); got > maxTops {
		t.Errorf("%d stacks open", got)
	}
}
