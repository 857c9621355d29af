package bert

import (
	"errors"
	"testing"
)

func TestLoadSynth(t *testing.T) {
	m := newSynth(6).load(t)
	want := Config{
		Blocks: synthBlocks, Embd: synthEmbd, FFN: synthFFN, Heads: synthHeads, HeadDim: synthEmbd / synthHeads,
		NormEps: 1e-12, ContextLength: synthCtx, Pooling: PoolingMean, Causal: false,
		Vocab: synthVocab, TokenTypes: 2, SepID: synthSep,
	}
	if m.Config != want {
		t.Errorf("Config = %+v\nwant     %+v", m.Config, want)
	}
	if got := m.MaxTokens(); got != synthCtx {
		t.Errorf("MaxTokens = %d, want %d", got, synthCtx)
	}
	if len(m.Layers) != synthBlocks || m.Layers[1].FFNDown.Name != "blk.1.ffn_down.weight" {
		t.Errorf("layers not loaded: %d layers", len(m.Layers))
	}
	ts := m.Tensors()
	if len(ts) != len(newSynth(6).tensors) {
		t.Errorf("Tensors: %d, want %d", len(ts), len(newSynth(6).tensors))
	}
	seen := map[string]bool{}
	for _, x := range ts {
		if seen[x.Name] || x.Name == "" {
			t.Errorf("Tensors: %q twice or unnamed", x.Name)
		}
		seen[x.Name] = true
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name   string
		change func(s *synth)
		want   error
	}{
		{"other architecture", func(s *synth) { s.meta["general.architecture"] = "nomic-bert" }, ErrUnsupported},
		{"no block count", func(s *synth) { delete(s.meta, "bert.block_count") }, ErrModel},
		{"no epsilon", func(s *synth) { delete(s.meta, "bert.attention.layer_norm_epsilon") }, ErrModel},
		{"epsilon of wrong type", func(s *synth) { s.meta["bert.attention.layer_norm_epsilon"] = "small" }, ErrModel},
		{"zero heads", func(s *synth) { s.meta["bert.attention.head_count"] = uint32(0) }, ErrModel},
		{"heads do not divide", func(s *synth) { s.meta["bert.attention.head_count"] = uint32(3) }, ErrModel},
		{"rank pooling", func(s *synth) { s.meta["bert.pooling_type"] = uint32(PoolingRank) }, ErrUnsupported},
		{"unknown pooling", func(s *synth) { s.meta["bert.pooling_type"] = uint32(9) }, ErrUnsupported},
		{"causal of wrong type", func(s *synth) { s.meta["bert.attention.causal"] = uint32(1) }, ErrModel},
		{"missing tensor", func(s *synth) { delete(s.tensors, "blk.1.ffn_up.bias") }, ErrModel},
		{"missing position embeddings", func(s *synth) { delete(s.tensors, "position_embd.weight") }, ErrModel},
		{"wrong matrix shape", func(s *synth) {
			s.tensors["blk.0.attn_k.weight"] = synthTensor{[]int{synthEmbd, synthEmbd + 1}, make([]float32, synthEmbd*(synthEmbd+1))}
		}, ErrModel},
		{"context longer than positions", func(s *synth) { s.meta["bert.context_length"] = uint32(synthCtx + 1) }, ErrModel},
		{"more blocks than tensors", func(s *synth) { s.meta["bert.block_count"] = uint32(synthBlocks + 1) }, ErrModel},
		{"absurd block count", func(s *synth) { s.meta["bert.block_count"] = uint32(1 << 24) }, ErrModel},
		{"separator outside vocabulary", func(s *synth) { s.meta["tokenizer.ggml.seperator_token_id"] = uint32(synthVocab) }, ErrModel},
		{"unknown math key", func(s *synth) { s.meta["bert.attention.sliding_window"] = uint32(128) }, ErrUnsupported},
		{"unknown tensor", func(s *synth) {
			s.tensors["blk.0.attn_q_norm.weight"] = synthTensor{[]int{synthEmbd}, make([]float32, synthEmbd)}
		}, ErrUnsupported},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSynth(7)
			tc.change(s)
			m, err := Load(s.file(t))
			if !errors.Is(err, tc.want) {
				t.Fatalf("Load: error %v, want %v", err, tc.want)
			}
			if testing.Verbose() {
				t.Log(err)
			}
			if m != nil {
				t.Errorf("Load returned a model with error %v", err)
			}
		})
	}
}

// TestLoadOptionalKeys checks the defaults llama.cpp uses when pooling,
// causality, the separator and token types are absent.
func TestLoadOptionalKeys(t *testing.T) {
	s := newSynth(8)
	delete(s.meta, "bert.pooling_type")
	delete(s.meta, "bert.attention.causal")
	delete(s.meta, "tokenizer.ggml.seperator_token_id")
	delete(s.tensors, "token_types.weight")
	m := s.load(t)
	c := m.Config
	if c.Pooling != PoolingNone || c.Causal || c.SepID != -1 || c.TokenTypes != 0 {
		t.Errorf("defaults: pooling %s, causal %v, sep %d, token types %d; want none, false, -1, 0", c.Pooling, c.Causal, c.SepID, c.TokenTypes)
	}
	if _, err := m.EmbedTokens(cpuEncoder(t, m, 16), [][]int32{{1, 2, 3}}, Options{}); err != nil {
		t.Errorf("EmbedTokens without token types: %v", err)
	}
}
