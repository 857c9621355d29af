package llama

import (
	"errors"
	"math"
	"testing"

	"github.com/vkinfer/vkinfer/model"
)

func cosine(a, b []float32) float64 {
	var d, na, nb float64
	for i := range a {
		d += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	return d / math.Sqrt(na*nb)
}

// TestEmbed pools stories260K's hidden states on the reference, CPU and
// Vulkan sessions: every pooling type against the reference computed
// here, and the three sessions against each other.
func TestEmbed(t *testing.T) {
	m := loadModel(t, "llama/stories260K.gguf")
	tokens := loadCompletion(t, "stories260K").PromptIDs
	tokens = append(tokens, 403, 407, 261, 378, 432, 383, 286, 403, 407, 261, 378, 432, 383, 286, 403, 407, 261, 378, 432, 383, 286, 403, 407, 261, 378, 432, 383, 286, 1, 2, 3) // longer than one device batch
	ref, _ := m.NewReferenceSession(64)
	var rows [][]float32
	if err := ref.EvalHidden(tokens, func(r []float32) { rows = append(rows, append([]float32(nil), r...)) }); err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(tokens) {
		t.Fatalf("%d hidden rows for %d tokens", len(rows), len(tokens))
	}
	want := map[Pooling][]float32{PoolingFirst: rows[0], PoolingLast: rows[len(rows)-1], PoolingMean: make([]float32, m.Config.Dim)}
	for _, r := range rows {
		for i, v := range r {
			want[PoolingMean][i] += v
		}
	}
	cpu, _ := m.NewCPUSession(64)
	sessions := map[string]HiddenEvaluator{"reference": ref, "cpu": cpu, "vulkan": vulkanSession(t, m, 64)}
	for name, s := range sessions {
		for p, w := range want {
			got, err := Embed(s, tokens, p, 0)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(cosine(got, got)-1) > 1e-5 {
				t.Errorf("%s pooling %d: not unit length", name, p)
			}
			if c := cosine(got, w); c < 0.9999 {
				t.Errorf("%s pooling %d: cosine %.6f to the reference", name, p, c)
			}
		}
	}
	if m.Config.Pooling != PoolingMean {
		t.Errorf("pooling %d without pooling_type metadata, want mean", m.Config.Pooling)
	}
	cut, err := Embed(cpu, tokens[:5], PoolingMean, 16)
	if err != nil || len(cut) != 16 || math.Abs(cosine(cut, cut)-1) > 1e-5 {
		t.Errorf("dims 16: %d values, %v", len(cut), err)
	}
	if _, err := Embed(cpu, nil, PoolingMean, 0); !errors.Is(err, ErrEmbed) {
		t.Errorf("no tokens: %v", err)
	}
	if _, err := Embed(cpu, make([]int32, 65), PoolingMean, 0); !errors.Is(err, model.ErrContextFull) {
		t.Errorf("65 tokens in a context of 64: %v", err)
	}
	if _, err := Embed(cpu, tokens[:3], PoolingMean, 1000); !errors.Is(err, ErrEmbed) {
		t.Errorf("dims 1000: %v", err)
	}
}
