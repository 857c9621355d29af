package bert

import (
	"math"
	"sync"
	"testing"

	"github.com/vkinfer/vkinfer/internal/vktest"
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

func vulkanEncoder(t testing.TB, m *Model) *VulkanEncoder {
	t.Helper()
	vm, err := m.UploadVulkan(testKernels(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(vm.Close)
	e, err := vm.NewEncoder()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

// TestVulkanMiniLM holds the device encoder to llama.cpp's reference
// vectors (cosine >= 0.999) and, for every tokenize.tsv input embedded in
// one packed batch, to the CPU path (cosine >= 0.9995).
func TestVulkanMiniLM(t *testing.T) {
	f := openMiniLM(t)
	m, err := Load(f)
	if err != nil {
		t.Fatal(err)
	}
	e := vulkanEncoder(t, m)
	ref := referenceEmbeddings(t)
	sentence := wordIDs(t, f, "a", "sentence")
	cases := readTokenizeTSV(t)
	batch := [][]int32{sentence}
	var once []int32
	for _, c := range cases {
		batch = append(batch, c.ids)
		if c.text == "Once upon a time" {
			once = c.ids
		}
	}
	batch = append(batch, once)
	got, err := e.Embed(batch, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []struct {
		name string
		got  []float32
	}{{"a sentence", got[0]}, {"Once upon a time", got[len(got)-1]}} {
		c := cosine(want.got, ref[i])
		t.Logf("%q: cosine to llama.cpp %.6f", want.name, c)
		if c < 0.999 {
			t.Errorf("%q: cosine %.6f < 0.999", want.name, c)
		}
	}
	cpu, err := m.Embed(batch, Options{})
	if err != nil {
		t.Fatal(err)
	}
	worst := 1.0
	for i := range batch {
		if n := cosine(got[i], got[i]); math.Abs(n-1) > 1e-5 {
			t.Errorf("input %d: not unit length", i)
		}
		worst = min(worst, cosine(got[i], cpu[i]))
	}
	// Both paths quantize activations as llama.cpp does (Q8_0 blocks with
	// f16 scales, Q8_K for K-quants): cosine to llama.cpp 0.99990 and
	// 0.99978 on the CPU, 0.99969 and 0.99980 on the device (0.99935 and
	// 0.99959 when it kept them in f32). They still part at the 1e-4
	// level: the CPU takes GELU from an f16 table, as llama.cpp does, the
	// device computes it, and each crosses int8 rounding steps of its own.
	// Lowest measured 0.99961.
	t.Logf("%d inputs in one batch: lowest cosine to the CPU path %.6f", len(batch), worst)
	if worst < 0.9995 {
		t.Errorf("lowest cosine to the CPU path %.6f < 0.9995", worst)
	}
	one, err := e.Embed([][]int32{sentence}, Options{Dimensions: 128})
	if err != nil {
		t.Fatal(err)
	}
	if len(one[0]) != 128 || cosine(one[0], got[0][:128]) < 0.99999 {
		t.Errorf("alone with Dimensions 128: %d components, cosine %.6f to the batch's prefix", len(one[0]), cosine(one[0], got[0][:128]))
	}
}

// TestVulkanOneSubmitPerPass holds a forward pass to one submit on a
// device that refuses to map device memory, as on discrete GPUs, with
// the same vectors (cosine >= 0.999999) as the test device's mapped path.
func TestVulkanOneSubmitPerPass(t *testing.T) {
	d := vktest.StagingDevice(t)
	k := ops.New(d)
	defer k.Close()
	f := openMiniLM(t)
	m, err := Load(f)
	if err != nil {
		t.Fatal(err)
	}
	vm, err := m.UploadVulkan(k)
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	e, err := vm.NewEncoder()
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	batch := [][]int32{wordIDs(t, f, "a", "sentence"), wordIDs(t, f, "once", "upon", "a", "time")}
	before := d.Submits()
	got, err := e.Embed(batch, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n := d.Submits() - before; n != 1 {
		t.Errorf("%d submits for one pass, want 1", n)
	}
	want, err := vulkanEncoder(t, m).Embed(batch, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range batch {
		if c := cosine(got[i], want[i]); c < 0.999999 {
			t.Errorf("input %d: cosine %.7f to the mapped path", i, c)
		}
	}
}
