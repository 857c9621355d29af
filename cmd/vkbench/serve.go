package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vkinfer/vkinfer/ipc"
)

// serveConfig is what `vkbench serve` measures: concurrent streams of
// generation through a running daemon's socket.
type serveConfig struct {
	socket       string
	model        string
	streams      []int
	promptTokens int
	genTokens    int
	rounds       int
}

// streamTimes is one stream's request: when it was sent, when each of
// its tokens came, and when it was done.
type streamTimes struct {
	sent, first, done time.Time
	arrivals          []time.Time // per generated token
	prompt, generated int
}

// serveRow is one stream count's best round.
type serveRow struct {
	streams   int
	wall      float64 // generated tokens / (last done - first sent)
	decode    float64 // tokens after the last first token / (last done - that token)
	ttft      time.Duration
	prompt    int
	generated int
}

// serve measures aggregate generation through the daemon at each stream
// count: every stream sends its own prompt of promptTokens (so no prefix
// is shared) at once and reads genTokens. decode is comparable to
// llama-batched-bench's S_TG: the tokens that came after the last
// stream's first one, over the time from then to the last done (the
// window in which every stream decodes).
func serve(cfg serveConfig) error {
	ctx := context.Background()
	c, err := ipc.Dial(ctx, cfg.socket)
	if err != nil {
		return err
	}
	defer c.Close()
	prompts, err := calibrate(ctx, c, cfg, slices.Max(cfg.streams))
	if err != nil {
		return err
	}
	fmt.Printf("vkbench serve: %s, prompts of %d tokens, %d generated, best of %d rounds\n", cfg.model, cfg.promptTokens, cfg.genTokens, cfg.rounds)
	fmt.Printf("%8s %14s %14s %12s %14s\n", "streams", "decode t/s", "overall t/s", "mean ttft", "tokens")
	var single float64
	for _, n := range cfg.streams {
		var best serveRow
		for round := range cfg.rounds {
			// A round's prompts differ from the last one's, so the prefix
			// cache does not answer them.
			row, err := serveRound(ctx, cfg, prompts[:n], round)
			if err != nil {
				return err
			}
			if row.decode > best.decode {
				best = row
			}
		}
		if n == 1 {
			single = best.decode
		}
		fmt.Printf("%8d %14.1f %14.1f %12v %7d + %d", n, best.decode, best.wall, best.ttft.Round(time.Millisecond), best.prompt, best.generated)
		if single > 0 && n > 1 {
			fmt.Printf("   %.2fx one stream", best.decode/single)
		}
		fmt.Println()
	}
	return nil
}

// calibrate makes n distinct prompts of cfg.promptTokens tokens each, as
// the model's tokenizer counts them (the daemon's prompt_tokens).
func calibrate(ctx context.Context, c *ipc.Client, cfg serveConfig, n int) ([]string, error) {
	words := strings.Fields("the little girl named lily went to the park with her big red ball and she saw a tall tree near the blue pond where a happy dog played in the warm sun")
	count := func(text string) (int, error) {
		s, err := c.Generate(ctx, &ipc.Request{Model: cfg.model, Prompt: text, MaxTokens: 1})
		if err != nil {
			return 0, err
		}
		for {
			if _, err := s.Next(); errors.Is(err, io.EOF) {
				return s.Stats().PromptTokens, nil
			} else if err != nil {
				return 0, err
			}
		}
	}
	var prompts []string
	for i := range n {
		var b strings.Builder
		fmt.Fprintf(&b, "Story %d:", i)
		for k := 0; ; k++ {
			got, err := count(b.String())
			if err != nil {
				return nil, fmt.Errorf("calibrating prompt %d: %w", i, err)
			}
			if got >= cfg.promptTokens {
				break
			}
			// Add words while far from the target, then one at a time.
			for range max(1, (cfg.promptTokens-got)/2) {
				b.WriteString(" " + words[(i*7+k)%len(words)])
				k++
			}
		}
		prompts = append(prompts, b.String())
	}
	return prompts, nil
}

// serveRound runs one request per prompt at once, each on a connection
// of its own, and reduces their times to a row.
func serveRound(ctx context.Context, cfg serveConfig, prompts []string, round int) (serveRow, error) {
	times := make([]streamTimes, len(prompts))
	errs := make([]error, len(prompts))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, p := range prompts {
		wg.Go(func() {
			c, err := ipc.Dial(ctx, cfg.socket)
			if err != nil {
				errs[i] = err
				return
			}
			defer c.Close()
			zero, seed := 0.0, uint64(round)
			req := &ipc.Request{Model: cfg.model, Prompt: fmt.Sprintf("%s %d", p, round), MaxTokens: cfg.genTokens,
				Options: &ipc.Options{Temperature: &zero, Seed: &seed}}
			<-start
			t := &times[i]
			t.sent = time.Now()
			s, err := c.Generate(ctx, req)
			if err != nil {
				errs[i] = err
				return
			}
			for {
				ch, err := s.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					errs[i] = err
					return
				}
				now := time.Now()
				if t.first.IsZero() {
					t.first = now
				}
				for range ch.Tokens {
					t.arrivals = append(t.arrivals, now)
				}
			}
			t.done = time.Now()
			t.prompt, t.generated = s.Stats().PromptTokens, s.Stats().GeneratedTokens
		})
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return serveRow{}, err
	}
	row := serveRow{streams: len(prompts)}
	sent, lastFirst, lastDone := times[0].sent, times[0].first, times[0].done
	var gen, after int
	var ttft time.Duration
	for _, t := range times {
		if t.sent.Before(sent) {
			sent = t.sent
		}
		if t.first.After(lastFirst) {
			lastFirst = t.first
		}
		if t.done.After(lastDone) {
			lastDone = t.done
		}
		gen += t.generated
		ttft += t.first.Sub(t.sent)
		row.prompt += t.prompt
	}
	// Tokens that came while every stream decoded.
	for _, t := range times {
		for _, at := range t.arrivals {
			if at.After(lastFirst) {
				after++
			}
		}
	}
	row.generated = gen
	row.wall = float64(gen) / lastDone.Sub(sent).Seconds()
	row.decode = float64(after) / lastDone.Sub(lastFirst).Seconds()
	row.ttft = ttft / time.Duration(len(times))
	return row, nil
}
