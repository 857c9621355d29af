// Command vkbench generates the synthetic benchmark models and prints the
// benchmark tables: the CPU kernels, the Vulkan backend, and both beside
// llama.cpp's figures for the shared test models.
//
//	vkbench gen [--dir bench-models] [--vocab PATH] [--only NAME]
//	vkbench run [--dir bench-models] [--threads N] [--kernels SET] [--shared ../shared] [--vulkan-max-mib 64] [--llama-bench PATH [--versus-only]]
//	vkbench serve --socket PATH --model NAME [--streams 1,4,8,16] [--prompt-tokens 128] [--gen-tokens 128] [--rounds 2]
//
// serve measures aggregate generation through a running daemon's socket
// with concurrent streams (start vkinferd with --parallel at least the
// largest stream count).
//
// The models have the real Llama-2 vocabulary and random weights in the
// shapes of stories15M (bench-15m) and TinyLlama-1.1B (bench-1b), in Q8_0,
// Q4_0 and a Q4_K/Q6_K mix. The table gives prompt processing (pp128) and
// generation (tg64) in tokens/s, as llama-bench measures them, and
// generation as a fraction of the machine's memory bandwidth, measured in
// the same run. With --llama-bench naming llama.cpp's llama-bench, a last
// table runs it on the same files, interleaved with ours, and gives the
// ratio per row (versus.go).
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/vkinfer/vkinfer/kernels"
)

func main() {
	if len(os.Args) < 2 || (os.Args[1] != "gen" && os.Args[1] != "run" && os.Args[1] != "serve") {
		fmt.Fprintln(os.Stderr, "usage: vkbench gen|run|serve [flags]")
		os.Exit(2)
	}
	if os.Args[1] == "serve" {
		fs := pflag.NewFlagSet("vkbench serve", pflag.ExitOnError)
		cfg := serveConfig{}
		fs.StringVar(&cfg.socket, "socket", "", "the daemon's socket")
		fs.StringVar(&cfg.model, "model", "", "model name")
		fs.IntSliceVar(&cfg.streams, "streams", []int{1, 4, 8, 16}, "concurrent stream counts")
		fs.IntVar(&cfg.promptTokens, "prompt-tokens", 128, "prompt tokens per stream")
		fs.IntVar(&cfg.genTokens, "gen-tokens", 128, "generated tokens per stream")
		fs.IntVar(&cfg.rounds, "rounds", 2, "rounds per stream count (the best is shown)")
		fs.Parse(os.Args[2:])
		if cfg.socket == "" || cfg.model == "" || len(cfg.streams) == 0 {
			fmt.Fprintln(os.Stderr, "vkbench serve: --socket, --model and --streams are required")
			os.Exit(2)
		}
		if err := serve(cfg); err != nil {
			fmt.Fprintf(os.Stderr, "vkbench: %v\n", err)
			os.Exit(1)
		}
		return
	}
	fs := pflag.NewFlagSet("vkbench "+os.Args[1], pflag.ExitOnError)
	dir := fs.String("dir", "bench-models", "folder of the benchmark models")
	vocab := fs.String("vocab", "../shared/models/vocab/ggml-vocab-llama-spm.gguf", "GGUF with the Llama-2 vocabulary (gen)")
	only := fs.String("only", "", "only this model or shape (gen)")
	threads := fs.Int("threads", 0, "CPU threads (0 = all cores) (run)")
	kernelSet := fs.String("kernels", "", "CPU kernel set: go, avx2, vnni or bf16, at most the CPU's best (default its best) (run)")
	shared := fs.String("shared", "../shared", "shared folder with the test models and llama.cpp's figures (run)")
	llamaBench := fs.String("llama-bench", "", "llama.cpp's llama-bench binary: adds the side-by-side table (run)")
	versusOnly := fs.Bool("versus-only", false, "only the side-by-side table (run; needs --llama-bench)")
	versusRows := fs.String("versus-rows", "", "only the side-by-side rows whose label holds this, e.g. lavapipe (run)")
	versusRounds := fs.Int("versus-rounds", 2, "interleaved rounds (ours, theirs) per side-by-side row; the best of each is compared (run)")
	vkMax := fs.Int("vulkan-max-mib", 64, "skip models with more weights than this on the Vulkan device (run; lavapipe runs a 1B model at seconds per token)")
	fs.Parse(os.Args[2:])
	var err error
	if os.Args[1] == "gen" {
		err = generate(*dir, *vocab, *only)
	} else if err = useKernels(*kernelSet); err == nil {
		err = bench(benchOptions{dir: *dir, shared: *shared, llamaBench: *llamaBench, versusRows: *versusRows, versusOnly: *versusOnly, versusRounds: *versusRounds, threads: *threads, vkMaxMiB: *vkMax})
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "vkbench: %v\n", err)
		os.Exit(1)
	}
}

// useKernels selects the named CPU kernel set (none: the CPU's best), so
// one machine can measure a lower set beside its best.
func useKernels(name string) error {
	if name == "" {
		return nil
	}
	return kernels.UseKernelSet(name)
}

// bandwidth measures memory bandwidth on buffers far larger than the
// caches, split over threads, best of three runs: copy as the traffic
// (read + write) of copying, as STREAM counts it, and read as the traffic
// of summing every word, which is what a decode step's stream of weights
// is. On a machine whose reads and writes share the bus, read is about
// half of copy.
func bandwidth(threads int) (copyBW, readBW float64) {
	const size = 512 << 20
	src, dst := make([]uint64, size/8), make([]uint64, size/8)
	for i := range src {
		src[i] = uint64(i)
	}
	sums := make([]uint64, threads)
	copyBW = 2 * size / bestOf3(threads, func(p int) {
		lo, hi := len(src)*p/threads, len(src)*(p+1)/threads
		copy(dst[lo:hi], src[lo:hi])
	})
	readBW = size / bestOf3(threads, func(p int) {
		w := src[len(src)*p/threads : len(src)*(p+1)/threads]
		var s0, s1, s2, s3 uint64
		for i := 0; i+4 <= len(w); i += 4 {
			s0 += w[i]
			s1 += w[i+1]
			s2 += w[i+2]
			s3 += w[i+3]
		}
		sums[p] = s0 + s1 + s2 + s3
	})
	return copyBW, readBW
}

// bestOf3 runs part(0..threads-1) on as many goroutines three times and
// returns the fastest run's seconds.
func bestOf3(threads int, part func(p int)) float64 {
	best := time.Duration(1 << 62)
	for range 3 {
		t0 := time.Now()
		done := make(chan struct{})
		for p := range threads {
			go func() {
				part(p)
				done <- struct{}{}
			}()
		}
		for range threads {
			<-done
		}
		best = min(best, time.Since(t0))
	}
	return best.Seconds()
}
