// Command vksoak puts a running vkinferd under mixed load for a bounded
// time and checks that it loses nothing: every request ends with exactly
// one done or error, nothing leaks (goroutines, file descriptors), memory
// stays bounded. It prints latency percentiles and throughput, and exits
// non-zero when an invariant breaks. Besides the msgpack clients,
// --http-clients speak the HTTP dialects on the same socket. Loopback
// only: it talks to a Unix socket. `make soak` starts a daemon and runs it.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"
	"github.com/vkinfer/vkinfer/ipc"
)

type result struct {
	op      string
	latency time.Duration
	code    string // "" on success
	tokens  int
	expect  string // the code this request should end with ("" or canceled)
}

func main() {
	fs := pflag.NewFlagSet("vksoak", pflag.ExitOnError)
	socket := fs.String("socket", ipc.DefaultSocketPath(), "daemon socket")
	pid := fs.Int("pid", 0, "daemon pid, for file descriptor and memory figures")
	clients := fs.Int("clients", 16, "concurrent msgpack clients")
	httpClients := fs.Int("http-clients", 4, "concurrent HTTP clients besides them")
	conns := fs.Int("conns", 4, "connections they share")
	duration := fs.Duration("duration", 30*time.Second, "how long to run")
	maxRequests := fs.Int("max-requests", 20000, "stop after this many requests")
	requestTimeout := fs.Duration("request-timeout", time.Minute, "fail a request with no done or error frame by then")
	genModel := fs.String("gen-model", "stories260K", "text generation model")
	embedModel := fs.String("embed-model", "all-MiniLM-L6-v2-Q4_K_M", "embedding model")
	rssLimit := fs.Int64("rss-limit-mib", 1024, "fail when the daemon's RSS exceeds this")
	fs.Parse(os.Args[1:])
	if err := run(*socket, *pid, *clients, *httpClients, *conns, *duration, *requestTimeout, *maxRequests, *genModel, *embedModel, *rssLimit); err != nil {
		fmt.Fprintf(os.Stderr, "vksoak: FAIL: %v\n", err)
		os.Exit(1)
	}
	fmt.Println("vksoak: PASS")
}

// procStats reads a process's open descriptors and resident memory.
func procStats(pid int) (fds int, rssKiB int64) {
	if pid == 0 {
		return -1, -1
	}
	entries, _ := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "fd"))
	status, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			rssKiB, _ = strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return len(entries), rssKiB
}

// goroutines reads the daemon's goroutine count from its status, less
// one per pool worker: load starts workers (up to --parallel per model)
// that stay until their model's keep-alive ends, and they are no leak.
func goroutines(c *ipc.Client) (uint64, error) {
	st, err := c.Status(context.Background())
	if err != nil {
		return 0, fmt.Errorf("status for the goroutine count: %w", err)
	}
	n, ok := st.Counters["goroutines"]
	if !ok {
		return 0, errors.New("status has no goroutine count")
	}
	for _, p := range st.Pools {
		for _, m := range p.Models {
			n -= uint64(m.Workers)
		}
	}
	return n, nil
}

// timedOut is the code of a request that got neither done nor error
// within the request deadline.
const timedOut = "no_reply_in_time"

