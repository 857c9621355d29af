package model_test

import (
	"errors"
	"testing"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/internal/testgguf"
	"github.com/vkinfer/vkinfer/model"
)

// TestMetaDecoder reads a decoder's hyper-parameters from metadata and
// refuses shapes that cannot run.
func TestMetaDecoder(t *testing.T) {
	base := map[string]uint32{
		"t.embedding_length": 64, "t.block_count": 2, "t.feed_forward_length": 128, "t.context_length": 256,
		"t.attention.head_count": 4, "t.attention.head_count_kv": 2,
	}
	tests := []struct {
		name      string
		set       map[string]uint32
		drop      string
		keyLength bool
		want      model.DecoderParams
		err       error
	}{
		{name: "head dim from the embedding", want: model.DecoderParams{Vocab: 8, Dim: 64, Layers: 2, FFN: 128, ContextLength: 256,
			Heads: 4, KVHeads: 2, HeadDim: 16, RopeDim: 16, NormEps: 1e-5, RopeBase: 10000}},
		{name: "head dim from key_length", keyLength: true, set: map[string]uint32{"t.attention.key_length": 32, "t.rope.dimension_count": 8},
			want: model.DecoderParams{Vocab: 8, Dim: 64, Layers: 2, FFN: 128, ContextLength: 256,
				Heads: 4, KVHeads: 2, HeadDim: 32, RopeDim: 8, NormEps: 1e-5, RopeBase: 10000}},
		{name: "key_length required", keyLength: true, err: gguf.ErrNotFound},
		{name: "embedding required", drop: "t.embedding_length", err: gguf.ErrNotFound},
		{name: "kv heads do not divide", set: map[string]uint32{"t.attention.head_count_kv": 3}, err: model.ErrShape},
		{name: "heads do not divide the embedding", set: map[string]uint32{"t.attention.head_count": 3, "t.attention.head_count_kv": 3}, err: model.ErrShape},
		{name: "odd rope dimension", set: map[string]uint32{"t.rope.dimension_count": 7}, err: model.ErrShape},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := gguf.NewBuilder()
			b.SetString("general.architecture", "t")
			for k, v := range base {
				if k != tc.drop {
					b.SetUint32(k, v)
				}
			}
			for k, v := range tc.set {
				b.SetUint32(k, v)
			}
			if err := b.AddTensor("token_embd.weight", gguf.TypeF32, []uint64{64, 8}, make([]byte, 64*8*4)); err != nil {
				t.Fatal(err)
			}
			m := &model.Meta{F: testgguf.Write(t, b), Arch: "t"}
			got := m.Decoder(tc.keyLength, 1e-5)
			if !errors.Is(m.Err, tc.err) || tc.err == nil && m.Err != nil {
				t.Fatalf("error %v, want %v", m.Err, tc.err)
			}
			if tc.err == nil && got != tc.want {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}
