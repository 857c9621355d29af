package tokenizer

import (
	"fmt"
	"strings"

	"github.com/dlclark/regexp2"
)

// The pre-tokenizer regexes of byte-level BPE vocabularies, by the name
// tokenizer.ggml.pre gives, as the models' tokenizer.json define them and
// llama.cpp applies them. Each regex further splits the pieces the previous
// one produced; text between matches stays a piece of its own.
const (
	reGPT2   = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)`
	reLlama3 = `(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	reQwen2  = `(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	// tekken (Mistral Nemo, Small) and gpt-4o (o200k) split words at
	// lower-to-upper case changes. Their tokenizer.json regexes use \p{Lu},
	// \p{Ll} and \p{M}; llama.cpp rewrites them with lookaheads that only
	// tell ASCII case apart, so any other letter counts as both upper and
	// lower case and a combining mark is not part of a word. These are
	// llama.cpp's rewritten regexes, whose splits are the ones to match.
	reTekken = `[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	reGPT4o  = `[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

var preRegexes = map[string][]string{
	"default": {`[\p{P}\$\+<=>\^~\|]+`, reGPT2, `\p{N}+`, `[0-9][0-9][0-9]`},
	"gpt2":    {reGPT2},
	"llama3":  {reLlama3},
	"qwen2":   {reQwen2},
	"tekken":  {reTekken},
	"gpt-4o":  {reGPT4o},
	"deepseek-llm": {
		`[\r\n]`,
		`\s?[A-Za-z\u00B5\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u01BA\u01BC-\u01BF\u01C4-\u0293\u0295-\u02AF\u0370-\u0373\u0376\u0377\u037B-\u037D\u037F\u0386\u0388-\u038A\u038C\u038E-\u03A1\u03A3-\u03F5\u03F7-\u0481\u048A-\u052F\u0531-\u0556\u10A0-\u10C5\u13A0-\u13F5\u13F8-\u13FD\u1C90-\u1CBA\u1CBD-\u1CBF\u1D00-\u1D2B\u1D6B-\u1D77\u1D79-\u1D9A\u1E00-\u1F15\u1F18-\u1F1D\u1F20-\u1F45\u1F48-\u1F4D\u1F50-\u1F57\u1F59\u1F5B\u1F5D\u1F5F-\u1F7D\u1F80-\u1FB4\u1FB6-\u1FBC\u1FBE\u1FC2-\u1FC4\u1FC6-\u1FCC\u1FD0-\u1FD3\u1FD6-\u1FDB\u1FE0-\u1FEC\u1FF2-\u1FF4\u1FF6-\u1FFC\u2102\u2107\u210A-\u2113\u2115\u2119-\u211D\u2124\u2126\u2128\u212A-\u212D\u212F-\u2134\u2139\u213C-\u213F\u2145-\u2149\u214E\u2183\u2184\u2C00-\u2C7B\u2C7E-\u2CE4\u2CEB-\u2CEE\u2CF2\u2CF3\uA640-\uA66D\uA680-\uA69B\uA722-\uA76F\uA771-\uA787\uA78B-\uA78E\uAB70-\uABBF\uFB00-\uFB06\uFB13-\uFB17\uFF21-\uFF3A\uFF41-\uFF5A𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+`,
		`\s?[!-/:-~！-／：-～‘-‟　-。]+`,
		`\s+\z`,
		`[一-龥ࠀ-一가-퟿]+`,
		`\p{N}+`,
	},
	"deepseek-coder": {`[\r\n]`, `\s?\p{L}+`, `\s?\p{P}+`, `[一-龥ࠀ-一가-퟿]+`, `\p{N}`},
	"falcon":         {`[\p{P}\$\+<=>\^~\|` + "`" + `]+`, reGPT2, `[0-9][0-9][0-9]`},
	"starcoder":      {`\p{N}`, reGPT2},
}

// preAliases maps tokenizer.ggml.pre names to the regex sets above.
var preAliases = map[string]string{
	"": "default", "default": "default",
	"gpt-2": "gpt2", "phi-2": "gpt2", "mpt": "gpt2", "olmo": "gpt2", "jais": "gpt2", "trillion": "gpt2", "gpt-neox": "gpt2",
	"llama3": "llama3", "llama-v3": "llama3", "llama-bpe": "llama3", "falcon3": "llama3", "pixtral": "llama3", "dbrx": "llama3", "smaug-bpe": "llama3",
	"qwen2": "qwen2", "deepseek-r1-qwen": "qwen2", "stablelm2": "qwen2", "megrez": "qwen2",
	"deepseek-llm": "deepseek-llm", "deepseek-coder": "deepseek-coder", "falcon": "falcon",
	"tekken": "tekken", "gpt-4o": "gpt-4o", "llama4": "gpt-4o",
	"starcoder": "starcoder", "refact": "starcoder", "command-r": "starcoder", "smollm": "starcoder", "codeshell": "starcoder", "exaone": "starcoder", "minerva-7b": "starcoder",
}

type preTokenizer struct {
	name string
	res  []*regexp2.Regexp
	// ignoreMerges: a piece that is a whole token is emitted as it is
	// (llama.cpp does so for llama3 and tekken).
	ignoreMerges bool
}

// ignoresMerges are the regex sets whose vocabularies llama.cpp tokenizes
// with ignore_merges.
var ignoresMerges = map[string]bool{"llama3": true, "tekken": true}

func newPreTokenizer(pre string) (*preTokenizer, error) {
	set, ok := preAliases[pre]
	if !ok {
		return nil, fmt.Errorf("%w: unknown pre-tokenizer %q", ErrModel, pre)
	}
	p := &preTokenizer{name: set, ignoreMerges: ignoresMerges[set]}
	for _, expr := range preRegexes[set] {
		re, err := regexp2.Compile(expr, regexp2.None)
		if err != nil {
			return nil, fmt.Errorf("%w: pre-tokenizer %s: %w", ErrModel, pre, err)
		}
		p.res = append(p.res, re)
	}
	return p, nil
}

// split cuts text into the pieces BPE merges within.
func (p *preTokenizer) split(text string) []string {
	pieces := []string{text}
	for _, re := range p.res {
		var next []string
		for _, piece := range pieces {
			next = splitKeepGaps(re, piece, next)
		}
		pieces = next
	}
	return pieces
}

// splitKeepGaps appends to out the matches of re in s and the text between
// them, in order.
func splitKeepGaps(re *regexp2.Regexp, s string, out []string) []string {
	runes := []rune(s)
	last := 0
	m, _ := re.FindRunesMatch(runes)
	for m != nil {
		if m.Index > last {
			out = append(out, string(runes[last:m.Index]))
		}
		if m.Length > 0 {
			out = append(out, string(runes[m.Index:m.Index+m.Length]))
		}
		last = m.Index + m.Length
		m, _ = re.FindNextMatch(m)
	}
	if last < len(runes) {
		out = append(out, string(runes[last:]))
	}
	return out
}

// byteToRune is GPT-2's reversible map of bytes to printable characters:
// printable Latin-1 bytes stand for themselves, the rest for 256 upwards.
var byteToRune, runeToByte = func() ([256]rune, map[rune]byte) {
	var b2r [256]rune
	r2b := make(map[rune]byte, 256)
	n := 0
	for b := range 256 {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			b2r[b] = rune(b)
		} else {
			b2r[b] = rune(256 + n)
			n++
		}
		r2b[b2r[b]] = byte(b)
	}
	return b2r, r2b
}()

func byteEncode(s string) string {
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		sb.WriteRune(byteToRune[s[i]])
	}
	return sb.String()
}
