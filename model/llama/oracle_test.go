package llama

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"testing"

	"github.com/vkinfer/vkinfer/internal/testmodels"
	"github.com/vkinfer/vkinfer/model"
)

// archReference is one of llama.cpp's runs on a tiny random-weight model
// in ../shared/reference/arch (its README gives the format).
type archReference struct {
	PromptIDs    []int32 `json:"prompt_ids"`
	GeneratedIDs []int32 `json:"generated_ids"`
	Steps        []struct {
		Top [][2]float64 `json:"top"` // (id, logit), best first
	} `json:"steps"`
	LastPromptLogits []float32 `json:"last_prompt_logits"`
}

func loadArchReference(t testing.TB, model, prompt string) archReference {
	t.Helper()
	b, err := os.ReadFile(testmodels.Reference(t, fmt.Sprintf("arch/%s.%s.json", model, prompt)))
	if err != nil {
		t.Fatal(err)
	}
	var r archReference
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Steps) != len(r.GeneratedIDs) || len(r.GeneratedIDs) == 0 {
		t.Fatalf("%s/%s: %d steps for %d ids", model, prompt, len(r.Steps), len(r.GeneratedIDs))
	}
	return r
}

// archPrompts are the two public prompts of the arch references.
var archPrompts = []string{"once_upon_a_time", "the_little_girl_saw_a_big"}

// oracleModel is an arch model this package runs, with bounds on the
// largest |logit - llama.cpp's| (see checkOracle) per backend. A zero
// bound skips that backend: the reference session keeps activations in
// f32 where llama.cpp quantizes them (the quantized models), by design.
type oracleModel struct {
	name                string
	ref, graph, cpu, vk oracleBound
}

// oracleBound bounds the largest difference over the last prompt
// position's logits row, and over the top ten of every step.
type oracleBound struct{ prompt, steps float64 }

// checkOracle holds s to llama.cpp's run ref:
//   - the last prompt position's whole logits row within promptTol;
//   - each of the generated steps, evaluated on llama.cpp's own ids
//     (teacher forcing: a near-tie cannot derail the steps after it), with
//     the top ten logits within stepTol and the greedy id equal to
//     llama.cpp's, or else its second or third choice, closer to its first
//     than twice this step's own largest difference.
//
// Free-running greedy ids are not held equal for all 32 steps: on these
// chaotic random-weight models a 1e-7 difference (a summation order, one
// ulp of an exp) crosses an f16 or int8 rounding step now and then and
// moves the logits by tenths. llama.cpp's own build of the same version,
// on an AVX-512 machine, parts from these references at margins of
// 0.09-0.47 in 7 of the 12 runs checked here.
func checkOracle(t *testing.T, s model.Session, ref archReference, promptTol, stepTol float64) {
	t.Helper()
	if err := s.Eval(ref.PromptIDs, 0); err != nil {
		t.Fatal(err)
	}
	pos := len(ref.PromptIDs)
	var worstStep float64
	ties := 0
	for step, want := range ref.GeneratedIDs {
		logits, err := s.Logits()
		if err != nil {
			t.Fatal(err)
		}
		if step == 0 {
			var worst float64
			for i, l := range ref.LastPromptLogits {
				worst = max(worst, math.Abs(float64(logits[i])-float64(l)))
			}
			t.Logf("last prompt logits: max |diff| %.3g (bound %g)", worst, promptTol)
			if !(worst <= promptTol) {
				t.Errorf("last prompt logits differ from llama.cpp's by up to %.4g > %g", worst, promptTol)
			}
		}
		top := ref.Steps[step].Top
		var diff float64
		for _, e := range top {
			diff = max(diff, math.Abs(float64(logits[int(e[0])])-e[1]))
		}
		worstStep = max(worstStep, diff)
		if got := int32(argmax(logits)); got != want {
			// Ours must be one of llama.cpp's next choices, behind its first
			// by less than this step's difference from it could reorder.
			margin := math.Inf(1)
			for _, e := range top[1:3] {
				if int32(e[0]) == got {
					margin = top[0][1] - e[1]
				}
			}
			if !(margin < 2*diff) {
				t.Errorf("step %d: id %d, llama.cpp chose %d (our largest difference %.4g, top %v)", step, got, want, diff, top[:3])
			}
			ties++
		}
		if step == len(ref.GeneratedIDs)-1 {
			break
		}
		if err := s.Eval([]int32{want}, pos); err != nil {
			t.Fatal(err)
		}
		pos++
	}
	t.Logf("%d steps: top-10 logits max |diff| %.3g (bound %g); %d near-ties chosen the other way", len(ref.GeneratedIDs), worstStep, stepTol, ties)
	if !(worstStep <= stepTol) {
		t.Errorf("step logits differ from llama.cpp's by up to %.4g > %g", worstStep, stepTol)
	}
}