func run(socket string, pid, nClients, nHTTP, nConns int, duration, requestTimeout time.Duration, maxRequests int, genModel, embedModel string, rssLimit int64) error {
	ctx := context.Background()
	probe, err := ipc.Dial(ctx, socket)
	if err != nil {
		return err
	}
	defer probe.Close()
	// Warm up: load both models so the baseline includes them.
	zero := 0.0
	if s, err := probe.Generate(ctx, &ipc.Request{Model: genModel, Prompt: "Once", MaxTokens: 2, Options: &ipc.Options{Temperature: &zero}}); err != nil {
		return err
	} else if err := drain(s, nil); err != nil {
		return fmt.Errorf("warm-up generate: %w", err)
	}
	if _, err := probe.Embed(ctx, &ipc.Request{Model: embedModel, Input: []string{"warm up"}}); err != nil {
		return fmt.Errorf("warm-up embed: %w", err)
	}
	// One HTTP request starts the daemon's HTTP server, which then stays.
	hc, transport := httpClient(socket)
	if r := httpRequest(ctx, hc, rand.New(rand.NewPCG(0, 0)), []string{"warm"}, genModel, embedModel); r.code != "" {
		return fmt.Errorf("warm-up %s: %s", r.op, r.code)
	}
	transport.CloseIdleConnections()
	time.Sleep(200 * time.Millisecond)
	g0, err := goroutines(probe)
	if err != nil {
		return err
	}
	fd0, rss0 := procStats(pid)

	var clients []*ipc.Client
	for i := 0; i < nConns; i++ {
		c, err := ipc.Dial(ctx, socket)
		if err != nil {
			return err
		}
		clients = append(clients, c)
	}
	deadline := time.Now().Add(duration)
	var issued sync.WaitGroup
	var mu sync.Mutex
	var results []result
	var count int
	var maxRSS int64
	stopSampling := make(chan struct{})
	go func() {
		for {
			select {
			case <-stopSampling:
				return
			case <-time.After(100 * time.Millisecond):
				if _, rss := procStats(pid); rss > maxRSS {
					mu.Lock()
					maxRSS = max(maxRSS, rss)
					mu.Unlock()
				}
			}
		}
	}()
	words := strings.Fields("once upon a time there was a little girl named lily who loved to play in the park with her dog")
	start := time.Now()
	for i := 0; i < nClients+nHTTP; i++ {
		issued.Add(1)
		go func(i int) {
			defer issued.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 42))
			send := func(ctx context.Context) result {
				return randomRequest(ctx, clients[i%len(clients)], rng, words, genModel, embedModel)
			}
			if i >= nClients {
				send = func(ctx context.Context) result { return httpRequest(ctx, hc, rng, words, genModel, embedModel) }
			}
			for time.Now().Before(deadline) {
				mu.Lock()
				if count >= maxRequests {
					mu.Unlock()
					return
				}
				count++
				mu.Unlock()
				r := oneRequest(send, requestTimeout)
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
			}
		}(i)
	}
	issued.Wait()
	transport.CloseIdleConnections()
	elapsed := time.Since(start)
	close(stopSampling)
	var stray uint64
	for _, c := range clients {
		stray += c.StrayFrames()
		c.Close()
	}
	time.Sleep(500 * time.Millisecond) // let the daemon finish closing
	g1, err := goroutines(probe)
	if err != nil {
		return err
	}
	fd1, rss1 := procStats(pid)
	stray += probe.StrayFrames()

	return report(results, elapsed, stray, g0, g1, fd0, fd1, rss0, rss1, maxRSS, rssLimit)
}

// oneRequest sends one random request and waits at most timeout for its
// end: a request still open then is a failure of the daemon (timedOut).
func oneRequest(send func(context.Context) result, timeout time.Duration) result {
	ctx, stop := context.WithTimeout(context.Background(), timeout)
	defer stop()
	t0 := time.Now()
	r := send(ctx)
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		r.code = timedOut
	}
	r.latency = time.Since(t0)
	return r
}

func randomRequest(ctx context.Context, c *ipc.Client, rng *rand.Rand, words []string, genModel, embedModel string) result {
	switch p := rng.IntN(10); {
	case p < 7:
		var prompt []string
		for range 1 + rng.IntN(12) {
			prompt = append(prompt, words[rng.IntN(len(words))])
		}
		temp, topP := rng.Float64()*1.2, 0.5+rng.Float64()*0.5
		seed := rng.Uint64()
		req := &ipc.Request{Model: genModel, Prompt: strings.Join(prompt, " "), MaxTokens: 1 + rng.IntN(64),
			Options: &ipc.Options{Temperature: &temp, TopP: &topP, Seed: &seed}}
		r := result{op: "generate"}
		cancelAfter := -1
		if rng.IntN(5) == 0 { // a fifth are cancelled mid-stream
			cancelAfter = 1 + rng.IntN(4)
			r.op, r.expect = "generate-cancelled", ipc.CodeCanceled
		}
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		s, err := c.Generate(cctx, req)
		if err == nil {
			n := 0
			err = drain(s, func(tokens int) {
				n++
				r.tokens += tokens
				if n == cancelAfter {
					cancel()
				}
			})
		}
		if err != nil {
			r.code = ipc.CodeOf(err)
			if errors.Is(err, context.Canceled) {
				r.code = ipc.CodeCanceled
			}
		} else if cancelAfter > 0 {
			r.expect = "" // it finished before its cancel point
		}
		return r
	case p < 9:
		var texts []string
		for range 1 + rng.IntN(4) {
			texts = append(texts, strings.Join(words[:1+rng.IntN(len(words))], " "))
		}
		_, err := c.Embed(ctx, &ipc.Request{Model: embedModel, Input: texts})
		return result{op: "embed", code: codeOf(err)}
	default:
		_, err := c.Status(ctx)
		return result{op: "status", code: codeOf(err)}
	}
}

