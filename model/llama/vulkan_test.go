package llama

import (
	"sync"
	"testing"

	"github.com/vkinfer/vkinfer/internal/vktest"
	"github.com/vkinfer/vkinfer/sampling"
	"github.com/vkinfer/vkinfer/vk/ops"
)

var (
	kernelsOnce sync.Once
	kernelsOn   *ops.Kernels
)

// testKernels returns kernels on the test device, shared by the package's
// tests (pipelines are built once).
func testKernels(t testing.TB) *ops.Kernels {
	t.Helper()
	d := vktest.Device(t)
	kernelsOnce.Do(func() { kernelsOn = ops.New(d) })
	return kernelsOn
}

func vulkanSession(t testing.TB, m *Model, ctx int) *VulkanSession {
	t.Helper()
	vm, err := m.UploadVulkan(testKernels(t))
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

// vulkanLogitsTol bounds the device's last-step logits against the CPU
// path's (relative L2 error): f32 sums in another order, and no f16
// rounding of activations before F16 weights.
const vulkanLogitsTol = 2e-3

// TestVulkanGreedy holds the device path to llama.cpp's reference ids
// for at least as many tokens as llama.cpp's own Vulkan backend keeps
// (see ../shared/reference/README.md), and its logits to the CPU path's.
func TestVulkanGreedy(t *testing.T) {
	for _, tc := range []struct {
		model, ref string
		atLeast    int
	}{
		{"llama/stories260K.gguf", "stories260K", 16},
		{"llama/llama-2-tiny-random.gguf", "llama-2-tiny-random", 56},
	} {
		t.Run(tc.ref, func(t *testing.T) {
			m := loadModel(t, tc.model)
			want := loadCompletion(t, tc.ref)
			s := vulkanSession(t, m, 256)
			got, err := Greedy(s, want.PromptIDs, len(want.GeneratedIDs))
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

			all := append(append([]int32(nil), want.PromptIDs...), got[:len(got)-1]...)
			cpu, err := m.NewCPUSession(256)
			if err != nil {
				t.Fatal(err)
			}
			if err := cpu.Eval(all, 0); err != nil {
				t.Fatal(err)
			}
			lc, _ := cpu.Logits()
			lv, err := s.Logits()
			if err != nil {
				t.Fatal(err)
			}
			if e := relErr(lv, lc); e > vulkanLogitsTol {
				t.Fatalf("last-step logits relative error %.3g vs the CPU path", e)
			} else {
				t.Logf("last-step logits relative error %.3g", e)
			}
		})
	}
}

// TestVulkanLongPrompt evaluates a prompt longer than one device batch,
// then rewinds, and compares the logits with the CPU path.
func TestVulkanLongPrompt(t *testing.T) {
	m := loadModel(t, "llama/stories260K.gguf")
	prompt := make([]int32, VulkanBatch+9)
	for i := range prompt {
		prompt[i] = int32(1 + (i*37)%500)
	}
	const ctx = VulkanBatch + 32
	s := vulkanSession(t, m, ctx)
	cpu, _ := m.NewCPUSession(ctx)
	for _, start := range []int{0, 20} {
		if err := s.Eval(prompt[start:], start); err != nil {
			t.Fatal(err)
		}
		if err := cpu.Eval(prompt[start:], start); err != nil {
			t.Fatal(err)
		}
		lv, err := s.Logits()
		if err != nil {
			t.Fatal(err)
		}
		lc, _ := cpu.Logits()
		if e := relErr(lv, lc); e > vulkanLogitsTol {
			t.Fatalf("from %d: logits relative error %.3g", start, e)
		}
	}
	if err := s.Eval([]int32{1}, ctx); err == nil {
		t.Fatal("Eval past the context accepted")
	}
	if err := s.Eval([]int32{int32(m.Config.VocabSize)}, 0); err == nil {
		t.Fatal("token outside the vocabulary accepted")
	}
}

// TestVulkanOneSubmitPerStep holds each generation step to one submit on
// a device that refuses to map device memory, as on discrete GPUs: the
// token ids go in with the step and what the host reads comes out with
// it. The draws still equal the CPU sampler's on the step's logits.
func TestVulkanOneSubmitPerStep(t *testing.T) {
	d := vktest.StagingDevice(t)
	k := ops.New(d)
	t.Cleanup(k.Close)
	tempered := sampling.Params{Temperature: 1, TopP: 1, RepeatPenalty: 1, Seed: 7}
	for _, tc := range []struct {
		name, model string
		params      sampling.Params
	}{
		{"greedy", "llama/stories260K.gguf", sampling.Greedy()},
		{"default chain", "llama/stories260K.gguf", sampling.Defaults()},
		// Top-k off over a 32000-token vocabulary: every draw overflows
		// to the CPU, which samples logits copied out in the same step.
		{"overflow to the CPU", "llama/llama-2-tiny-random.gguf", tempered},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := loadModel(t, tc.model)
			vm, err := m.UploadVulkan(k)
			if err != nil {
				t.Fatal(err)
			}
			defer vm.Close()
			s, err := vm.NewSession(64)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			dev, _ := sampling.New(tc.params)
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
						got, err = s.Sample(dev)
					}
					return
				})
				if got != want || dev.Step() != cpu.Step() {
					t.Fatalf("draw %d: device %d (step %d), CPU %d (step %d)", i, got, dev.Step(), want, cpu.Step())
				}
				tokens = append(tokens, got)
			}
		})
	}
}

