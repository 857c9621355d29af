package httpapi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vkinfer/vkinfer/ipc"
)

// blocking is an ipc.Handler whose Generate emits "a" then waits for
// release or its context, and reports how it ended on ended.
type blocking struct {
	release chan struct{}
	ended   chan error
}

func newBlocking() *blocking {
	return &blocking{release: make(chan struct{}), ended: make(chan error, 4)}
}

func (b *blocking) Generate(ctx context.Context, req *ipc.Request, emit func(ipc.Chunk) error) (*ipc.Stats, error) {
	if err := emit(ipc.Chunk{Text: "a", Tokens: []int32{1}}); err != nil {
		b.ended <- err
		return nil, err
	}
	select {
	case <-b.release:
	case <-ctx.Done():
		b.ended <- ctx.Err()
		return nil, ctx.Err()
	}
	b.ended <- nil
	return &ipc.Stats{StopReason: "eog", PromptTokens: 2, GeneratedTokens: 1}, nil
}

func (b *blocking) Embed(ctx context.Context, req *ipc.Request) (ipc.EmbedResult, error) {
	return ipc.EmbedResult{}, errors.New("no embeddings here")
}
func (b *blocking) Models(ctx context.Context) ([]ipc.ModelInfo, error) { return nil, nil }
func (b *blocking) Load(ctx context.Context, req *ipc.Request) error    { return nil }
func (b *blocking) Unload(ctx context.Context, req *ipc.Request) error  { return nil }
func (b *blocking) Status(ctx context.Context) (*ipc.Status, error)     { return &ipc.Status{}, nil }

const testToken = "s3cret"

// serve runs a Server for h on a loopback listener and returns its URL.
func serve(t *testing.T, h ipc.Handler, cfg Config) (*Server, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Token = testToken
	s := New(h, cfg)
	go s.Serve(l)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s, "http://" + l.Addr().String()
}

func request(t *testing.T, c *http.Client, method, url, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestDisconnectCancels: closing the connection mid-stream cancels the
// handler's context at once, for both dialects.
func TestDisconnectCancels(t *testing.T) {
	h := newBlocking()
	_, url := serve(t, h, Config{})
	for _, tc := range []struct{ path, body string }{
		{"/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"x"}],"stream":true}`},
		{"/v1/completions", `{"model":"m","prompt":"x","stream":true}`},
		{"/api/chat", `{"model":"m","messages":[{"role":"user","content":"x"}]}`},
		{"/api/generate", `{"model":"m","prompt":"x","raw":true}`},
	} {
		tr := &http.Transport{}
		resp := request(t, &http.Client{Transport: tr}, "POST", url+tc.path, tc.body)
		if _, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		resp.Body.Close() // closes the connection: the body was not read to its end
		tr.CloseIdleConnections()
		select {
		case err := <-h.ended:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("%s: handler ended with %v, want context.Canceled", tc.path, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: disconnect did not cancel the handler", tc.path)
		}
	}
}

// TestShutdown: draining turns /health 503 and refuses new requests while
// the in-flight stream finishes; past the deadline, streams end with
// shutting_down.
func TestShutdown(t *testing.T) {
	for _, tc := range []struct {
		name    string
		release bool
		tail    string
	}{
		{"drained", true, "data: [DONE]\n\n"},
		{"cut", false, `"code":"shutting_down"}}` + "\n\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newBlocking()
			s, url := serve(t, h, Config{})
			hc := &http.Client{Transport: &http.Transport{}}
			if resp := request(t, hc, "GET", url+"/health", ""); resp.StatusCode != 200 {
				t.Fatalf("health %d", resp.StatusCode)
			} else {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			stream := request(t, &http.Client{}, "POST", url+"/v1/completions", `{"model":"m","prompt":"x","stream":true}`)
			br := bufio.NewReader(stream.Body)
			br.ReadString('\n')
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			if tc.release {
				ctx = context.Background()
			}
			done := make(chan error, 1)
			go func() { done <- s.Shutdown(ctx) }()
			deadline := time.Now().Add(5 * time.Second)
			for !s.isDraining() && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			resp := request(t, hc, "GET", url+"/health", "") // the kept-alive connection
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 503 || !strings.Contains(string(body), "shutting_down") {
				t.Errorf("health while draining: %d %s", resp.StatusCode, body)
			}
			resp = request(t, hc, "POST", url+"/api/generate", `{"model":"m","prompt":"x","raw":true}`)
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 503 || string(body) != `{"error":"the daemon is shutting down"}`+"\n" {
				t.Errorf("new request while draining: %d %s", resp.StatusCode, body)
			}
			if tc.release {
				close(h.release)
			}
			rest, _ := io.ReadAll(br)
			stream.Body.Close()
			if !strings.HasSuffix(string(rest), tc.tail) {
				t.Errorf("stream ended with %q, want the suffix %q", rest, tc.tail)
			}
			if err := <-done; (err != nil) == tc.release {
				t.Errorf("Shutdown: %v", err)
			}
		})
	}
}

// TestLimits: a slow header times out, a body over the cap is 413, and
// TCP requests need the token.
func TestLimits(t *testing.T) {
	_, url := serve(t, newBlocking(), Config{ReadHeaderTimeout: 100 * time.Millisecond, MaxBody: 1 << 10})
	nc, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(nc, "GET /health HTTP/1.1\r\nHost: x\r\n") // and nothing more
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(nc); err != nil {
		t.Errorf("a connection stuck in its headers was not closed: %v", err)
	}
	nc.Close()

	for _, tc := range []struct {
		name   string
		chunk  bool
		status int
	}{{"declared", false, 413}, {"chunked", true, 413}} {
		body := `{"model":"m","prompt":"` + strings.Repeat("a", 2<<10) + `"}`
		req, _ := http.NewRequest("POST", url+"/v1/completions", strings.NewReader(body))
		if tc.chunk {
			req.ContentLength = -1
			req.Body = io.NopCloser(strings.NewReader(body))
		}
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(b), `"code":"too_large"`) {
			t.Errorf("%s: %d %s", tc.name, resp.StatusCode, b)
		}
	}

	resp, err := http.Get(url + "/health")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" || !strings.Contains(string(b), "authentication_error") {
		t.Errorf("no token: %d %s", resp.StatusCode, b)
	}
}

// TestStatusOf: the error codes' HTTP statuses.
func TestStatusOf(t *testing.T) {
	for code, want := range map[string]int{
		ipc.CodeBadRequest: 400, ipc.CodeMalformed: 400, ipc.CodeContextFull: 400, ipc.CodeWrongModel: 400,
		ipc.CodeUnknownModel: 404, ipc.CodeBusy: 429, ipc.CodeShutdown: 503, ipc.CodeTooLarge: 413,
		ipc.CodeUnavailable: 503, ipc.CodeNoMemory: 503, ipc.CodeTimeout: 504, ipc.CodeInternal: 500, codeUnauthorized: 401,
	} {
		if got := statusOf(code); got != want {
			t.Errorf("statusOf(%s) = %d, want %d", code, got, want)
		}
	}
}
