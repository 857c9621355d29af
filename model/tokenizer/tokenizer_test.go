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

	"github.com/vkinfer/vkinfer/internal/testmodels"
	"github.com/vkinfer/vkinfer/model/gguf"
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
