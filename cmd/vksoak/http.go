package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
)

// httpClient speaks HTTP to the daemon's Unix socket, keeping connections
// alive between requests as real clients do.
func httpClient(socket string) (*http.Client, *http.Transport) {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		MaxIdleConnsPerHost: 4,
	}
	return &http.Client{Transport: tr}, tr
}

// httpRequest sends one random request of the HTTP dialects: streamed
// OpenAI completions (a fifth dropped mid-stream by closing the
// connection), Ollama generations, embeddings of both dialects, health and
// metrics. A reply that is not 200 or a stream without its proper end is
// an error with the code "http_<status>" or "bad_stream".
func httpRequest(ctx context.Context, hc *http.Client, rng *rand.Rand, words []string, genModel, embedModel string) result {
	var prompt []string
	for range 1 + rng.IntN(12) {
		prompt = append(prompt, words[rng.IntN(len(words))])
	}
	text := strings.Join(prompt, " ")
	switch p := rng.IntN(10); {
	case p < 5:
		body := map[string]any{"model": genModel, "prompt": text, "max_tokens": 1 + rng.IntN(64), "stream": true,
			"temperature": rng.Float64() * 1.2, "seed": rng.IntN(1 << 30), "stream_options": map[string]bool{"include_usage": true}}
		r := result{op: "http-completion"}
		drop := rng.IntN(5) == 0
		if drop {
			r.op = "http-completion-dropped"
		}
		resp, err := post(ctx, hc, "/v1/completions", body)
		if err != nil {
			return httpFailure(r, err)
		}
		defer resp.Body.Close()
		br := bufio.NewReader(resp.Body)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				r.code = "bad_stream"
				return r
			}
			if strings.HasPrefix(line, "data: [DONE]") {
				return r
			}
			if strings.HasPrefix(line, `data: {"error"`) {
				r.code = "stream_error"
				return r
			}
			if strings.HasPrefix(line, "data: ") {
				r.tokens++
				if drop {
					return r // Body.Close drops the connection mid-stream
				}
			}
		}
	case p < 7:
		body := map[string]any{"model": genModel, "prompt": text, "raw": true, "stream": false,
			"options": map[string]any{"num_predict": 1 + rng.IntN(32), "temperature": 0}}
		var reply struct {
			Done      bool `json:"done"`
			EvalCount int  `json:"eval_count"`
		}
		r := result{op: "http-ollama-generate"}
		if err := postJSON(ctx, hc, "/api/generate", body, &reply); err != nil {
			return httpFailure(r, err)
		}
		if !reply.Done {
			r.code = "bad_reply"
		}
		r.tokens = reply.EvalCount
		return r
	case p < 9:
		r := result{op: "http-embed"}
		var reply struct {
			Data []json.RawMessage `json:"data"`
		}
		if err := postJSON(ctx, hc, "/v1/embeddings", map[string]any{"model": embedModel, "input": []string{text, "and " + text}}, &reply); err != nil {
			return httpFailure(r, err)
		}
		if len(reply.Data) != 2 {
			r.code = "bad_reply"
		}
		return r
	default:
		r := result{op: "http-health-metrics"}
		for _, path := range []string{"/health", "/metrics"} {
			req, _ := http.NewRequestWithContext(ctx, "GET", "http://vkinferd"+path, nil)
			resp, err := hc.Do(req)
			if err != nil {
				return httpFailure(r, err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				r.code = fmt.Sprintf("http_%d", resp.StatusCode)
			}
		}
		return r
	}
}

// httpStatusError is a reply other than 200.
type httpStatusError struct {
	status int
	body   string
}

func (e *httpStatusError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.status, e.body) }

func httpFailure(r result, err error) result {
	if se, ok := err.(*httpStatusError); ok {
		r.code = fmt.Sprintf("http_%d", se.status)
		return r
	}
	r.code = "http_transport"
	return r
}

func post(ctx context.Context, hc *http.Client, path string, body any) (*http.Response, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, "POST", "http://vkinferd"+path, strings.NewReader(string(b)))
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		return nil, &httpStatusError{resp.StatusCode, string(msg)}
	}
	return resp, nil
}

func postJSON(ctx context.Context, hc *http.Client, path string, body, reply any) error {
	resp, err := post(ctx, hc, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(reply)
}
