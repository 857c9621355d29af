package cpu

import (
	"testing"

	"github.com/vkinfer/vkinfer/compute"
	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/internal/testgguf"
)

// TestMoE holds OpMoE to compute.Reference over two batches of five
// tokens, per stored type of the experts. The expert products are the
// kernels' (float32 sums) against the reference's float64 sums, as for
// matmul, through two products and a SiLU: 1e-6 relative (1.1e-7 to
// 2.4e-7 measured; go test -v logs them).
func TestMoE(t *testing.T) {
	for _, tc := range []struct {
		name              string
		typ               gguf.Type
		width, ff, expert int
		used              int
		renorm            bool
		tol               float64
	}{
		{"f32 top2 renorm", gguf.TypeF32, 64, 32, 4, 2, true, 1e-6},
		{"f16 top2 renorm", gguf.TypeF16, 64, 32, 4, 2, true, 1e-6},
		{"f16 top1", gguf.TypeF16, 64, 32, 4, 1, false, 1e-6},
		{"f16 top3 of 8", gguf.TypeF16, 64, 64, 8, 3, false, 1e-6},
		{"q8_0 top2 renorm", gguf.TypeQ8_0, 64, 64, 4, 2, true, 1e-6},
		{"q4_k top2 renorm", gguf.TypeQ4_K, 256, 256, 4, 2, true, 1e-6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := testgguf.MoE(t, tc.typ, tc.width, tc.ff, tc.expert)
			build := func(b *compute.Builder) compute.Tensor {
				x := b.GetRows(b.Weight("embd", tc.width, 16), b.Tokens())
				logits := b.MatMul(b.Weight("router", tc.width, tc.expert), x, compute.Tensor{})
				m := &compute.MoE{Experts: tc.expert, Used: tc.used, Renorm: tc.renorm}
				return b.Outputs(b.MoE(x, logits, b.Experts("gate", tc.width, tc.ff, tc.expert), b.Experts("up", tc.width, tc.ff, tc.expert),
					b.Experts("down", tc.ff, tc.width, tc.expert), m))
			}
			e, equal := runBoth(t, f, build, gguf.TypeF16, batch1, batch2)
			t.Logf("relative error %.3g, bit-equal %v", e, equal)
			if e > tc.tol {
				t.Errorf("relative error %.3g beyond %g", e, tc.tol)
			}
		})
	}
}
