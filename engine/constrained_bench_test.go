package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vkinfer/vkinfer/backend/cpu"
	"github.com/vkinfer/vkinfer/backend/vulkan"
	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/engine/enginetest"
	"github.com/vkinfer/vkinfer/runner"
	"github.com/vkinfer/vkinfer/sampling"
	"github.com/vkinfer/vkinfer/vk"
	"github.com/vkinfer/vkinfer/vk/ops"
)

// benchModel finds a benchmark model made by `make bench-models`: in
// $VKINFER_BENCH_MODELS, the repository's bench-models or ../bench-models.
func benchModel(b *testing.B, name string) string {
	dirs := []string{os.Getenv("VKINFER_BENCH_MODELS"), "../bench-models", "../../bench-models"}
	for _, d := range dirs {
		if d == "" {
			continue
		}
		if p := filepath.Join(d, name); fileExists(p) {
			return p
		}
	}
	b.Skipf("%s not found (run make bench-models, or set VKINFER_BENCH_MODELS)", name)
	return ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// BenchmarkConstrainedDecode compares the time per generated token of
// schema-constrained decoding with unconstrained decoding of the same
// model, on the CPU and on the Vulkan device (where the device sampler
// applies the uploaded mask), alternating within each iteration so that
// machine noise hits both alike. One constrained request before timing
// builds the vocabulary trie and the schema's tables, as a service sent
// the same schema again has them; the seeds differ, so the timed requests
// still walk states no earlier one did (grammar's BenchmarkMask is the
// cost of such a state). It reports plain-ns/token, schema-ns/token and
// the constraint's extra cost (overhead-%).
func BenchmarkConstrainedDecode(b *testing.B) {
	path := benchModel(b, "bench-15m-Q4_0.gguf")
	for _, be := range []struct {
		name string
		open func() (runner.Backend, error)
	}{
		{"cpu", func() (runner.Backend, error) { return cpu.Backend{}, nil }},
		{"vulkan", func() (runner.Backend, error) {
			opts := vk.DefaultOptions()
			opts.AllowCPU = true // a GPU still comes first; lavapipe where there is none
			d, err := vk.Open(opts)
			if err != nil {
				return nil, err
			}
			b.Cleanup(func() { d.Close() })
			k := ops.New(d)
			b.Cleanup(k.Close)
			return vulkan.Backend{K: k}, nil
		}},
	} {
		b.Run(be.name, func(b *testing.B) {
			backend, err := be.open()
			if err != nil {
				b.Skipf("no %s device: %v", be.name, err)
			}
			m, err := enginetest.LoadOn(path, backend)
			if err != nil {
				b.Fatal(err)
			}
			benchConstrained(b, engine.New(m.NewSession(512), m.Tokenizer(), engine.Options{}))
		})
	}
}

func benchConstrained(b *testing.B, e *engine.Engine) {
	p := sampling.Defaults()
	plain := engine.Request{Prompt: "Once upon a time", Params: p, MaxTokens: 64}
	schema := plain
	schema.MaxTokens = 400
	schema.Format = constrainedSchemas[0]
	var perToken [2]time.Duration
	var tokens [2]int
	run := func(i int, req engine.Request) {
		res, err := e.Generate(context.Background(), req, func(engine.Chunk) error { return nil })
		if err != nil {
			b.Fatal(err)
		}
		perToken[i] += res.GenerationDuration
		tokens[i] += res.GeneratedTokens
	}
	run(1, schema) // builds the vocabulary trie and the schema's tables
	perToken, tokens = [2]time.Duration{}, [2]int{}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		schema.Params.Seed, plain.Params.Seed = uint64(i), uint64(i)
		run(0, plain)
		run(1, schema)
	}
	ns := func(i int) float64 { return float64(perToken[i].Nanoseconds()) / float64(max(tokens[i], 1)) }
	b.ReportMetric(ns(0), "plain-ns/token")
	b.ReportMetric(ns(1), "schema-ns/token")
	b.ReportMetric(100*(ns(1)/ns(0)-1), "overhead-%")
}
