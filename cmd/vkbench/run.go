package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/vkinfer/vkinfer/backend/cpu"
	"github.com/vkinfer/vkinfer/backend/vulkan"
	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/internal/benchdata"
	"github.com/vkinfer/vkinfer/kernels"
	"github.com/vkinfer/vkinfer/model/llama"
	"github.com/vkinfer/vkinfer/runner"
	"github.com/vkinfer/vkinfer/sampling"
	"github.com/vkinfer/vkinfer/vk"
	"github.com/vkinfer/vkinfer/vk/ops"
)

// result is one model's figures on one backend.
type result struct {
	pp, tg float64 // tokens/s, best of the runs
	// Vulkan only: dispatches of one generation step, the GPU time of
	// its ops (timestamps) and the rest of the step's wall time.
	dispatches int
	gpu, fixed time.Duration
	perToken   int64 // weight bytes one generated token reads
	size       int64
}

// benchOptions are vkbench run's flags.
type benchOptions struct {
	dir, shared, llamaBench string
	versusRows              string // only the side-by-side rows whose label holds it
	versusOnly              bool
	versusRounds            int // interleaved rounds of the side-by-side table
	threads, vkMaxMiB       int
}

func bench(o benchOptions) error {
	if o.threads <= 0 {
		o.threads = runtime.NumCPU()
	}
	dir, shared, threads := o.dir, o.shared, o.threads
	kernels.SetThreads(threads)
	if o.versusOnly {
		if o.llamaBench == "" {
			return errors.New("--versus-only needs --llama-bench")
		}
		k, closeK := lavapipe()
		defer closeK()
		return versus(o, k)
	}
	paths, _ := filepath.Glob(filepath.Join(dir, "*.gguf"))
	sort.Strings(paths)
	if len(paths) == 0 {
		fmt.Printf("no models in %s: run `make bench-models` for the bench-15m/bench-1b rows\n\n", dir)
	}
	bw, rbw := bandwidth(threads)
	simd := map[string]string{"go": "portable Go", "avx2": "AVX2", "vnni": "AVX-512 VNNI", "bf16": "AVX-512 VNNI and BF16"}[kernels.KernelSet()]
	fmt.Printf("CPU kernels: %s, %d threads; memory bandwidth: copy traffic %.1f GB/s, read %.1f GB/s\n", simd, threads, bw/1e9, rbw/1e9)
	fmt.Printf("(tg %% of bandwidth: weight bytes read per token x tg64 over the copy traffic, and over the read rate)\n\n")
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "model\tweights MiB\tpp128 t/s\ttg64 t/s\tbytes/token MiB\ttg % of copy\ttg % of read\t")
	for _, path := range paths {
		r, err := benchModel(path, cpu.Backend{})
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		read := r.tg * float64(r.perToken)
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.2f\t%.1f\t%.1f%%\t%.1f%%\t\n", modelName(path), r.size>>20, r.pp, r.tg, float64(r.perToken)/(1<<20), 100*read/bw, 100*read/rbw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	// Timings run without timestamps; a second handle on the device with
	// them splits a generation step into GPU time and fixed cost.
	opts := vk.DefaultOptions()
	opts.AllowCPU, opts.Profile = true, false
	dev, err := vk.Open(opts)
	if err != nil {
		fmt.Printf("\nVulkan: no device (%v); no Vulkan rows\n", err)
	} else {
		defer dev.Close()
	}
	var k, kp *ops.Kernels
	if dev != nil {
		opts.Profile = true
		pdev, err := vk.Open(opts)
		if err != nil {
			return err
		}
		defer pdev.Close()
		k, kp = ops.New(dev), ops.New(pdev)
		defer k.Close()
		defer kp.Close()
		fmt.Printf("\nVulkan: %s. Per generation step: GPU ms is the sum of its dispatches' timestamps\n", dev.Info)
		fmt.Printf("(the device's per-dispatch cost included; timestamps slow lavapipe, so it exceeds 1000/tg64),\n")
		fmt.Printf("fixed ms the rest of its wall time: recording, submit, fence wait, readback.\n\n")
		tw = tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "model\tweights MiB\tpp128 t/s\ttg64 t/s\tdispatches/token\tGPU ms/token\tfixed ms/token\t")
		vkPaths := paths
		for _, m := range sharedModels {
			if p := filepath.Join(shared, "models", m.file); fileExists(p) {
				vkPaths = append(vkPaths, p)
			}
		}
		for _, path := range vkPaths {
			if st, err := os.Stat(path); err == nil && st.Size() > int64(o.vkMaxMiB)<<20 {
				fmt.Fprintf(tw, "%s\t%d\t(skipped: over --vulkan-max-mib)\t\t\t\t\t\n", modelName(path), st.Size()>>20)
				continue
			}
			r, err := benchModel(path, vulkan.Backend{K: k})
			if err == nil {
				err = stepCost(path, kp, &r)
			}
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.2f\t%d\t%.2f\t%.2f\t\n", modelName(path), r.size>>20, r.pp, r.tg, r.dispatches, ms(r.gpu), ms(r.fixed))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if err := benchReference(shared, k); err != nil {
		return err
	}
	if o.llamaBench != "" {
		return versus(o, k)
	}
	return nil
}

