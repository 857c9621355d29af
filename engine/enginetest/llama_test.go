package enginetest

import (
	"bufio"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/vkinfer/vkinfer/internal/testmodels"
	"github.com/vkinfer/vkinfer/model/sampling"
)

func TestTokenizer(t *testing.T) {
	m, err := Load(testmodels.Model(t, "llama/stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(testmodels.Reference(t, "stories260K/tokenize.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		var text string
		var withBOS, without []int32
		for i, v := range []any{&text, &withBOS, &without} {
			if err := json.Unmarshal([]byte(cols[i]), v); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range []struct {
			bos  bool
			want []int32
		}{{true, withBOS}, {false, without}} {
			got, err := m.Tokenizer().Encode(text, c.bos, false)
			if err != nil || !slices.Equal(got, c.want) {
				t.Errorf("Encode(%q, %v) = %v, %v; want %v", text, c.bos, got, err, c.want)
			}
		}
		n++
	}
	if n < 5 {
		t.Fatalf("only %d tokenizer vectors", n)
	}
}

func TestGreedyMatchesLlamaCpp(t *testing.T) {
	m, err := Load(testmodels.Model(t, "llama/stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(testmodels.Reference(t, "stories260K/cpu.completion.ids.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		PromptIDs    []int32 `json:"prompt_ids"`
		GeneratedIDs []int32 `json:"generated_ids"`
	}
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	s := m.NewSession(128)
	smp, _ := sampling.New(sampling.Greedy())
	if err := s.Eval(ref.PromptIDs, 0); err != nil {
		t.Fatal(err)
	}
	var got []int32
	for pos := len(ref.PromptIDs); len(got) < len(ref.GeneratedIDs); pos++ {
		tok, err := s.Sample(smp)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, tok)
		if err := s.Eval([]int32{tok}, pos); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(got, ref.GeneratedIDs) {
		t.Errorf("greedy ids\n got %v\nwant %v", got, ref.GeneratedIDs)
	}
	if err := s.Eval([]int32{1}, 128); err == nil {
		t.Error("Eval past the context accepted")
	}
}
