package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/vkinfer/vkinfer/internal/testmodels"
)

// BenchmarkFirstToken is the client-side time to the first token of a
// greedy stories260K generation through each protocol of one daemon: the
// msgpack client, HTTP (SSE) on the same Unix socket, and HTTP on the TCP
// listener with its token. The differences are the HTTP path's overhead;
// connections are kept alive, as clients do. Timings on a shared machine
// are noise; compare the variants within one run.
func BenchmarkFirstToken(b *testing.B) {
	dir := b.TempDir()
	models := filepath.Join(dir, "models")
	if err := os.Mkdir(models, 0o700); err != nil {
		b.Fatal(err)
	}
	if err := os.Symlink(testmodels.Model(b, "llama/stories260K.gguf"), filepath.Join(models, "stories260K.gguf")); err != nil {
		b.Fatal(err)
	}
	d := startDaemon(b, models, filepath.Join(dir, "run", "vkinferd.sock"), "--device", "cpu", "--http", "127.0.0.1:0", "--log-level", "info")
	addr := waitLog(b, d, regexp.MustCompile(`"http listening" addr=(127\.0\.0\.1:\d+)`))
	token, err := os.ReadFile(filepath.Join(dir, "run", "http-token"))
	if err != nil {
		b.Fatal(err)
	}
	c := d.client()
	body := `{"model":"stories260K","prompt":"Once upon a time","max_tokens":1,"temperature":0,"stream":true}`
	sse := func(hc *http.Client, url, auth string) func(*testing.B) {
		return func(b *testing.B) {
			req, _ := http.NewRequest("POST", url, strings.NewReader(body))
			if auth != "" {
				req.Header.Set("Authorization", "Bearer "+auth)
			}
			resp, err := hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			line, err := bufio.NewReader(resp.Body).ReadString('\n')
			if err != nil || !strings.HasPrefix(line, "data: {") {
				b.Fatalf("first event %q, %v", line, err)
			}
			b.StopTimer()
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			b.StartTimer()
		}
	}
	for _, v := range []struct {
		name string
		run  func(*testing.B)
	}{
		{"msgpack", func(b *testing.B) {
			s, err := c.Generate(context.Background(), greedy(1))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := s.Next(); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			drain(s)
			b.StartTimer()
		}},
		{"http-unix", sse(unixHTTP(d.socket), "http://vkinferd/v1/completions", "")},
		{"http-tcp", sse(&http.Client{Transport: &http.Transport{}}, "http://"+addr+"/v1/completions", strings.TrimSpace(string(token)))},
	} {
		b.Run(v.name, func(b *testing.B) {
			v.run(b) // loads the model, opens the connection
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				v.run(b)
			}
		})
	}
}