// sharedModels are the shared test models llama.cpp was measured on, by
// their label in the reference table.
var sharedModels = []struct{ file, label string }{
	{"llama/stories260K.gguf", "stories260K F32"},
	{"llama/llama-2-tiny-random.gguf", "llama-2-tiny-random F16"},
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func modelName(path string) string { return filepath.Base(path[:len(path)-len(".gguf")]) }

// benchReference prints the shared test models beside llama.cpp's figures
// on this kind of machine, as ratios (ours / llama.cpp's better run).
func benchReference(shared string, k *ops.Kernels) error {
	figs, err := llamaCppFigures(filepath.Join(shared, "reference", "README.md"))
	if err != nil {
		fmt.Printf("\nno llama.cpp figures (%v); no comparison table\n", err)
		return nil
	}
	fmt.Printf("\nBeside llama.cpp (llama-bench -p 128 -n 64 -t 2, its two runs from %s/reference/README.md;\nratio = ours / llama.cpp's faster run):\n\n", shared)
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "model\tbackend\tpp128 t/s\tllama.cpp\tratio\ttg64 t/s\tllama.cpp\tratio\t")
	for _, m := range sharedModels {
		path := filepath.Join(shared, "models", m.file)
		if _, err := os.Stat(path); err != nil {
			fmt.Fprintf(tw, "%s\t(missing: %v)\t\t\t\t\t\t\t\n", m.label, err)
			continue
		}
		backends := []struct {
			name, ref string
			be        runner.Backend
		}{{"CPU", "CPU", cpu.Backend{}}}
		if k != nil {
			backends = append(backends, struct {
				name, ref string
				be        runner.Backend
			}{"Vulkan", "Vulkan on lavapipe", vulkan.Backend{K: k}})
		}
		for _, b := range backends {
			r, err := benchModel(path, b.be)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			f := figs[[2]string{m.label, b.ref}]
			fmt.Fprintf(tw, "%s\t%s\t%.0f\t%s\t%s\t%.0f\t%s\t%s\t\n", m.label, b.name, r.pp, f.pp, ratio(r.pp, f.ppBest), r.tg, f.tg, ratio(r.tg, f.tgBest))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	// Embeddings: a batch of 32 sentences; llama.cpp's figure is its
	// prompt processing rate on the model, in tokens/s.
	const label = "all-MiniLM-L6-v2 Q4_K_M (embedding)"
	path := filepath.Join(shared, "models", "embed", "all-MiniLM-L6-v2-Q4_K_M.gguf")
	if !fileExists(path) {
		return nil
	}
	fmt.Printf("\nEmbeddings, all-MiniLM-L6-v2 Q4_K_M, one batch of %d sentences (llama.cpp: pp t/s on the model):\n\n", len(benchdata.Sentences))
	tw = tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "backend\tembeddings/s\ttokens/s\tllama.cpp t/s\tratio\t")
	for _, b := range []struct {
		name, ref string
		k         *ops.Kernels
	}{{"CPU", "CPU", nil}, {"Vulkan", "Vulkan on lavapipe", k}} {
		if b.name == "Vulkan" && k == nil {
			continue
		}
		per, tps, err := benchEmbed(path, b.k)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		f := figs[[2]string{label, b.ref}]
		fmt.Fprintf(tw, "%s\t%.1f\t%.0f\t%s\t%s\t\n", b.name, per, tps, f.pp, ratio(tps, f.ppBest))
	}
	return tw.Flush()
}

func ratio(ours, theirs float64) string {
	if theirs == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", ours/theirs)
}

// openModel opens the llama-family model at path on be, as the daemon
// opens models (runner.Open), and returns it with a session of ctx
// positions; closeAll frees all three.
func openModel(path string, be runner.Backend, ctx int) (_ *llama.Model, _ *runner.Session, closeAll func(), err error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, nil, nil, err
	}
	rm, err := runner.Open(f, be)
	if err != nil {
		f.Close()
		return nil, nil, nil, err
	}
	m, ok := rm.Loaded.(*llama.Model)
	if !ok {
		rm.Close()
		f.Close()
		return nil, nil, nil, fmt.Errorf("%v is not a llama-family model", rm.Arch.Names)
	}
	s, err := rm.NewSession(ctx)
	if err != nil {
		rm.Close()
		f.Close()
		return nil, nil, nil, err
	}
	return m, s, func() { s.Close(); rm.Close(); f.Close() }, nil
}

