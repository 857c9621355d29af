package gemma

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
	{"reference", 0.02, 0.1}, // 0.0113/0.0668
	{"cpu", 0.02, 0.1},       // 0.0133/0.0548
	{"vulkan", 0.04, 0.1},    // 0.0257/0.0710
}

// TestOracle holds gemma.gguf to llama.cpp on both public prompts, on
// every executor.
func TestOracle(t *testing.T) {
	for _, bd := range bounds {
		for _, prompt := range archtest.Prompts {
			t.Run(bd.exec+"/"+prompt, func(t *testing.T) {
				ref := archtest.Load(t, "gemma", prompt)
				s := archtest.Session(t, archtest.Open(t, "gemma", bd.exec), 128)
				archtest.Check(t, s, ref, bd.prompt, bd.steps)
			})
		}
	}
}
