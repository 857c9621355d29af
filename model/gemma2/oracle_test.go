package gemma2

import (
	"testing"

	"github.com/vkinfer/vkinfer/internal/archtest"
)

// bounds on the largest |logit - llama.cpp's| per executor (see
// archtest.Check): over the last prompt row and over every step's top
// ten, above what was measured (in the comments, prompt/steps, the worse
// of the two prompts). The 26 layers amplify float32 noise more than
// gemma's 4 do, most on "the little girl" (its prompt row), which is why
// these are wider than gemma's; ignoring either soft-cap moves the logits
// by up to 9.2.
var bounds = []struct {
	exec          string
	prompt, steps float64
}{
	{"reference", 0.4, 0.2}, // 0.254/0.127
	{"cpu", 0.1, 0.1},       // 0.0562/0.0519
	{"vulkan", 0.3, 0.2},    // 0.153/0.134
}

// TestOracle holds gemma2.gguf to llama.cpp on both public prompts, on
// every executor.
func TestOracle(t *testing.T) {
	for _, bd := range bounds {
		for _, prompt := range archtest.Prompts {
			t.Run(bd.exec+"/"+prompt, func(t *testing.T) {
				ref := archtest.Load(t, "gemma2", prompt)
				s := archtest.Session(t, archtest.Open(t, "gemma2", bd.exec), 128)
				archtest.Check(t, s, ref, bd.prompt, bd.steps)
			})
		}
	}
}
