package main

import (
	"fmt"
	"time"

	"github.com/vkinfer/vkinfer/model/bert"
	"github.com/vkinfer/vkinfer/model/gguf"
	"github.com/vkinfer/vkinfer/model/tokenizer"
	"github.com/vkinfer/vkinfer/vk/ops"
)

// embedSentences are the batch of the embedding benchmark: 32 ordinary
// sentences of 5 to 20 words (the batch model/bert's benchmark uses).
var embedSentences = []string{
	"The quick brown fox jumps over the lazy dog.",
	"Once upon a time there was a little girl named Lily.",
	"She loved to play outside in the sunshine with her friends.",
	"Embeddings map text to vectors so similar meanings land close together.",
	"The weather forecast says it will rain tomorrow afternoon.",
	"Please remember to buy milk, eggs and bread on the way home.",
	"A good night's sleep improves memory and concentration.",
	"The train to the city leaves every twenty minutes.",
	"He fixed the bicycle with a wrench and some patience.",
	"Our team meeting has been moved to Thursday at ten.",
	"The museum opens a new exhibition about ancient maps next week.",
	"Water boils at one hundred degrees Celsius at sea level.",
	"She wrote a letter to her grandmother every Sunday.",
	"The library is quiet in the early morning.",
	"Add two cups of flour and stir until the batter is smooth.",
	"The cat slept on the warm windowsill all afternoon.",
	"Solar panels turn sunlight into electricity.",
	"They hiked to the top of the hill to watch the sunset.",
	"The software update fixes several security problems.",
	"A small boat drifted slowly across the calm lake.",
	"Reading every day builds a larger vocabulary.",
	"The children laughed as the puppy chased its tail.",
	"Traffic was heavy because of the accident on the bridge.",
	"The recipe calls for fresh basil and ripe tomatoes.",
	"Astronomers discovered a planet orbiting a distant star.",
	"He forgot his umbrella and got soaked in the storm.",
	"The store closes early on public holidays.",
	"Learning a new language takes time and practice.",
	"The garden was full of roses, tulips and daisies.",
	"She scored the winning goal in the final minute.",
	"The old clock in the hall still keeps perfect time.",
	"Fresh coffee smells wonderful in the morning.",
}

// benchEmbed embeds embedSentences in one batch on the CPU kernels, or on
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
	batch := make([][]int32, len(embedSentences))
	tokens := 0
	for i, s := range embedSentences {
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
