// Command vkbench generates the synthetic benchmark models and prints the
// benchmark tables: the CPU kernels, the Vulkan backend, and both beside
// llama.cpp's figures for the shared test models.
//
//	vkbench gen [--dir bench-models] [--vocab PATH] [--only NAME]
//	vkbench run [--dir bench-models] [--threads N] [--shared ../shared] [--vulkan-max-mib 64]
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
	"os"
	"time"

	"github.com/spf13/pflag"
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
	shared := fs.String("shared", "../shared", "shared folder with the test models and llama.cpp's figures (run)")
	vkMax := fs.Int("vulkan-max-mib", 64, "skip models with more weights than this on the Vulkan device (run; lavapipe runs a 1B model at seconds per token)")
	fs.Parse(os.Args[2:])
	var err error
	if os.Args[1] == "gen" {
		err = generate(*dir, *vocab, *only)
	} else {
		err = bench(*dir, *shared, *threads, *vkMax)
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
