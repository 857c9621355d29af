package main

import (
	"fmt"
	"github.com/vkinfer/vkinfer/internal/benchdata"
	"time"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/model/bert"
	"github.com/vkinfer/vkinfer/model/tokenizer"
	"github.com/vkinfer/vkinfer/vk/ops"
)

// benchEmbed embeds benchdata.Sentences in one batch on the CPU kernels, or on
// the device when k is set, and returns embeddings/s and tokens/s (best of
// three after a warm-up).
func benchEmbed(path string, k *ops.Kernels) (perSec, tokensPerSec float64, err error) {
	f, err := gguf.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	m, err := bert.Load(f)
	if err != nil {
		return 0, 0, err
	}
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		return 0, 0, err
	}
	batch := make([][]int32, len(benchdata.Sentences))
	tokens := 0
	for i, s := range benchdata.Sentences {
		if batch[i], err = tok.Encode(s, true, false); err != nil {
			return 0, 0, err
		}
		tokens += len(batch[i])
	}
	embed := func() error { _, err := m.Embed(batch, bert.Options{}); return err }
	if k != nil {
		vm, err := m.UploadVulkan(k)
		if err != nil {
			return 0, 0, err
		}
		defer vm.Close()
		enc, err := vm.NewEncoder()
		if err != nil {
			return 0, 0, err
		}
		defer enc.Close()
		embed = func() error { _, err := enc.Embed(batch, bert.Options{}); return err }
	}
	if err := embed(); err != nil {
		return 0, 0, err
	}
	best := time.Duration(1<<63 - 1)
	for range 3 {
		t0 := time.Now()
		if err := embed(); err != nil {
			return 0, 0, err
		}
		best = min(best, time.Since(t0))
	}
	if best <= 0 {
		return 0, 0, fmt.Errorf("no timing")
	}
	return float64(len(batch)) / best.Seconds(), float64(tokens) / best.Seconds(), nil
}
