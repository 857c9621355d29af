package phi3

import (
	"testing"

	"github.com/vkinfer/vkinfer/internal/archtest"
)

// bounds on the largest |logit - llama.cpp's| per executor (see
// archtest.Check): over the last prompt row and over every step's top
// ten, above what was measured (in the comments, prompt/steps, the worse
// of the two prompts).
var bounds = []struct {
	exec          string
	prompt, steps float64
}{
	{"reference", 1e-3, 0.03}, // 1.6e-4/0.0097
	{"cpu", 1e-3, 0.03},       // 1.2e-4/0.0138
	{"vulkan", 0.01, 0.05},    // 0.0044/0.0230
}

// TestOracle holds phi3.gguf to llama.cpp on both public prompts, on
// every executor.
func TestOracle(t *testing.T) {
	for _, bd := range bounds {
		for _, prompt := range archtest.Prompts {
			t.Run(bd.exec+"/"+prompt, func(t *testing.T) {
				ref := archtest.Load(t, "phi3", prompt)
				s := archtest.Session(t, archtest.Open(t, "phi3", bd.exec), 128)
				archtest.Check(t, s, ref, bd.prompt, bd.steps)
			})
		}
	}
}
