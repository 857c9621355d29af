package vulkan

import (
	"math"
	"testing"

	"github.com/vkinfer/vkinfer/internal/opstest"
)

// TestBatchInvariantLogits holds a token's logits to the same bits
// whether the token was decoded alone (every product on matvec's single
// input path) or came last in a prompt (the products tiled on the matmul
// shader, the batch's other rows beside it), after the same cache
// contents, which the two prompts before it write in batches of
// different sizes.
func TestBatchInvariantLogits(t *testing.T) {
	k := opstest.Kernels(t)
	if k.TiledFrom == 0 {
		t.Fatal("the matmul shader is off")
	}
	for _, rel := range []string{"llama/stories260K.gguf", "llama/llama-2-tiny-random.gguf"} {
		t.Run(rel, func(t *testing.T) {
			m := loadModel(t, rel)
			prompt := make([]int32, 40)
			for i := range prompt {
				prompt[i] = int32(1 + (i*37)%min(500, m.Config.VocabSize-1))
			}
			last := len(prompt) - 1
			// The whole prompt in one batch.
			whole := session(t, k, m, 64)
			if err := whole.Eval(prompt, 0); err != nil {
				t.Fatal(err)
			}
			want, err := whole.Logits()
			if err != nil {
				t.Fatal(err)
			}
			// All but the last token in batches of 25 and 14, then the last
			// token alone.
			split := session(t, k, m, 64)
			for _, step := range []struct{ lo, hi int }{{0, 25}, {25, last}, {last, last + 1}} {
				if err := split.Eval(prompt[step.lo:step.hi], step.lo); err != nil {
					t.Fatal(err)
				}
			}
			got, err := split.Logits()
			if err != nil {
				t.Fatal(err)
			}
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("logit %d: %v alone, %v at the end of a batch of %d", i, got[i], want[i], len(prompt))
				}
			}
		})
	}
}
