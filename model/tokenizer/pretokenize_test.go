package tokenizer

import (
	"errors"
	"slices"
	"testing"
)

// TestPreTokenizerSplits checks the tekken and gpt-4o splits of tricky
// strings. llama.cpp ships no vocab test suite (.inp/.out) for either, so
// the expected pieces are worked out by hand from llama.cpp's regexes: U is
// a letter other than a-z, L a letter other than A-Z (so a non-ASCII letter
// is both), a word is an optional non-letter, non-digit, non-newline
// prefix then U*L+ or U+L*; gpt-4o lets a word end in an English
// contraction and groups digits by up to three, tekken takes one digit at
// a time.
func TestPreTokenizerSplits(t *testing.T) {
	for _, tc := range []struct {
		pre, text string
		want      []string
	}{
		{"tekken", "Hello World", []string{"Hello", " World"}},
		// U* takes every capital, then L+ the lowercase run.
		{"tekken", "HTTPServer camelCase ABC", []string{"HTTPServer", " camel", "Case", " ABC"}},
		// No contractions: the apostrophe is the prefix of the next word.
		{"tekken", "don't I'M", []string{"don", "'t", " I", "'M"}},
		{"tekken", "abc12345", []string{"abc", "1", "2", "3", "4", "5"}},
		{"tekken", " 2024", []string{" ", "2", "0", "2", "4"}},
		{"tekken", "x=1;\n", []string{"x", "=", "1", ";\n"}},
		// Punctuation takes the newlines and slashes after it.
		{"tekken", "Hi!!! end.\n/next", []string{"Hi", "!!!", " end", ".\n/", "next"}},
		{"tekken", " //comment /usr/bin", []string{" //", "comment", " /", "usr", "/bin"}},
		// Spaces before newlines go with them; of a run before a word, the
		// last space goes with the word.
		{"tekken", "a  \n\n  b", []string{"a", "  \n\n", " ", " b"}},
		{"tekken", "a\r\nb   ", []string{"a", "\r\n", "b", "   "}},
		{"tekken", " \tfoo", []string{" ", "\tfoo"}},
		// A non-ASCII lowercase letter is also a U: "éA" backtracks to
		// L+ = "é".
		{"tekken", "Ünïcode éA", []string{"Ünïcode", " é", "A"}},
		// A combining mark (U+0301) is not a letter: it ends the word and
		// prefixes the next.
		{"tekken", "e\u0301t", []string{"e", "\u0301t"}},
		// CJK punctuation is a word's prefix like any other.
		{"tekken", "你好世界。日本語 テキスト", []string{"你好世界", "。日本語", " テキスト"}},

		{"gpt-4o", "Hello World", []string{"Hello", " World"}},
		{"gpt-4o", "HTTPServer camelCase ABC", []string{"HTTPServer", " camel", "Case", " ABC"}},
		// Contractions stay on the word, in either case.
		{"gpt-4o", "don't I'M They're we'LL", []string{"don't", " I'M", " They're", " we'LL"}},
		{"gpt-4o", "abc12345", []string{"abc", "123", "45"}},
		{"gpt-4o", " 2024", []string{" ", "202", "4"}},
		{"gpt-4o", "1234567", []string{"123", "456", "7"}},
		{"gpt-4o", "x=1;\n", []string{"x", "=", "1", ";\n"}},
		{"gpt-4o", "Hi!!! end.\n/next", []string{"Hi", "!!!", " end", ".\n/", "next"}},
		{"gpt-4o", "a  \n\n  b", []string{"a", "  \n\n", " ", " b"}},
		{"gpt-4o", "Ünïcode éA", []string{"Ünïcode", " é", "A"}},
		{"gpt-4o", "e\u0301t", []string{"e", "\u0301t"}},
		{"gpt-4o", "你好世界。日本語 テキスト", []string{"你好世界", "。日本語", " テキスト"}},
	} {
		p, err := newPreTokenizer(tc.pre)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.split(tc.text); !slices.Equal(got, tc.want) {
			t.Errorf("%s %q:\n got %q\nwant %q", tc.pre, tc.text, got, tc.want)
		}
	}
}

// TestPreTokenizerNames checks the names the new sets answer to, that
// tekken (as in llama.cpp) emits a piece that is a whole token without
// merging and gpt-4o does not, and that an unknown name is refused.
func TestPreTokenizerNames(t *testing.T) {
	// "abc" is a token no merge reaches: merging gives "ab", not a token,
	// whose bytes are emitted, then "c".
	base := defaultSpec(ModelBPE)
	base.Tokens = []string{"a", "b", "c", "abc"}
	base.Merges = []string{"a b"}
	for _, tc := range []struct {
		pre  string
		want []int32
	}{
		{"tekken", []int32{3}},
		{"gpt-4o", []int32{0, 1, 2}},
		{"llama4", []int32{0, 1, 2}},
	} {
		s := base
		s.Pre = tc.pre
		tok, err := New(s)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tok.Encode("abc", false, false)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.pre, got, tc.want)
		}
	}
	s := base
	s.Pre = "tekken2"
	if _, err := New(s); !errors.Is(err, ErrModel) {
		t.Errorf("unknown pre-tokenizer: err %v, want ErrModel", err)
	}
}