// argmax returns the index of the largest value, the lowest on a tie (as
// llama.cpp's reference runs break ties).
func argmax(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

// TestArchOracleCPU holds the reference session, the graph on
// compute.Reference and the graph on the CPU backend to llama.cpp on the
// arch models this package runs.
func TestArchOracleCPU(t *testing.T) {
	for _, om := range oracleModels {
		for _, prompt := range archPrompts {
			ref := loadArchReference(t, om.name, prompt)
			for _, be := range []struct {
				backend
				bound oracleBound
			}{{reference, om.ref}, {graphReference, om.graph}, {cpuBackend, om.cpu}} {
				if be.bound.prompt == 0 {
					continue
				}
				t.Run(om.name+"/"+prompt+"/"+be.name, func(t *testing.T) {
					m := loadModel(t, "arch/"+om.name+".gguf")
					checkOracle(t, be.open(t, m, 128), ref, be.bound.prompt, be.bound.steps)
				})
			}
		}
	}
}

// TestArchOracleVulkan holds the graph on the Vulkan backend to llama.cpp
// likewise.
func TestArchOracleVulkan(t *testing.T) {
	for _, om := range oracleModels {
		if om.vk.prompt == 0 {
			continue
		}
		for _, prompt := range archPrompts {
			ref := loadArchReference(t, om.name, prompt)
			t.Run(om.name+"/"+prompt, func(t *testing.T) {
				m := loadModel(t, "arch/"+om.name+".gguf")
				checkOracle(t, vulkanBackend.open(t, m, 128), ref, om.vk.prompt, om.vk.steps)
			})
		}
	}
}

// oracleModels' bounds sit above what was measured (in the comments) and,
// for the prompt, far below what a wrong rotation gives (6 to 12 without
// rope_freqs). The graph's prompt rows, on compute.Reference and on the
// CPU, equal llama.cpp's to float32 noise once they follow llama.cpp's
// roundings; their steps part further, as rounding steps crossed in
// decoding compound (see checkOracle): compute.Reference sums in float64,
// not in ggml's order, and crosses more of them on llama3-Q5_K_M.
//
// The Vulkan executor follows the same roundings but sums in its own
// order, so it crosses an f16 or int8 rounding step now and then where
// the CPU (whose sums follow ggml's) does not: the F16 models' rows part
// by 1e-2 from the second prompt position on (one token at a time they
// stay within 2e-5 of the CPU for the first four), and llama3-Q6_K's
// second prompt crosses a Q8_K step at position 8 (1.2, settling to 0.39
// by the last row). The other quantized rows equal llama.cpp's to 2e-5.
var oracleModels = []oracleModel{
	// reference 0.0066/0.039, graph 0.00088/0.039, CPU 0.00012/0.020, Vulkan 0.0152/0.0301
	{"llama3", oracleBound{0.02, 0.1}, oracleBound{2e-3, 0.1}, oracleBound{1e-3, 0.1}, oracleBound{0.03, 0.1}},
	// reference 0.0057/0.014, graph 0.0063/0.012, CPU 0.0063/0.0055, Vulkan 0.0129/0.0118
	{"qwen2", oracleBound{0.02, 0.05}, oracleBound{0.02, 0.05}, oracleBound{0.02, 0.05}, oracleBound{0.03, 0.05}},
	// graph 1.9e-6/0.40, CPU 3.8e-6/0.42, Vulkan 2.9e-6/0.71
	{"llama3-Q8_0", oracleBound{}, oracleBound{1e-4, 1}, oracleBound{1e-4, 1}, oracleBound{1e-4, 1.5}},
	// graph 1.9e-6/0.74, CPU 7.6e-6/1.21, Vulkan 7.6e-6 and 0.392 (see above)/1.55
	{"llama3-Q6_K", oracleBound{}, oracleBound{1e-4, 1.5}, oracleBound{1e-4, 2}, oracleBound{0.6, 2.5}},
	// graph 5.7e-6/2.44, CPU 7.6e-6/1.29, Vulkan 1.5e-5/1.47
	{"llama3-Q5_K_M", oracleBound{}, oracleBound{1e-4, 3}, oracleBound{1e-4, 2}, oracleBound{1e-4, 2.5}},
	// graph 3.8e-6/0.13, CPU 9.5e-6/0.31, Vulkan 7.6e-6/1.22
	{"llama3-Q4_K_M", oracleBound{}, oracleBound{1e-4, 1}, oracleBound{1e-4, 1}, oracleBound{1e-4, 2}},
}
