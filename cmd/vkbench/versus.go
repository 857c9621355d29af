package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/vkinfer/vkinfer/backend/cpu"
	"github.com/vkinfer/vkinfer/backend/vulkan"
	"github.com/vkinfer/vkinfer/runner"
	"github.com/vkinfer/vkinfer/vk"
	"github.com/vkinfer/vkinfer/vk/ops"
)

// versusCase is one model on one backend in the side-by-side table: the
// figures it measures (tests, in tokens/s), ours, and the llama-bench
// arguments that measure the same on llama.cpp (nil, with why, when
// there is none to compare with).
type versusCase struct {
	label  string
	tests  []llamaTest
	ours   func() ([]float64, error)
	theirs []string
	why    string
}

// llamaTest names one llama-bench figure: a prompt of pp tokens or a
// generation of tg.
type llamaTest struct{ pp, tg int }

func (t llamaTest) String() string {
	if t.tg > 0 {
		return fmt.Sprintf("tg%d", t.tg)
	}
	return fmt.Sprintf("pp%d", t.pp)
}

// versus measures each case whose label holds o.versusRows o.versusRounds
// times, interleaved with llama.cpp's llama-bench on the same file (ours,
// theirs, ours, theirs, so a machine that slows down slows both), and
// prints every run and the ratio of the fastest ones.
func versus(o benchOptions, k *ops.Kernels) error {
	llamaBench, threads, rounds := o.llamaBench, o.threads, max(1, o.versusRounds)
	var cases []versusCase
	for _, c := range versusCases(o.dir, o.shared, threads, k) {
		if strings.Contains(c.label, o.versusRows) {
			cases = append(cases, c)
		}
	}
	hasVulkan := llamaHasVulkan(llamaBench, cases)
	var table bytes.Buffer
	tw := tabwriter.NewWriter(&table, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "model\ttest\tours t/s\tllama.cpp t/s\tratio\t")
	for _, c := range cases {
		fmt.Fprintf(os.Stderr, "vkbench: side by side: %s\n", c.label)
		if c.theirs != nil && strings.Contains(c.label, "lavapipe") && !hasVulkan {
			c.theirs, c.why = nil, "this llama-bench has no Vulkan backend"
		}
		ours, theirs := make([][]float64, rounds), make([][]float64, rounds)
		var theirsErr error
		for round := range rounds {
			var err error
			if ours[round], err = c.ours(); err != nil {
				return fmt.Errorf("%s: %w", c.label, err)
			}
			if c.theirs != nil && theirsErr == nil {
				theirs[round], theirsErr = runLlamaBench(llamaBench, c.theirs, c.tests)
			}
		}
		for i, t := range c.tests {
			ourRuns, ourBest := runs(ours, i)
			th, r := "–", "–"
			switch {
			case theirsErr != nil:
				th = "error: " + theirsErr.Error()
			case c.theirs == nil:
				th = c.why
			default:
				var theirBest float64
				th, theirBest = runs(theirs, i)
				r = ratio(ourBest, theirBest)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", c.label, t, ourRuns, th, r)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Printf("\nSide by side with llama.cpp (%s, -t %d; %d rounds of ours then theirs; ratio = our fastest run / theirs):\n\n%s",
		llamaBench, threads, rounds, table.String())
	return nil
}

// runs formats figure i of every round ("41.3 / 40.5 / ...") and returns
// the best of them.
func runs(rounds [][]float64, i int) (string, float64) {
	cells := make([]string, len(rounds))
	var best float64
	for r, figures := range rounds {
		cells[r] = fmt.Sprintf("%.1f", figures[i])
		best = max(best, figures[i])
	}
	return strings.Join(cells, " / "), best
}

// versusCases lists the table's rows: pp512 and tg128 of bench-1b and
// bench-15m on the CPU, pp128 and tg64 of bench-15m on lavapipe, a
// 2,048-token prompt of bench-15m Q4_0 on both, and MiniLM embedding a
// batch of 32 sentences (against llama.cpp's per-sequence rate, -embd 1
// -p 16, on the CPU and its -p 128 rate on the device).
func versusCases(dir, shared string, threads int, k *ops.Kernels) []versusCase {
	t := strconv.Itoa(threads)
	// pp and tg: the prompt and generation lengths issue 19 sets its
	// targets at (pp512/tg128 on the CPU, pp128/tg64 on lavapipe); tg 0
	// measures the prompt alone.
	model := func(path, label string, be runner.Backend, ngl string, pp, tg int) versusCase {
		tests := []llamaTest{{pp: pp}}
		if tg > 0 {
			tests = append(tests, llamaTest{tg: tg})
		}
		return versusCase{
			label: label, tests: tests,
			ours: func() ([]float64, error) {
				// benchShape times a generation too: one token when
				// the row has none.
				r, err := benchShape(path, be, workload{pp: pp, tg: max(tg, 1), runs: 1})
				return []float64{r.pp, r.tg}[:len(tests)], err
			},
			theirs: []string{"-m", path, "-p", strconv.Itoa(pp), "-n", strconv.Itoa(tg), "-t", t, "-ngl", ngl},
		}
	}
	// A prompt of 2,048 tokens, the model's whole context: attention's
	// share of a step grows with it.
	const long = 2048
	var cases []versusCase
	for _, size := range []string{"bench-1b", "bench-15m"} {
		for _, mix := range []string{"Q4_0", "Q4_K_M", "Q8_0"} {
			path := filepath.Join(dir, size+"-"+mix+".gguf")
			if fileExists(path) {
				cases = append(cases, model(path, size+"-"+mix+" CPU", cpu.Backend{}, "0", 512, 128))
			}
		}
	}
	longPath := filepath.Join(dir, "bench-15m-Q4_0.gguf")
	if fileExists(longPath) {
		cases = append(cases, model(longPath, "bench-15m-Q4_0 CPU 2k prompt", cpu.Backend{}, "0", long, 0))
	}
	if k != nil {
		for _, mix := range []string{"Q4_0", "Q4_K_M", "Q8_0"} {
			path := filepath.Join(dir, "bench-15m-"+mix+".gguf")
			if fileExists(path) {
				cases = append(cases, model(path, "bench-15m-"+mix+" lavapipe", vulkan.Backend{K: k}, "99", 128, 64))
			}
		}
		if fileExists(longPath) {
			cases = append(cases, model(longPath, "bench-15m-Q4_0 lavapipe 2k prompt", vulkan.Backend{K: k}, "99", long, 0))
		}
	}
	embed := filepath.Join(shared, "models", "embed", "all-MiniLM-L6-v2-Q4_K_M.gguf")
	if fileExists(embed) {
		cases = append(cases, versusCase{
			label: "MiniLM batch of 32 CPU", tests: []llamaTest{{pp: 16}},
			ours: func() ([]float64, error) {
				_, tps, err := benchEmbed(embed, nil)
				return []float64{tps}, err
			},
			theirs: []string{"-m", embed, "-embd", "1", "-p", "16", "-n", "0", "-t", t, "-ngl", "0"},
		})
		if k != nil {
			cases = append(cases, versusCase{
				label: "MiniLM batch of 32 lavapipe", tests: []llamaTest{{pp: 128}},
				ours: func() ([]float64, error) {
					_, tps, err := benchEmbed(embed, k)
					return []float64{tps}, err
				},
				theirs: []string{"-m", embed, "-embd", "1", "-p", "128", "-n", "0", "-t", t, "-ngl", "99"},
			})
		}
	}
	return cases
}

// llamaRun is the part of one llama-bench JSON record the table reads.
type llamaRun struct {
	Backends string  `json:"backends"`
	NPrompt  int     `json:"n_prompt"`
	NGen     int     `json:"n_gen"`
	AvgTS    float64 `json:"avg_ts"`
}

// runLlamaBench runs llama-bench once (-r 1) with args and returns its
// figure for each test.
func runLlamaBench(bin string, args []string, tests []llamaTest) ([]float64, error) {
	runs, err := llamaBenchJSON(bin, args)
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(tests))
	for i, t := range tests {
		found := false
		for _, r := range runs {
			if r.NPrompt == t.pp && r.NGen == t.tg {
				out[i], found = r.AvgTS, true
			}
		}
		if !found {
			return nil, fmt.Errorf("llama-bench gave no %s figure", t)
		}
	}
	return out, nil
}

func llamaBenchJSON(bin string, args []string) ([]llamaRun, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, append(append([]string{}, args...), "-r", "1", "-o", "json")...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		tail := stderr.String()
		if len(tail) > 300 {
			tail = tail[len(tail)-300:]
		}
		return nil, fmt.Errorf("llama-bench %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(tail))
	}
	var runs []llamaRun
	if err := json.Unmarshal(stdout.Bytes(), &runs); err != nil {
		return nil, fmt.Errorf("llama-bench output: %w", err)
	}
	return runs, nil
}

// llamaHasVulkan asks llama-bench, on the first lavapipe case's model,
// whether it was built with a Vulkan backend: without one it runs
// -ngl 99 on the CPU and says so in its backends field.
func llamaHasVulkan(bin string, cases []versusCase) bool {
	for _, c := range cases {
		if !strings.Contains(c.label, "lavapipe") {
			continue
		}
		runs, err := llamaBenchJSON(bin, []string{"-m", c.theirs[1], "-p", "8", "-n", "0", "-ngl", "99"})
		return err == nil && len(runs) > 0 && strings.Contains(runs[0].Backends, "Vulkan")
	}
	return false
}

// lavapipe opens the Vulkan device (lavapipe here) for the side-by-side
// table alone; nil, and no lavapipe rows, without one.
func lavapipe() (*ops.Kernels, func()) {
	opts := vk.DefaultOptions()
	opts.AllowCPU, opts.Profile = true, false
	dev, err := vk.Open(opts)
	if err != nil {
		fmt.Printf("Vulkan: no device (%v); no lavapipe rows\n", err)
		return nil, func() {}
	}
	k := ops.New(dev)
	return k, func() { k.Close(); dev.Close() }
}
