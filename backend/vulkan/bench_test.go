package vulkan

import (
	"testing"

	"github.com/vkinfer/vkinfer/internal/opstest"
	"github.com/vkinfer/vkinfer/sampling"
)

// benchModels are the shared models llama.cpp's Vulkan backend was
// measured on (../shared/reference/README.md).
var benchModels = []struct{ name, rel string }{
	{"stories260K", "llama/stories260K.gguf"},
	{"tiny-random", "llama/llama-2-tiny-random.gguf"},
}

// BenchmarkDecode: one token per step, forward pass and greedy draw in
// one submit. With VKINFER_PROFILE=1 it logs the GPU time per op.
func BenchmarkDecode(b *testing.B) {
	for _, bm := range benchModels {
		b.Run(bm.name, func(b *testing.B) {
			s := session(b, opstest.Kernels(b), loadModel(b, bm.rel), 512)
			smp, _ := sampling.New(sampling.Greedy())
			if err := s.Eval([]int32{1}, 0); err != nil {
				b.Fatal(err)
			}
			if _, err := s.Sample(smp); err != nil {
				b.Fatal(err)
			}
			e := s.Executor().(*Executor)
			e.TakeProfile()
			tok := []int32{403}
			i := 0
			for b.Loop() {
				if err := s.Eval(tok, 1+i%64); err != nil {
					b.Fatal(err)
				}
				if _, err := s.Sample(smp); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
			for _, op := range e.TakeProfile() {
				b.Logf("%-16s %6d calls %10v", op.Op, op.Calls, op.Time)
			}
		})
	}
}

// BenchmarkPrefill128: a 128-token prompt in one step, logits read back.
func BenchmarkPrefill128(b *testing.B) {
	prompt := make([]int32, 128)
	for i := range prompt {
		prompt[i] = int32(1 + (i*37)%250)
	}
	for _, bm := range benchModels {
		b.Run(bm.name, func(b *testing.B) {
			s := session(b, opstest.Kernels(b), loadModel(b, bm.rel), 512)
			for b.Loop() {
				if err := s.Eval(prompt, 0); err != nil {
					b.Fatal(err)
				}
				if _, err := s.Logits(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(prompt))/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}
