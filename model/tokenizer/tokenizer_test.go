package tokenizer

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/internal/testmodels"
)

func load(t testing.TB, path string) *Tokenizer {
	t.Helper()
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tok, err := FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// readVectors reads llama.cpp's tokenizer test vectors: .inp holds strings
// separated by "\n__ggml_vocab_test__\n", .out one line of ids per string.
func readVectors(t testing.TB, base string) (inputs []string, want [][]int32) {
	t.Helper()
	inp, err := os.ReadFile(base + ".inp")
	if err != nil {
		t.Fatal(err)
	}
	inputs = strings.Split(string(inp), "\n__ggml_vocab_test__\n")
	if inputs[len(inputs)-1] == "" {
		inputs = inputs[:len(inputs)-1]
	}
	out, err := os.ReadFile(base + ".out")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(inputs) {
		t.Fatalf("%s: %d inputs but %d output lines", base, len(inputs), len(lines))
	}
	for _, line := range lines {
		var ids []int32
		for _, f := range strings.Fields(line) {
			n, err := strconv.Atoi(f)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, int32(n))
		}
		want = append(want, ids)
	}
	return inputs, want
}

// TestVocabVectors checks every vocabulary with llama.cpp test vectors:
// ids without BOS, special text not parsed, as test-tokenizer-0 runs.
func TestVocabVectors(t *testing.T) {
	dir := filepath.Dir(testmodels.Model(t, "vocab/ggml-vocab-llama-spm.gguf"))
	paths, _ := filepath.Glob(filepath.Join(dir, "*.gguf"))
	for _, path := range paths {
		if _, err := os.Stat(path + ".inp"); err != nil {
			continue
		}
		name := strings.TrimSuffix(filepath.Base(path), ".gguf")
		t.Run(name, func(t *testing.T) {
			tok := load(t, path)
			inputs, want := readVectors(t, path)
			failed := 0
			for i, in := range inputs {
				got, err := tok.Encode(in, false, false)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, want[i]) {
					failed++
					if failed <= 3 {
						t.Errorf("%q:\n got %v\nwant %v", in, got, want[i])
					}
				}
			}
			if failed > 0 {
				t.Errorf("%d of %d vectors differ", failed, len(inputs))
			}
		})
	}
}

// TestReferenceTokenize checks the models' own tokenizers against
// llama.cpp's tokenize.tsv: with the default BOS/CLS handling and without.
func TestReferenceTokenize(t *testing.T) {
	for _, tc := range []struct{ model, ref string }{
		{"llama/stories260K.gguf", "stories260K"},
		{"llama/llama-2-tiny-random.gguf", "llama-2-tiny-random"},
		{"embed/all-MiniLM-L6-v2-Q4_K_M.gguf", "all-MiniLM-L6-v2"},
	} {
		t.Run(tc.ref, func(t *testing.T) {
			tok := load(t, testmodels.Model(t, tc.model))
			f, err := os.Open(testmodels.Reference(t, tc.ref+"/tokenize.tsv"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			sc := bufio.NewScanner(f)
			rows := 0
			for sc.Scan() {
				cols := strings.Split(sc.Text(), "\t")
				if len(cols) != 3 {
					t.Fatalf("bad row %q", sc.Text())
				}
				var text string
				var with, without []int32
				for i, dst := range []any{&text, &with, &without} {
					if err := json.Unmarshal([]byte(cols[i]), dst); err != nil {
						t.Fatal(err)
					}
				}
				for _, c := range []struct {
					special bool
					want    []int32
				}{{true, with}, {false, without}} {
					got, err := tok.Encode(text, c.special, false)
					if err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(got, c.want) {
						t.Errorf("%q (special %v):\n got %v\nwant %v", text, c.special, got, c.want)
					}
				}
				rows++
			}
			if rows == 0 {
				t.Fatal("no rows")
			}
		})
	}
}

// FuzzEncode feeds arbitrary text to each tokenizer model: no panic, ids in
// range, and for SPM and BPE the text decodes back.
func FuzzEncode(f *testing.F) {
	toks := map[string]*Tokenizer{
		"spm":  load(f, testmodels.Model(f, "vocab/ggml-vocab-llama-spm.gguf")),
		"bpe":  load(f, testmodels.Model(f, "vocab/ggml-vocab-gpt-2.gguf")),
		"wpm":  load(f, testmodels.Model(f, "vocab/ggml-vocab-bert-bge.gguf")),
		"deep": load(f, testmodels.Model(f, "vocab/ggml-vocab-deepseek-llm.gguf")),
	}
	inputs, _ := readVectors(f, testmodels.Model(f, "vocab/ggml-vocab-llama-spm.gguf"))
	for _, in := range inputs {
		f.Add(in, true)
	}
	f.Add("\xff\xfe<|endoftext|>\x00", false)
	f.Fuzz(func(t *testing.T, text string, special bool) {
		for name, tok := range toks {
			ids, err := tok.Encode(text, special, special)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			for _, id := range ids {
				if id < 0 || int(id) >= tok.VocabSize() {
					t.Fatalf("%s: id %d out of range", name, id)
				}
			}
			dec := tok.Decode(ids)
			if !utf8.ValidString(dec) {
				t.Fatalf("%s: decoded text is not valid UTF-8", name)
			}
			if name == "bpe" && utf8.ValidString(text) && !special && dec != text {
				t.Fatalf("bpe: Decode(Encode(%q)) = %q", text, dec)
			}
		}
	})
}

// FuzzSpec builds tokenizers from arbitrary metadata: New must refuse or
// build one that encodes without panicking.
func FuzzSpec(f *testing.F) {
	f.Add("a\x00b\x00ab\x00<0x41>", "a b", byte(1), "ab ba")
	f.Add("\xe2\x96\x81\x00x\x00", "", byte(0), "x x")
	f.Fuzz(func(t *testing.T, vocab, merges string, model byte, text string) {
		s := defaultSpec([]string{ModelSPM, ModelBPE, ModelWPM}[int(model)%3])
		s.Tokens = strings.Split(vocab, "\x00")
		if merges != "" {
			s.Merges = strings.Split(merges, "\x00")
		}
		s.Pre = "gpt2"
		s.BOS, s.EOS, s.UNK = -1, -1, -1
		tok, err := New(s)
		if err != nil {
			return
		}
		ids, err := tok.Encode(text, true, true)
		if err != nil {
			return
		}
		for _, id := range ids {
			if id < 0 || int(id) >= tok.VocabSize() {
				t.Fatalf("id %d out of range", id)
			}
		}
		_ = tok.Decode(ids)
	})
}