// benchModel measures pp128 and tg64 (best of a few runs) on be.
func benchModel(path string, be runner.Backend) (r result, err error) {
	return benchShape(path, be, workload{pp: 128, tg: 64})
}

// workload is a benchmark's prompt and generation lengths and its runs (0:
// three, or one for a model over 256 MiB).
type workload struct{ pp, tg, runs int }

// benchShape measures prompt processing of s.pp tokens and generation of
// s.tg, best of the runs, on be.
func benchShape(path string, be runner.Backend, sh workload) (r result, err error) {
	m, s, closeAll, err := openModel(path, be, max(256, sh.pp, sh.tg+1))
	if err != nil {
		return r, err
	}
	defer closeAll()
	r.size = m.WeightBytes()
	// A token reads every weight once, except the embedding table, of
	// which it reads one row (unless the output projection is tied to it).
	r.perToken = r.size
	if !m.TiedOutput {
		r.perToken -= int64(len(m.TokenEmbd.Data)) - int64(m.TokenEmbd.RowBytes())
	}
	rng := rand.New(rand.NewPCG(1, 2))
	prompt := make([]int32, sh.pp)
	for i := range prompt {
		prompt[i] = int32(rng.IntN(m.Config.VocabSize))
	}
	runs := sh.runs
	if runs == 0 {
		runs = 3
		if r.size > 256<<20 {
			runs = 1
		}
	}
	// A first pass warms caches and, on Vulkan, builds the pipelines.
	if err := s.Eval(prompt[:8], 0); err != nil {
		return r, err
	}
	if _, err := s.Logits(); err != nil {
		return r, err
	}
	for range runs {
		t0 := time.Now()
		if err := s.Eval(prompt, 0); err != nil {
			return r, err
		}
		if _, err := s.Logits(); err != nil {
			return r, err
		}
		r.pp = max(r.pp, float64(len(prompt))/time.Since(t0).Seconds())
	}
	smp, _ := sampling.New(sampling.Greedy())
	for range runs {
		if err := s.Eval(prompt[:1], 0); err != nil {
			return r, err
		}
		t0 := time.Now()
		for pos := 1; pos <= sh.tg; pos++ {
			tok, err := s.Sample(smp)
			if err != nil {
				return r, err
			}
			if err := s.Eval([]int32{tok}, pos); err != nil {
				return r, err
			}
		}
		if _, err := s.Sample(smp); err != nil {
			return r, err
		}
		r.tg = max(r.tg, float64(sh.tg)/time.Since(t0).Seconds())
	}
	if r.pp == 0 || r.tg == 0 {
		return r, errors.New("no timing")
	}
	return r, nil
}

// stepCost splits generation steps on a profiling device into GPU time
// (the sum of the ops' timestamps) and the rest of each step's wall time,
// averaged over 32 steps.
func stepCost(path string, kp *ops.Kernels, r *result) error {
	_, s, closeAll, err := openModel(path, vulkan.Backend{K: kp}, 256)
	if err != nil {
		return err
	}
	defer closeAll()
	e, ok := s.Executor().(*vulkan.Executor)
	if !ok {
		return fmt.Errorf("a %T runs the Vulkan backend's sessions", s.Executor())
	}
	smp, _ := sampling.New(sampling.Greedy())
	if err := s.Eval([]int32{1}, 0); err != nil {
		return err
	}
	tok, err := s.Sample(smp)
	if err != nil {
		return err
	}
	e.TakeProfile() // drops the first step, which binds the graph
	const steps = 32
	var wall, gpu time.Duration
	for pos := 1; pos <= steps; pos++ {
		// A step's wall time is Eval (recording) and Sample (submit,
		// fence wait, readback) together.
		t0 := time.Now()
		if err := s.Eval([]int32{tok}, pos); err != nil {
			return err
		}
		if tok, err = s.Sample(smp); err != nil {
			return err
		}
		wall += time.Since(t0)
		r.dispatches = 0
		for _, op := range e.TakeProfile() {
			r.dispatches += op.Calls
			gpu += op.Time
		}
	}
	r.gpu, r.fixed = gpu/steps, (wall-gpu)/steps
	return nil
}
