package cpu

import (
	"testing"

	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/model/llama"
)

// benchSessions are the two ways to run stories260K on the CPU, side by
// side: model/llama's CPU session and its graph on this executor.
var benchSessions = []struct {
	name string
	open func(testing.TB, *llama.Model) model.Session
}{
	{"cpu-session", func(b testing.TB, m *llama.Model) model.Session {
		s, err := m.NewCPUSession(512)
		if err != nil {
			b.Fatal(err)
		}
		return s
	}},
	{"graph", func(b testing.TB, m *llama.Model) model.Session {
		s, _ := session(b, m, 512)
		return s
	}},
}

// BenchmarkDecode measures generation like llama-bench's tg64: one token
// at a time at positions 1..64, over and over.
func BenchmarkDecode(b *testing.B) {
	m := loadModel(b, "llama/stories260K.gguf")
	for _, bs := range benchSessions {
		b.Run(bs.name, func(b *testing.B) {
			s := bs.open(b, m)
			if err := s.Eval([]int32{1}, 0); err != nil {
				b.Fatal(err)
			}
			tok := []int32{403}
			i := 0
			for b.Loop() {
				if err := s.Eval(tok, 1+i%64); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}

// BenchmarkPrefill evaluates a 128-token prompt, as llama-bench's pp128.
func BenchmarkPrefill(b *testing.B) {
	m := loadModel(b, "llama/stories260K.gguf")
	prompt := make([]int32, 128)
	for i := range prompt {
		prompt[i] = int32(1 + (i*37)%250)
	}
	for _, bs := range benchSessions {
		b.Run(bs.name, func(b *testing.B) {
			s := bs.open(b, m)
			for b.Loop() {
				if err := s.Eval(prompt, 0); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(prompt))/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}
