package pool_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/engine/enginetest"
	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/internal/testmodels"
	"github.com/vkinfer/vkinfer/model/llama"
	"github.com/vkinfer/vkinfer/pool"
	"github.com/vkinfer/vkinfer/sampling"
)

// storiesLoader serves the model "stories" from stories260K.gguf: weights
// are loaded once and shared, each worker gets its own session and engine.
type storiesLoader struct {
	path    string
	ctx     int
	metrics *engine.Metrics
	once    sync.Once
	model   *enginetest.Model
	err     error
}

func (l *storiesLoader) Need(name string) (pool.Need, error) {
	if name != "stories" {
		return pool.Need{}, fmt.Errorf("no model %q", name)
	}
	f, err := gguf.Open(l.path)
	if err != nil {
		return pool.Need{}, err
	}
	defer f.Close()
	lm, err := llama.Load(f)
	if err != nil {
		return pool.Need{}, err
	}
	m := lm.Memory(l.ctx, engine.DefaultBatchSize, 4)
	return pool.Need{Backend: "cpu", Device: "cpu", Weights: m.Weights, KVCache: m.KVCache, Scratch: m.Scratch}, nil
}

func (l *storiesLoader) Open(_ context.Context, name string) (pool.Generator, error) {
	l.once.Do(func() { l.model, l.err = enginetest.Load(l.path) })
	if l.err != nil {
		return nil, l.err
	}
	return engine.New(l.model.NewSession(l.ctx), l.model.Tokenizer(), engine.Options{Name: name, Metrics: l.metrics}), nil
}

// End to end: pool → worker → engine → the real stories260K model.
func TestStoriesThroughPool(t *testing.T) {
	data, err := os.ReadFile(testmodels.Reference(t, "stories260K/cpu.completion.ids.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		GeneratedIDs []int32 `json:"generated_ids"`
	}
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	metrics := new(engine.Metrics)
	loader := &storiesLoader{path: testmodels.Model(t, "llama/stories260K.gguf"), ctx: 128, metrics: metrics}
	p := pool.NewTextToText(loader, pool.Config{Parallel: 2, KeepAlive: -1, Budget: pool.NewBudget(64<<20, nil)})
	defer p.Shutdown(context.Background())

	req := engine.Request{Prompt: "Once upon a time", Params: sampling.Greedy(), MaxTokens: 64}
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ids []int32
			res, err := p.Generate(context.Background(), "stories", req, func(c engine.Chunk) error {
				ids = append(ids, c.Tokens...)
				return nil
			})
			if err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
			if !slices.Equal(ids, ref.GeneratedIDs) || res.StopReason != engine.StopMaxTokens {
				t.Errorf("request %d: %s after %v", i, res.StopReason, ids)
			}
		}()
	}
	wg.Wait()

	// A streamed request with a stop string.
	var text strings.Builder
	var final pool.Event
	stop := req
	stop.Stop = []string{"Lily"}
	for ev := range p.Stream(context.Background(), "stories", stop) {
		if ev.Done {
			final = ev
		}
		text.WriteString(ev.Chunk.Text)
	}
	if final.Err != nil || final.Result.StopReason != engine.StopString || text.String() != ", there was a little girl named " {
		t.Errorf("stream: %q, %+v", text.String(), final)
	}

	// Cancelling a request stops it and frees its worker.
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	_, err = p.Generate(ctx, "stories", engine.Request{Prompt: "Once", Params: sampling.Greedy()}, func(engine.Chunk) error {
		if n++; n == 3 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled request: %v", err)
	}

	st := p.Status()
	if len(st.Models) != 1 || len(st.Models[0].Workers) != 2 {
		t.Fatalf("status %+v", st)
	}
	need, _ := loader.Need("stories")
	if m := st.Models[0]; m.Memory != need.Weights+2*need.Instance() || st.Memory[0].Used != m.Memory {
		t.Errorf("memory %d (budget says %d), want weights + 2 sessions = %d", m.Memory, st.Memory[0].Used, need.Weights+2*need.Instance())
	}
	if c := metrics.Snapshot().Models["stories"]; c.Requests != 6 || c.Cancelled != 1 || c.GeneratedTokens < 4*64+10 {
		t.Errorf("metrics %+v", c)
	}
}