func codeOf(err error) string {
	if err == nil {
		return ""
	}
	return ipc.CodeOf(err)
}

func drain(s *ipc.Stream, onChunk func(tokens int)) error {
	for {
		ch, err := s.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if onChunk != nil {
			onChunk(len(ch.Tokens))
		}
	}
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[min(len(d)-1, int(p*float64(len(d))))]
}

func report(results []result, elapsed time.Duration, stray, g0, g1 uint64, fd0, fd1 int, rss0, rss1, maxRSS, rssLimit int64) error {
	var problems []string
	byOp := map[string][]result{}
	tokens := 0
	for _, r := range results {
		byOp[r.op] = append(byOp[r.op], r)
		tokens += r.tokens
		if r.code != r.expect {
			problems = append(problems, fmt.Sprintf("%s ended with %q, want %q", r.op, r.code, r.expect))
		}
	}
	fmt.Printf("%d requests in %s (%.1f/s); %d tokens generated (%.1f tokens/s)\n",
		len(results), elapsed.Round(time.Millisecond), float64(len(results))/elapsed.Seconds(), tokens, float64(tokens)/elapsed.Seconds())
	fmt.Printf("%-24s %7s %7s %10s %10s %10s\n", "op", "count", "errors", "p50", "p99", "max")
	ops := make([]string, 0, len(byOp))
	for op := range byOp {
		ops = append(ops, op)
	}
	slices.Sort(ops)
	for _, op := range ops {
		rs := byOp[op]
		var lat []time.Duration
		errs := 0
		for _, r := range rs {
			lat = append(lat, r.latency)
			if r.code != "" {
				errs++
			}
		}
		slices.Sort(lat)
		fmt.Printf("%-24s %7d %7d %10s %10s %10s\n", op, len(rs), errs,
			percentile(lat, 0.5).Round(time.Microsecond), percentile(lat, 0.99).Round(time.Microsecond), lat[len(lat)-1].Round(time.Microsecond))
	}
	fmt.Printf("daemon goroutines beside its workers: %d before, %d after\n", g0, g1)
	if fd0 >= 0 {
		fmt.Printf("daemon file descriptors: %d before, %d after\n", fd0, fd1)
		fmt.Printf("daemon RSS: %d MiB before, %d MiB after, %d MiB at most (limit %d MiB)\n", rss0/1024, rss1/1024, maxRSS/1024, rssLimit)
		if fd1 > fd0 {
			problems = append(problems, fmt.Sprintf("file descriptors grew from %d to %d", fd0, fd1))
		}
		if maxRSS/1024 > rssLimit {
			problems = append(problems, fmt.Sprintf("RSS reached %d MiB", maxRSS/1024))
		}
	}
	fmt.Printf("stray frames (a second reply to a finished request): %d\n", stray)
	if stray > 0 {
		problems = append(problems, fmt.Sprintf("%d stray frames", stray))
	}
	if g1 > g0+2 {
		problems = append(problems, fmt.Sprintf("goroutines grew from %d to %d", g0, g1))
	}
	if len(problems) > 0 {
		if len(problems) > 10 {
			problems = append(problems[:10], fmt.Sprintf("and %d more", len(problems)-10))
		}
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}
