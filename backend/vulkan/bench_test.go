package vulkan

import (
	"testing"

	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/sampling"
)

// sessions are the two device sessions the benchmarks compare: the old
// hand-recorded one and the graph on the executor.
var sessions = []struct {
	name string
	open func(b *testing.B, rel string) model.Session
}{
	{"old", func(b *testing.B, rel string) model.Session {
		return oldSession(b, testKernels(b), loadModel(b, rel), 512)
	}},
	{"executor", func(b *testing.B, rel string) model.Session {
		return session(b, testKernels(b), loadModel(b, rel), 512)
	}},
}

// BenchmarkDecode: one token per step, forward pass and greedy draw in
// one submit.
func BenchmarkDecode(b *testing.B) {
	for _, sc := range sessions {
		b.Run(sc.name, func(b *testing.B) {
			s := sc.open(b, "llama/stories260K.gguf")
			smp, _ := sampling.New(sampling.Greedy())
			if err := s.Eval([]int32{1}, 0); err != nil {
				b.Fatal(err)
			}
			if _, err := s.Sample(smp); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := s.Eval([]int32{403}, 1+i%64); err != nil {
					b.Fatal(err)
				}
				if _, err := s.Sample(smp); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}

// BenchmarkPrefill128: a 128-token prompt in one step, logits read back.
func BenchmarkPrefill128(b *testing.B) {
	prompt := make([]int32, 128)
	for i := range prompt {
		prompt[i] = int32(1 + (i*37)%250)
	}
	for _, sc := range sessions {
		b.Run(sc.name, func(b *testing.B) {
			s := sc.open(b, "llama/stories260K.gguf")
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
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
