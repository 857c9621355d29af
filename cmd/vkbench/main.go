// Command vkbench generates the synthetic benchmark models and prints the
// CPU benchmark table.
//
//	vkbench gen [--dir bench-models] [--vocab PATH] [--only NAME]
//	vkbench run [--dir bench-models] [--threads N]
//
// The models have the real Llama-2 vocabulary and random weights in the
// shapes of stories15M (bench-15m) and TinyLlama-1.1B (bench-1b), in Q8_0,
// Q4_0 and a Q4_K/Q6_K mix. The table gives prompt processing (pp128) and
// generation (tg64) in tokens/s, as llama-bench measures them, and
// generation as a fraction of the machine's memory bandwidth, measured in
// the same run.
package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"
	"github.com/vkinfer/vkinfer/kernels"
	"github.com/vkinfer/vkinfer/model/gguf"
	"github.com/vkinfer/vkinfer/model/llama"
	"github.com/vkinfer/vkinfer/model/sampling"
)

func main() {
	if len(os.Args) < 2 || (os.Args[1] != "gen" && os.Args[1] != "run") {
		fmt.Fprintln(os.Stderr, "usage: vkbench gen|run [flags]")
		os.Exit(2)
	}
	fs := pflag.NewFlagSet("vkbench "+os.Args[1], pflag.ExitOnError)
	dir := fs.String("dir", "bench-models", "folder of the benchmark models")
	vocab := fs.String("vocab", "../shared/models/vocab/ggml-vocab-llama-spm.gguf", "GGUF with the Llama-2 vocabulary (gen)")
	only := fs.String("only", "", "only this model or shape (gen)")
	threads := fs.Int("threads", 0, "CPU threads (0 = all cores) (run)")
	fs.Parse(os.Args[2:])
	var err error
	if os.Args[1] == "gen" {
		err = generate(*dir, *vocab, *only)
	} else {
		err = bench(*dir, *threads)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "vkbench: %v\n", err)
		os.Exit(1)
	}
}

// copyBandwidth measures memory bandwidth as the traffic (read + write) of
// copying a buffer far larger than the caches, split over threads.
func copyBandwidth(threads int) float64 {
	const size = 512 << 20
	src, dst := make([]byte, size), make([]byte, size)
	for i := range src {
		src[i] = byte(i)
	}
	best := time.Duration(1 << 62)
	for range 3 {
		t0 := time.Now()
		done := make(chan struct{})
		for p := range threads {
			go func() {
				lo, hi := size*p/threads, size*(p+1)/threads
				copy(dst[lo:hi], src[lo:hi])
				done <- struct{}{}
			}()
		}
		for range threads {
			<-done
		}
		best = min(best, time.Since(t0))
	}
	return 2 * size / best.Seconds()
}

func bench(dir string, threads int) error {
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	kernels.SetThreads(threads)
	paths, _ := filepath.Glob(filepath.Join(dir, "*.gguf"))
	if len(paths) == 0 {
		return fmt.Errorf("no models in %s: run `make bench-models` first", dir)
	}
	sort.Strings(paths)
	bw := copyBandwidth(threads)
	simd := "portable Go"
	if kernels.SIMD() {
		simd = "AVX2"
	}
	fmt.Printf("CPU kernels: %s, %d threads; memory bandwidth (copy traffic): %.1f GB/s\n\n", simd, threads, bw/1e9)
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "model\tweights MiB\tpp128 t/s\ttg64 t/s\tbytes/token MiB\ttg % of bandwidth\t")
	for _, path := range paths {
		name := filepath.Base(path[:len(path)-len(".gguf")])
		pp, tg, perToken, size, err := benchModel(path)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.2f\t%.1f\t%.1f%%\t\n", name, size>>20, pp, tg, float64(perToken)/(1<<20), 100*tg*float64(perToken)/bw)
	}
	return tw.Flush()
}

// benchModel returns pp128 and tg64 in tokens/s (best of a few runs), the
// weight bytes one generated token reads, and the weights' size.
func benchModel(path string) (pp, tg float64, perToken, size int64, err error) {
	f, err := gguf.Open(path)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	defer f.Close()
	m, err := llama.Load(f)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	size = m.WeightBytes()
	// A token reads every weight once, except the embedding table, of
	// which it reads one row (unless the output projection is tied to it).
	perToken = size
	if !m.TiedOutput {
		perToken -= int64(len(m.TokenEmbd.Data)) - int64(m.TokenEmbd.RowBytes())
	}
	s, err := m.NewCPUSession(256)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	defer s.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	prompt := make([]int32, 128)
	for i := range prompt {
		prompt[i] = int32(rng.IntN(m.Config.VocabSize))
	}
	runs := 3
	if size > 256<<20 {
		runs = 1
	}
	for range runs {
		t0 := time.Now()
		if err := s.Eval(prompt, 0); err != nil {
			return 0, 0, 0, 0, err
		}
		pp = max(pp, float64(len(prompt))/time.Since(t0).Seconds())
	}
	smp, _ := sampling.New(sampling.Greedy())
	for range runs {
		if err := s.Eval(prompt[:1], 0); err != nil {
			return 0, 0, 0, 0, err
		}
		t0 := time.Now()
		for pos := 1; pos <= 64; pos++ {
			tok, err := s.Sample(smp)
			if err != nil {
				return 0, 0, 0, 0, err
			}
			if err := s.Eval([]int32{tok}, pos); err != nil {
				return 0, 0, 0, 0, err
			}
		}
		tg = max(tg, 64/time.Since(t0).Seconds())
	}
	return pp, tg, perToken, size, nil
}
