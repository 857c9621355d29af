package main

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vkinfer/vkinfer/internal/archtest"
	"github.com/vkinfer/vkinfer/internal/testmodels"
	"github.com/vkinfer/vkinfer/internal/vktest"
	"github.com/vkinfer/vkinfer/ipc"
	"github.com/vkinfer/vkinfer/model"
)

// TestArchCapabilities: the daemon's imports register gemma, gemma2, phi3
// and nomic-bert with what they serve.
func TestArchCapabilities(t *testing.T) {
	for arch, want := range map[string][]model.Capability{
		"gemma":      {model.Generate},
		"gemma2":     {model.Generate},
		"phi3":       {model.Generate},
		"nomic-bert": {model.Embed},
	} {
		if got := capabilities(arch); !slices.Equal(got, want) {
			t.Errorf("%s: capabilities %v, want %v", arch, got, want)
		}
	}
}

// archGenerators are the generation models of the arch folder.
var archGenerators = []string{
	"llama3", "llama3-Q8_0", "llama3-Q6_K", "llama3-Q5_K_M", "llama3-Q4_K_M", "llama3-Q3_K_M",
	"llama3-Q2_K", "llama3-IQ4_NL", "llama3-IQ4_XS", "qwen2", "gemma", "gemma2", "phi3", "llama-moe",
}

const (
	// archMinGap is the top-1/top-2 logit gap below which a greedy step
	// of llama.cpp's is a near-tie that a rounding step of ours may
	// decide the other way (see archtest.Check): ids are compared up to
	// the first such step. The smallest gap kept is gemma2's 0.097 at
	// step 1; the prefixes compared are 6 (gemma2) to 8 ids long.
	archMinGap = 0.05
	// archMaxIDs bounds the ids compared, which keeps the run short.
	archMaxIDs = 8
	// archMinIDs is the shortest prefix worth a check.
	archMinIDs = 4
)

// robustPrefix returns how many of ref's leading greedy ids are not
// near-ties, at most archMaxIDs.
func robustPrefix(ref archtest.Reference) int {
	n := 0
	for n < min(archMaxIDs, len(ref.Steps)) {
		top := ref.Steps[n].Top
		if top[0][1]-top[1][1] < archMinGap {
			break
		}
		n++
	}
	return n
}

// TestArchModelsServe: every generation model of the arch folder, linked
// into a models dir, answers a greedy generate request for "Once upon a
// time" with llama.cpp's leading ids, and nomic-bert answers embed with
// llama.cpp's vector, on the CPU kernels and on the Vulkan device.
func TestArchModelsServe(t *testing.T) {
	dir := t.TempDir()
	for _, name := range append(slices.Clone(archGenerators), "nomic-bert") {
		if err := os.Symlink(testmodels.Model(t, "arch/"+name+".gguf"), filepath.Join(dir, name+".gguf")); err != nil {
			t.Fatal(err)
		}
	}
	for _, device := range []string{"cpu", "vulkan"} {
		t.Run(device, func(t *testing.T) {
			if device == "vulkan" {
				vktest.Device(t)
			}
			testArchModelsServe(t, dir, device)
		})
	}
}

func testArchModelsServe(t *testing.T, dir, device string) {
	d := startDaemon(t, dir, socketPath(t), "--device", device)
	c := d.client()
	ctx := context.Background()
	for _, name := range archGenerators {
		ref := archtest.Load(t, name, "once_upon_a_time")
		n := robustPrefix(ref)
		if n < archMinIDs {
			t.Errorf("%s: only %d leading ids of llama.cpp's are not near-ties", name, n)
			continue
		}
		req := greedy(n)
		req.Model = name
		s, err := c.Generate(ctx, req)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		_, ids, stats, err := drain(s)
		switch {
		case err != nil:
			t.Errorf("%s: %v", name, err)
		case !slices.Equal(ids, ref.GeneratedIDs[:n]):
			t.Errorf("%s: ids %v, llama.cpp's %v", name, ids, ref.GeneratedIDs[:n])
		case stats.PromptTokens != len(ref.PromptIDs):
			t.Errorf("%s: %d prompt tokens, llama.cpp's %d", name, stats.PromptTokens, len(ref.PromptIDs))
		default:
			t.Logf("%s: llama.cpp's first %d ids %v", name, n, ids)
		}
		// One model at a time keeps memory flat on a small CI machine.
		if err := c.Unload(ctx, name); err != nil {
			t.Errorf("unload %s: %v", name, err)
		}
	}
	checkNomicEmbed(t, c)
}

// checkNomicEmbed: the daemon's tokenization of the embedding reference's
// text (the tokenizer it builds from the file, with special tokens added
// and special-token text not parsed, as its embed requests do) gives
// llama.cpp's ids, and its embed reply is llama.cpp's vector and counts
// llama.cpp's tokens.
func checkNomicEmbed(t *testing.T, c *ipc.Client) {
	ref := archtest.Load(t, "nomic-bert", "the_cat_sat_on_the_warm_mat")
	const text = "The cat sat on the warm mat."
	tok := archtest.Tokenizer(t, "arch/nomic-bert.gguf")
	ids, err := tok.Encode(text, true, model.EmbedOptions{}.ParseSpecial)
	if err != nil || !slices.Equal(ids, ref.PromptIDs) {
		t.Fatalf("nomic-bert tokenization: %v, %v; llama.cpp's %v", ids, err, ref.PromptIDs)
	}
	res, err := c.Embed(context.Background(), &ipc.Request{Model: "nomic-bert", Input: []string{text}})
	if err != nil {
		t.Fatal(err)
	}
	if res.PromptTokens != len(ref.PromptIDs) {
		t.Errorf("nomic-bert: %d prompt tokens, llama.cpp's %d", res.PromptTokens, len(ref.PromptIDs))
	}
	vecs := res.Embeddings
	if len(vecs) != 1 || len(vecs[0]) != len(ref.Embedding) {
		t.Fatalf("nomic-bert: %d vectors, want 1 of %d values", len(vecs), len(ref.Embedding))
	}
	var dot, na, nb float64
	for i, v := range vecs[0] {
		w := float64(ref.Embedding[i])
		dot += float64(v) * w
		na += float64(v) * float64(v)
		nb += w * w
	}
	if cos := dot / math.Sqrt(na*nb); !(cos >= 0.9999) {
		t.Errorf("nomic-bert: cosine %.6f to llama.cpp's embedding, want >= 0.9999", cos)
	}
}
