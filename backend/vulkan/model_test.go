package vulkan

import (
	"encoding/json"
	"math"
	"os"
	"testing"

	"github.com/vkinfer/vkinfer/compute"
	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/internal/testmodels"
	"github.com/vkinfer/vkinfer/internal/vktest"
	"github.com/vkinfer/vkinfer/model/llama"
	"github.com/vkinfer/vkinfer/runner"
	"github.com/vkinfer/vkinfer/sampling"
	"github.com/vkinfer/vkinfer/vk/ops"
)

func loadModel(t testing.TB, rel string) *llama.Model {
	t.Helper()
	f, err := gguf.Open(testmodels.Model(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	m, err := llama.Load(f)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// session returns a runner session of m's graph on the executor, in
// steps of llama.VulkanBatch tokens as the old device session takes, with
// m's weights uploaded on k's device up front.
func session(t testing.TB, k *ops.Kernels, m *llama.Model, ctx int) *runner.Session {
	t.Helper()
	w := NewWeights(k)
	t.Cleanup(w.Close)
	b := compute.NewBuilder(m.File, compute.BatchShape{Tokens: 1, Outputs: 1})
	g, err := b.Finish(m.Build(b))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Upload(g); err != nil {
		t.Fatal(err)
	}
	s, err := runner.New(runner.Config{File: m.File, Build: m.Build, Vocab: m.Config.VocabSize, Context: ctx, MaxBatch: llama.VulkanBatch},
		w.NewExecutor)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// oldSession returns the llama package's device session of m.
func oldSession(t testing.TB, k *ops.Kernels, m *llama.Model, ctx int) *llama.VulkanSession {
	t.Helper()
	vm, err := m.UploadVulkan(k)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(vm.Close)
	s, err := vm.NewSession(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func relErr(a, b []float32) float64 {
	var num, den float64
	for i := range a {
		d := float64(a[i] - b[i])
		num += d * d
		den += float64(b[i]) * float64(b[i])
	}
	return math.Sqrt(num / den)
}

// TestMatchesOldSession runs the llama graph on the executor beside the
// old device session, which records the same shaders by hand: a prompt
// (longer than one device step for stories260K), then decode steps. The
// two run the same shaders on the same data in the same order (the
// executor copies keys and values into the cache where the old session's
// matmuls wrote them there, which moves no bits), so the logits are held
// bit-equal.
func TestMatchesOldSession(t *testing.T) {
	k := testKernels(t)
	for _, tc := range []struct {
		rel    string
		prompt int
	}{
		{"llama/stories260K.gguf", llama.VulkanBatch + 12},
		{"llama/llama-2-tiny-random.gguf", 9},
		{"arch/llama3.gguf", 9},
		{"arch/qwen2.gguf", 9},
	} {
		t.Run(tc.rel, func(t *testing.T) {
			m := loadModel(t, tc.rel)
			const ctx = 256
			s, old := session(t, k, m, ctx), oldSession(t, k, m, ctx)
			prompt := make([]int32, tc.prompt)
			for i := range prompt {
				prompt[i] = int32(1 + (i*37)%min(500, m.Config.VocabSize-1))
			}
			steps := [][]int32{prompt, {300}, {301}, {7}}
			pos := 0
			for i, step := range steps {
				if err := s.Eval(step, pos); err != nil {
					t.Fatal(err)
				}
				if err := old.Eval(step, pos); err != nil {
					t.Fatal(err)
				}
				pos += len(step)
				got, err := s.Logits()
				if err != nil {
					t.Fatal(err)
				}
				want, err := old.Logits()
				if err != nil {
					t.Fatal(err)
				}
				differ := 0
				for j := range want {
					if math.Float32bits(got[j]) != math.Float32bits(want[j]) {
						differ++
					}
				}
				if differ > 0 {
					t.Errorf("step %d: %d of %d logits differ from the old session's (relative error %.3g)", i, differ, len(want), relErr(got, want))
				}
			}
		})
	}
}

type completion struct {
	PromptIDs    []int32 `json:"prompt_ids"`
	GeneratedIDs []int32 `json:"generated_ids"`
}

// TestGreedy holds the executor, sampling on the device, to llama.cpp's
// greedy ids for at least as many tokens as llama.cpp's own Vulkan
// backend keeps (see model/llama's TestVulkanGreedy).
func TestGreedy(t *testing.T) {
	k := testKernels(t)
	for _, tc := range []struct {
		model, ref string
		atLeast    int
	}{
		{"llama/stories260K.gguf", "stories260K", 16},
		{"llama/llama-2-tiny-random.gguf", "llama-2-tiny-random", 56},
	} {
		t.Run(tc.ref, func(t *testing.T) {
			m := loadModel(t, tc.model)
			raw, err := os.ReadFile(testmodels.Reference(t, tc.ref+"/cpu.completion.ids.json"))
			if err != nil {
				t.Fatal(err)
			}
			var want completion
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatal(err)
			}
			got, err := llama.Greedy(session(t, k, m, 256), want.PromptIDs, len(want.GeneratedIDs))
			if err != nil {
				t.Fatal(err)
			}
			same := 0
			for same < len(want.GeneratedIDs) && got[same] == want.GeneratedIDs[same] {
				same++
			}
			t.Logf("%d of %d ids equal llama.cpp's", same, len(want.GeneratedIDs))
			if same < tc.atLeast {
				t.Fatalf("ids differ from token %d (need %d):\n got %v\nwant %v", same, tc.atLeast, got, want.GeneratedIDs)
			}
		})
	}
}

// TestOneSubmitPerStep holds each step to one submit, on the shared
// device and on one that refuses to map device memory (as discrete GPUs):
// the batch goes in with the step and what the host reads comes out with
// it. The device's draws equal the CPU sampler's on the step's logits.
func TestOneSubmitPerStep(t *testing.T) {
	staging := ops.New(vktest.StagingDevice(t))
	t.Cleanup(staging.Close)
	tempered := sampling.Params{Temperature: 1, TopP: 1, RepeatPenalty: 1, Seed: 7}
	for _, dev := range []struct {
		name string
		k    *ops.Kernels
	}{{"mapped", testKernels(t)}, {"staging", staging}} {
		for _, tc := range []struct {
			name, model string
			params      sampling.Params
		}{
			{"greedy", "llama/stories260K.gguf", sampling.Greedy()},
			{"default chain", "llama/stories260K.gguf", sampling.Defaults()},
			// Top-k off over a 32000-token vocabulary: every draw
			// overflows to the CPU, which samples logits copied out in
			// the same step.
			{"overflow to the CPU", "llama/llama-2-tiny-random.gguf", tempered},
		} {
			t.Run(dev.name+"/"+tc.name, func(t *testing.T) {
				d := dev.k.Dev
				s := session(t, dev.k, loadModel(t, tc.model), 64)
				onDev, _ := sampling.New(tc.params)
				cpu, _ := sampling.New(tc.params)
				submits := func(what string, f func() error) {
					t.Helper()
					before := d.Submits()
					if err := f(); err != nil {
						t.Fatalf("%s: %v", what, err)
					}
					if n := d.Submits() - before; n != 1 {
						t.Fatalf("%s: %d submits, want 1", what, n)
					}
				}
				tokens := []int32{1, 403, 407}
				for i := range 6 {
					pos := len(tokens) - 1
					if i == 0 {
						pos = 0
					}
					var logits []float32
					submits("Eval+Logits", func() (err error) {
						if err = s.Eval(tokens[pos:], pos); err == nil {
							logits, err = s.Logits()
						}
						return
					})
					want := cpu.Sample(logits)
					var got int32
					submits("Eval+Sample", func() (err error) {
						if err = s.Eval(tokens[pos:], pos); err == nil {
							got, err = s.Sample(onDev)
						}
						return
					})
					if got != want || onDev.Step() != cpu.Step() {
						t.Fatalf("draw %d: device %d (step %d), CPU %d (step %d)", i, got, onDev.Step(), want, cpu.Step())
					}
					tokens = append(tokens, got)
				}
			})
		}
	}
}
