package bert

import (
	"math"
	"testing"

	"github.com/vkinfer/vkinfer/internal/vecdiff"
	"github.com/vkinfer/vkinfer/internal/vktest"
	"github.com/vkinfer/vkinfer/vk/ops"
)

// TestVulkanMatchesCPU holds the device to the CPU executor on every
// tokenize.tsv input and llama.cpp's two reference texts, packed in one
// pass. Both round activations as llama.cpp does; they part where a
// value crosses an int8 or f16 rounding step on one and not the other,
// at the 1e-4 level. Lowest measured cosine 0.999703.
func TestVulkanMatchesCPU(t *testing.T) {
	f := openMiniLM(t)
	m, err := Load(f)
	if err != nil {
		t.Fatal(err)
	}
	batch := append(miniLMInputs(t, f), tsvBatch(t)...)
	got, err := m.Embed(vulkanEncoder(t, m, 512, nil), batch, Options{})
	if err != nil {
		t.Fatal(err)
	}
	cpu, err := m.Embed(cpuEncoder(t, m, 512), batch, Options{})
	if err != nil {
		t.Fatal(err)
	}
	worst := 1.0
	for i := range batch {
		if n := vecdiff.Cosine(got[i], got[i]); math.Abs(n-1) > 1e-5 {
			t.Errorf("input %d: not unit length", i)
		}
		worst = min(worst, vecdiff.Cosine(got[i], cpu[i]))
	}
	t.Logf("%d inputs in one pass: lowest cosine to the CPU executor %.6f", len(batch), worst)
	if worst < 0.9995 {
		t.Errorf("lowest cosine to the CPU executor %.6f < 0.9995", worst)
	}
}

// TestVulkanOneSubmitPerPass holds a pass to one submit on a device that
// refuses to map device memory, as on discrete GPUs, with the same
// vectors (cosine >= 0.999999) as the test device's mapped path.
func TestVulkanOneSubmitPerPass(t *testing.T) {
	d := vktest.StagingDevice(t)
	k := ops.New(d)
	t.Cleanup(k.Close) // after the encoder and its weights
	f := openMiniLM(t)
	m, err := Load(f)
	if err != nil {
		t.Fatal(err)
	}
	batch := miniLMInputs(t, f)
	enc := vulkanEncoder(t, m, 64, k)
	if _, err := m.Embed(enc, batch, Options{}); err != nil { // binds the graph and uploads the weights
		t.Fatal(err)
	}
	before := d.Submits()
	got, err := m.Embed(enc, batch, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n := d.Submits() - before; n != 1 {
		t.Errorf("%d submits for one pass, want 1", n)
	}
	want, err := m.Embed(vulkanEncoder(t, m, 64, nil), batch, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range batch {
		if c := vecdiff.Cosine(got[i], want[i]); c < 0.999999 {
			t.Errorf("input %d: cosine %.7f to the mapped path", i, c)
		}
	}
}
