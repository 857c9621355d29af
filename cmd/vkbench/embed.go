package main

import (
	"fmt"
	"time"

	"github.com/vkinfer/vkinfer/backend/cpu"
	"github.com/vkinfer/vkinfer/backend/vulkan"
	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/internal/benchdata"
	"github.com/vkinfer/vkinfer/model/bert"
	"github.com/vkinfer/vkinfer/model/tokenizer"
	"github.com/vkinfer/vkinfer/runner"
	"github.com/vkinfer/vkinfer/vk/ops"
)

// benchEmbed embeds benchdata.Sentences in one batch on the CPU executor,
// or on the device when k is set, and returns embeddings/s and tokens/s
// (best of three after a warm-up).
func benchEmbed(path string, k *ops.Kernels) (perSec, tokensPerSec float64, err error) {
	f, err := gguf.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
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
	var be runner.Backend = cpu.Backend{}
	if k != nil {
		be = vulkan.Backend{K: k}
	}
	rm, err := runner.Open(f, be)
	if err != nil {
		return 0, 0, err
	}
	defer rm.Close()
	// One pass holds the whole batch, as the daemon's passes would.
	enc, te, err := rm.NewEncoder(tokens)
	if err != nil {
		return 0, 0, err
	}
	defer enc.Close()
	m, ok := te.(*bert.Model)
	if !ok {
		return 0, 0, fmt.Errorf("%s is not a BERT model", path)
	}
	// Token ids, not texts: llama.cpp's figures leave tokenization out too.
	embed := func() error { _, err := m.Embed(enc, batch, bert.Options{}); return err }
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
