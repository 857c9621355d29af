package main

import (
	"context"
	"slices"
	"testing"

	"github.com/vkinfer/vkinfer/backend/cpu"
	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/internal/testmodels"
	"github.com/vkinfer/vkinfer/runner"
)

// TestKVTypeServed: a daemon started with --kv-type generates, through
// the socket, the greedy ids of a session whose cache keeps that type
// (runner with Model.KVType on the CPU backend, as the daemon with
// --device cpu), for each type; and charges the model's memory with the
// type's KV bytes: f32 less f16 is half the f32 cache, f16 less q8_0
// 30/128 of it (2 bytes a value against 34 per 32).
func TestKVTypeServed(t *testing.T) {
	prompt, _ := referenceIDs(t, "stories260K")
	m := openStories260K(t)
	models := modelsDir(t)
	memory := map[string]uint64{}
	for _, kv := range []string{"f16", "q8_0", "f32"} {
		t.Run(kv, func(t *testing.T) {
			m.KVType = kv
			want := greedyIDs(t, m, prompt, 32)
			d := startDaemon(t, models, socketPath(t), "--device", "cpu", "--kv-type", kv)
			st, err := d.client().Generate(context.Background(), greedy(32))
			if err != nil {
				t.Fatal(err)
			}
			_, ids, _, err := drain(st)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids, want) {
				t.Errorf("--kv-type %s: ids %v, want %v", kv, ids, want)
			}
			status, err := d.client().Status(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range status.Pools {
				for _, ms := range p.Models {
					if ms.Name == "stories260K" {
						memory[kv] = ms.Memory
					}
				}
			}
		})
	}
	f32, f16, q8 := memory["f32"], memory["f16"], memory["q8_0"]
	if !(f32 > f16 && f16 > q8 && (f32-f16)*30 == (f16-q8)*64) {
		t.Errorf("memory charged: f32 %d, f16 %d, q8_0 %d bytes, not in the types' proportions", f32, f16, q8)
	}
	t.Logf("memory charged: f32 %d, f16 %d, q8_0 %d bytes", f32, f16, q8)
}

// TestFlashAttnServed: a daemon started with --flash-attn generates the
// greedy ids of a session attending flash (runner with
// Model.FlashAttention on the CPU backend), and its log-probabilities
// are not the bits of a daemon without it: the flag reaches the
// executor.
func TestFlashAttnServed(t *testing.T) {
	prompt, _ := referenceIDs(t, "stories260K")
	m := openStories260K(t)
	m.FlashAttention = true
	want := greedyIDs(t, m, prompt, 32)
	models := modelsDir(t)
	logprobs := map[bool][]float32{}
	for _, flash := range []bool{true, false} {
		args := []string{"--device", "cpu"}
		if flash {
			args = append(args, "--flash-attn")
		}
		d := startDaemon(t, models, socketPath(t), args...)
		req := greedy(32)
		req.Logprobs = true
		st, err := d.client().Generate(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		var ids []int32
		for {
			ch, err := st.Next()
			if err != nil {
				break
			}
			ids = append(ids, ch.Tokens...)
			for _, lp := range ch.Logprobs {
				logprobs[flash] = append(logprobs[flash], lp.Logprob)
			}
		}
		if flash && !slices.Equal(ids, want) {
			t.Errorf("--flash-attn: ids %v, want %v", ids, want)
		}
	}
	if len(logprobs[true]) != 32 || slices.Equal(logprobs[true], logprobs[false]) {
		t.Errorf("log-probabilities with --flash-attn %v, without %v: want 32 of each, not all equal", logprobs[true], logprobs[false])
	}
}

// openStories260K opens stories260K on the CPU backend, as the daemon
// with --device cpu runs it.
func openStories260K(t *testing.T) *runner.Model {
	t.Helper()
	f, err := gguf.Open(testmodels.Model(t, "llama/stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	m, err := runner.Open(f, cpu.Backend{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

// greedyIDs returns the n ids a session of m generates greedily after
// prompt (the first largest logit each step).
func greedyIDs(t *testing.T, m *runner.Model, prompt []int32, n int) []int32 {
	t.Helper()
	s, err := m.NewSession(min(2048, m.Loaded.ContextLength()))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var ids []int32
	tokens, pos := prompt, 0
	for range n {
		if err := s.Eval(tokens, pos); err != nil {
			t.Fatal(err)
		}
		pos += len(tokens)
		lg, err := s.Logits()
		if err != nil {
			t.Fatal(err)
		}
		id := int32(slices.Index(lg, slices.Max(lg)))
		ids, tokens = append(ids, id), []int32{id}
	}
	return ids
}