// TestVulkanSampleMatchesCPU draws with the default chain on the device
// and on the CPU from the same logits.
func TestVulkanSampleMatchesCPU(t *testing.T) {
	m := loadModel(t, "llama/stories260K.gguf")
	s := vulkanSession(t, m, 64)
	p := sampling.Defaults()
	p.Seed = 99
	dev, _ := sampling.New(p)
	cpu, _ := sampling.New(p)
	if err := s.Eval([]int32{1, 403, 407}, 0); err != nil {
		t.Fatal(err)
	}
	for i := range 8 {
		l, err := s.Logits()
		if err != nil {
			t.Fatal(err)
		}
		want := cpu.Sample(l)
		got, err := s.Sample(dev)
		if err != nil {
			t.Fatal(err)
		}
		if got != want || dev.Step() != cpu.Step() {
			t.Fatalf("draw %d: device %d (step %d), CPU %d (step %d)", i, got, dev.Step(), want, cpu.Step())
		}
		if err := s.Eval([]int32{got}, 3+i); err != nil {
			t.Fatal(err)
		}
	}
}

func benchVulkanDecode(b *testing.B, rel string) {
	m := loadModel(b, rel)
	s := vulkanSession(b, m, 512)
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
	for _, op := range s.Profile() {
		b.Logf("%-16s %4d calls %10v", op.Op, op.Calls, op.Time)
	}
}

func BenchmarkVulkanDecodeStories260K(b *testing.B) { benchVulkanDecode(b, "llama/stories260K.gguf") }

func BenchmarkVulkanDecodeTinyRandom(b *testing.B) {
	benchVulkanDecode(b, "llama/llama-2-tiny-random.gguf")
}

func benchVulkanPrefill(b *testing.B, rel string) {
	m := loadModel(b, rel)
	s := vulkanSession(b, m, 512)
	prompt := make([]int32, 128)
	for i := range prompt {
		prompt[i] = int32(1 + (i*37)%250)
	}
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
}

func BenchmarkVulkanPrefillStories260K(b *testing.B) { benchVulkanPrefill(b, "llama/stories260K.gguf") }

func BenchmarkVulkanPrefillTinyRandom(b *testing.B) {
	benchVulkanPrefill(b, "llama/llama-2-tiny-random.gguf")
}
