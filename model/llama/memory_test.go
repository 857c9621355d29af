package llama

import (
	"testing"

	"github.com/vkinfer/vkinfer/model"
)

func TestMemory(t *testing.T) {
	// stories260K: 5 layers, embedding 64, 8 heads (4 for KV) of 8, FFN
	// 172, vocabulary 512, trained context 2048, 1171200 bytes of tensors.
	// llama-2-tiny-random: 1 layer, embedding 8, 2 heads of 4, FFN 32,
	// vocabulary 32000, context 4096.
	tests := []struct {
		model                string
		ctx, kvBytes, batch  int
		weights, kv, scratch uint64
	}{
		{"llama/stories260K.gguf", 2048, 4, 512, 1171200, 2 * 5 * 2048 * 32 * 4, 4 * (512*(4*64+2*32+2*172) + 8*2048 + 512)},
		{"llama/stories260K.gguf", 256, 2, 64, 1171200, 2 * 5 * 256 * 32 * 2, 4 * (64*(4*64+2*32+2*172) + 8*256 + 512)},
		{"llama/llama-2-tiny-random.gguf", 128, 4, 512, 1026144, 2 * 1 * 128 * 8 * 4, 4 * (128*(4*8+2*8+2*32) + 2*128 + 32000)},
	}
	for _, tt := range tests {
		m := loadModel(t, tt.model)
		got := m.Memory(tt.ctx, tt.batch, tt.kvBytes)
		if want := (model.Memory{Weights: tt.weights, KVCache: tt.kv, Scratch: tt.scratch}); got != want {
			t.Errorf("%s ctx %d: %+v, want %+v", tt.model, tt.ctx, got, want)
		}
	}
}
