package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/engine/enginetest"
	"github.com/vkinfer/vkinfer/internal/testmodels"
	"github.com/vkinfer/vkinfer/sampling"
)

type reference struct {
	PromptIDs    []int32 `json:"prompt_ids"`
	GeneratedIDs []int32 `json:"generated_ids"`
}

// stories loads the stories260K model.
func stories(t testing.TB) *enginetest.Model {
	t.Helper()
	m, err := enginetest.Load(testmodels.Model(t, "llama/stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// collect runs req and returns the chunks, checking each is valid UTF-8.
func collect(t *testing.T, e *engine.Engine, req engine.Request) ([]engine.Chunk, engine.Result, error) {
	t.Helper()
	var chunks []engine.Chunk
	res, err := e.Generate(context.Background(), req, func(c engine.Chunk) error {
		if !utf8.ValidString(c.Text) {
			t.Errorf("chunk text %q is not valid UTF-8", c.Text)
		}
		chunks = append(chunks, c)
		return nil
	})
	return chunks, res, err
}

func joined(chunks []engine.Chunk) (string, []int32) {
	var b strings.Builder
	var ids []int32
	for _, c := range chunks {
		b.WriteString(c.Text)
		ids = append(ids, c.Tokens...)
	}
	return b.String(), ids
}

func readReference(t testing.TB) reference {
	data, err := os.ReadFile(testmodels.Reference(t, "stories260K/cpu.completion.ids.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref reference
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	return ref
}

// Greedy generation through the engine reproduces llama.cpp's 64 tokens
// and their text.
func TestStoriesGreedy(t *testing.T) {
	m := stories(t)
	ref := readReference(t)
	wantText, err := os.ReadFile(testmodels.Reference(t, "stories260K/cpu.completion.txt"))
	if err != nil {
		t.Fatal(err)
	}
	e := engine.New(m.NewSession(256), m.Tokenizer(), engine.Options{BatchSize: 2})
	chunks, res, err := collect(t, e, engine.Request{Prompt: "Once upon a time", Params: sampling.Greedy(), MaxTokens: 64})
	if err != nil {
		t.Fatal(err)
	}
	text, ids := joined(chunks)
	if !slices.Equal(ids, ref.GeneratedIDs) {
		t.Errorf("ids\n got %v\nwant %v", ids, ref.GeneratedIDs)
	}
	// The reference file is the prompt and completion plus newlines.
	want := strings.TrimRight(strings.TrimPrefix(string(wantText), " Once upon a time"), "\n")
	if text != want {
		t.Errorf("text\n got %q\nwant %q", text, want)
	}
	if res.PromptTokens != len(ref.PromptIDs) || res.GeneratedTokens != 64 || res.StopReason != engine.StopMaxTokens {
		t.Errorf("result %+v", res)
	}
}

// A request that extends the previous conversation reuses the KV cache and
// produces exactly what a fresh session produces.
func TestStoriesPromptCache(t *testing.T) {
	m := stories(t)
	cached := engine.New(m.NewSession(256), m.Tokenizer(), engine.Options{})
	fresh := engine.New(m.NewSession(256), m.Tokenizer(), engine.Options{})
	first := engine.Request{Prompt: "Once upon a time", Params: sampling.Greedy(), MaxTokens: 20}
	chunks, _, err := collect(t, cached, first)
	if err != nil {
		t.Fatal(err)
	}
	story, _ := joined(chunks)
	second := engine.Request{Prompt: "Once upon a time" + story + " Then", Params: sampling.Greedy(), MaxTokens: 20}
	c1, r1, err := collect(t, cached, second)
	if err != nil {
		t.Fatal(err)
	}
	c2, r2, err := collect(t, fresh, second)
	if err != nil {
		t.Fatal(err)
	}
	t1, ids1 := joined(c1)
	t2, ids2 := joined(c2)
	if !slices.Equal(ids1, ids2) || t1 != t2 {
		t.Errorf("cached run %q differs from fresh run %q", t1, t2)
	}
	// The first prompt and (at least most of) its completion are reused:
	// re-tokenizing the text may merge differently at the seam.
	if r2.CachedTokens != 0 || r1.CachedTokens < 5+15 || r1.CachedTokens >= r1.PromptTokens {
		t.Errorf("cached %d of %d prompt tokens (fresh %d)", r1.CachedTokens, r1.PromptTokens, r2.CachedTokens)
	}
}

func TestStoriesStopRules(t *testing.T) {
	m := stories(t)
	tests := []struct {
		name   string
		ctx    int
		req    engine.Request
		text   string
		tokens int
		reason engine.StopReason
	}{
		{"stop string", 256, engine.Request{Prompt: "Once upon a time", Params: sampling.Greedy(), Stop: []string{"Lily"}},
			", there was a little girl named ", 10, engine.StopString},
		{"context full", 16, engine.Request{Prompt: "Once upon a time", Params: sampling.Greedy()},
			", there was a little girl named Lily. She", 12, engine.StopContextFull},
		{"max tokens", 256, engine.Request{Prompt: "Once upon a time", Params: sampling.Greedy(), MaxTokens: 3},
			", there was", 3, engine.StopMaxTokens},
	}
	for _, tt := range tests {
		e := engine.New(m.NewSession(tt.ctx), m.Tokenizer(), engine.Options{})
		chunks, res, err := collect(t, e, tt.req)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		text, ids := joined(chunks)
		if text != tt.text || len(ids) != tt.tokens || res.StopReason != tt.reason {
			t.Errorf("%s: %q, %d tokens, %s; want %q, %d, %s", tt.name, text, len(ids), res.StopReason, tt.text, tt.tokens, tt.reason)
		}
	}
	e := engine.New(m.NewSession(4), m.Tokenizer(), engine.Options{})
	if _, _, err := collect(t, e, engine.Request{Prompt: "Once upon a time", Params: sampling.Greedy()}); !errors.Is(err, engine.ErrPromptTooLong) {
		t.Errorf("5-token prompt in a 4-token context: %v", err)
	}
}

func TestStoriesSeeded(t *testing.T) {
	m := stories(t)
	run := func(seed uint64) string {
		p := sampling.Defaults()
		p.Seed = seed
		e := engine.New(m.NewSession(128), m.Tokenizer(), engine.Options{})
		chunks, _, err := collect(t, e, engine.Request{Prompt: "Once upon a time", Params: p, MaxTokens: 40})
		if err != nil {
			t.Fatal(err)
		}
		text, _ := joined(chunks)
		return text
	}
	a, b, c := run(1), run(1), run(2)
	if a != b {
		t.Errorf("seed 1 twice: %q and %q", a, b)
	}
	if a == c {
		t.Errorf("seeds 1 and 2 both gave %q", a)
	}
}

// BenchmarkOverheadStories is the engine's cost on the real model: a raw
// Eval+Sample loop against Generate on the same session (issue 5 asks for
// under 2%).
func BenchmarkOverheadStories(b *testing.B) {
	m := stories(b)
	enginetest.Overhead(b, m.NewSession(512), m.Tokenizer(), "Once upon a time", 200)
}

// BenchmarkPromptCache measures a follow-up request whose ~200-token prompt
// extends the previous one, with the cache and with the cache reset.
func BenchmarkPromptCache(b *testing.B) {
	m := stories(b)
	e := engine.New(m.NewSession(512), m.Tokenizer(), engine.Options{})
	base := strings.Repeat("Lily and Ben went to the park. They saw a big dog! ", 12)
	req := engine.Request{Prompt: base + "Then", Params: sampling.Greedy(), MaxTokens: 1}
	warm := engine.Request{Prompt: base, Params: sampling.Greedy(), MaxTokens: 1}
	emit := func(engine.Chunk) error { return nil }
	for _, reuse := range []bool{true, false} {
		name := map[bool]string{true: "cached", false: "uncached"}[reuse]
		b.Run(name, func(b *testing.B) {
			var cachedTokens int
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				e.Reset()
				if reuse {
					if _, err := e.Generate(context.Background(), warm, emit); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				res, err := e.Generate(context.Background(), req, emit)
				if err != nil {
					b.Fatal(err)
				}
				cachedTokens = res.CachedTokens
			}
			b.ReportMetric(float64(cachedTokens), "cached-tokens")
		})
	}
}

// argmaxIDs is the reference decoding written out by hand: evaluate, take
// the logits, divide positive / multiply negative logits of the last
// lastN tokens (prompt included) by penalty, pick the largest (lowest id
// on ties). Penalty 1 is llama.cpp's greedy: argmax of the raw logits.
func argmaxIDs(t *testing.T, m *enginetest.Model, prompt string, n int, penalty float32, lastN int) []int32 {
	t.Helper()
	sess := m.NewSession(256)
	history, err := m.Tokenizer().Encode(prompt, true, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.Eval(history, 0); err != nil {
		t.Fatal(err)
	}
	var out []int32
	for len(out) < n {
		logits, err := sess.Logits()
		if err != nil {
			t.Fatal(err)
		}
		l := slices.Clone(logits)
		seen := map[int32]bool{}
		for _, id := range history[max(0, len(history)-lastN):] {
			if seen[id] {
				continue
			}
			seen[id] = true
			if l[id] > 0 {
				l[id] /= penalty
			} else {
				l[id] *= penalty
			}
		}
		best := int32(0)
		for i, x := range l {
			if x > l[best] {
				best = int32(i)
			}
		}
		out = append(out, best)
		history = append(history, best)
		if err := sess.Eval([]int32{best}, len(history)-1); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestStoriesTemperatureZero: temperature 0 with every other parameter at
// its default is argmax of the raw logits, which is llama.cpp's reference
// run; a repeat penalty the request sets is still applied. The 64-token
// run is long enough for a penalty of 1.1 to change a token.
func TestStoriesTemperatureZero(t *testing.T) {
	m := stories(t)
	ref := readReference(t)
	raw := argmaxIDs(t, m, "Once upon a time", 64, 1, 64)
	if !slices.Equal(raw, ref.GeneratedIDs) {
		t.Fatalf("argmax of the raw logits\n got %v\nwant %v", raw, ref.GeneratedIDs)
	}
	penalised := argmaxIDs(t, m, "Once upon a time", 64, 1.1, 64)
	if slices.Equal(penalised, raw) {
		t.Fatal("a repeat penalty of 1.1 changes no token in 64: the test cannot tell penalties apply")
	}
	defaults := sampling.Defaults()
	defaults.Temperature = 0
	withPenalty := defaults
	withPenalty.RepeatPenalty = 1.1
	for _, tc := range []struct {
		name   string
		params sampling.Params
		want   []int32
	}{
		{"defaults", defaults, raw},
		{"repeat_penalty 1.1", withPenalty, penalised},
	} {
		e := engine.New(m.NewSession(256), m.Tokenizer(), engine.Options{})
		chunks, _, err := collect(t, e, engine.Request{Prompt: "Once upon a time", Params: tc.params, MaxTokens: 64})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if _, ids := joined(chunks); !slices.Equal(ids, tc.want) {
			t.Errorf("%s:\n got %v\nwant %v", tc.name, ids, tc.want)
		}
	}
}
