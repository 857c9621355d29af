package ipc

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// scripted is a Handler that streams "<prompt> 0", " 1", ... and records
// how its requests ended.
type scripted struct {
	chunks  int
	block   chan struct{} // when set, Generate waits on it (or ctx) after the first chunk
	ended   chan error
	started chan struct{}
}

func (h *scripted) Generate(ctx context.Context, req *Request, emit func(Chunk) error) (*Stats, error) {
	if h.started != nil {
		h.started <- struct{}{}
	}
	for i := 0; i < h.chunks; i++ {
		if err := emit(Chunk{Text: fmt.Sprintf(" %d", i), Tokens: []int32{int32(i)}}); err != nil {
			h.report(err)
			return nil, err
		}
		if h.block != nil && i == 0 {
			select {
			case <-h.block:
			case <-ctx.Done():
				h.report(ctx.Err())
				return nil, ctx.Err()
			}
		}
	}
	h.report(nil)
	return &Stats{StopReason: "max_tokens", GeneratedTokens: h.chunks, PromptTokens: len(req.Prompt)}, nil
}

func (h *scripted) report(err error) {
	if h.ended != nil {
		h.ended <- err
	}
}

// Embed gives each input the vector (its length, 1) and counts its bytes
// as its tokens.
func (h *scripted) Embed(ctx context.Context, req *Request) (EmbedResult, error) {
	if req.Model == "missing" {
		return EmbedResult{}, Errorf(CodeUnknownModel, "no model %q", req.Model)
	}
	out := EmbedResult{Embeddings: make([][]float32, len(req.Input))}
	for i, s := range req.Input {
		out.Embeddings[i] = []float32{float32(len(s)), 1}
		out.PromptTokens += len(s)
	}
	return out, nil
}
func (h *scripted) Models(context.Context) ([]ModelInfo, error) {
	return []ModelInfo{{Name: "m", Size: 3}}, nil
}
func (h *scripted) Load(context.Context, *Request) error   { return nil }
func (h *scripted) Unload(context.Context, *Request) error { return nil }
func (h *scripted) Status(context.Context) (*Status, error) {
	return &Status{Server: "test", Counters: map[string]uint64{"requests": 1}}, nil
}

// serve serves h on a fresh socket, with the server's settings changed by
// configure, if given.
func serve(t *testing.T, h Handler, configure ...func(*Server)) (*Server, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "run", "d.sock")
	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(h, "test/1")
	for _, f := range configure {
		f(s)
	}
	go s.Serve(l)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s, path
}

func dial(t *testing.T, path string) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func collect(t *testing.T, s *Stream) (string, *Stats) {
	t.Helper()
	var sb strings.Builder
	for {
		ch, err := s.Next()
		if err == io.EOF {
			return sb.String(), s.Stats()
		}
		if err != nil {
			t.Fatal(err)
		}
		sb.WriteString(ch.Text)
	}
}

func TestStreamManyConnections(t *testing.T) {
	_, path := serve(t, &scripted{chunks: 20})
	want := ""
	for i := 0; i < 20; i++ {
		want += fmt.Sprintf(" %d", i)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for conn := 0; conn < 4; conn++ {
		c := dial(t, path)
		for r := 0; r < 8; r++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := c.Generate(context.Background(), &Request{Model: "m", Prompt: "abc"})
				if err != nil {
					errs <- err
					return
				}
				var sb strings.Builder
				for {
					ch, err := s.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						errs <- err
						return
					}
					sb.WriteString(ch.Text)
				}
				if sb.String() != want || s.Stats().GeneratedTokens != 20 || s.Stats().PromptTokens != 3 {
					errs <- fmt.Errorf("got %q %+v", sb.String(), s.Stats())
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestOtherOps(t *testing.T) {
	_, path := serve(t, &scripted{chunks: 3})
	c := dial(t, path)
	ctx := context.Background()
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if c.Server != "test/1" {
		t.Errorf("server %q", c.Server)
	}
	emb, err := c.Embed(ctx, &Request{Model: "m", Input: []string{"ab", "abcd"}})
	if err != nil || len(emb.Embeddings) != 2 || emb.Embeddings[1][0] != 4 || emb.PromptTokens != 6 {
		t.Errorf("embed: %+v %v", emb, err)
	}
	_, err = c.Embed(ctx, &Request{Model: "missing", Input: []string{"x"}})
	if CodeOf(err) != CodeUnknownModel {
		t.Errorf("missing model: %v", err)
	}
	if _, err := c.Embed(ctx, &Request{Model: "m"}); CodeOf(err) != CodeBadRequest {
		t.Errorf("embed without input: %v", err)
	}
	if m, err := c.Models(ctx); err != nil || len(m) != 1 || m[0].Name != "m" {
		t.Errorf("models: %v %v", m, err)
	}
	if st, err := c.Status(ctx); err != nil || st.Counters["requests"] != 1 {
		t.Errorf("status: %+v %v", st, err)
	}
	if err := c.Load(ctx, "m"); err != nil {
		t.Error(err)
	}
	if err := c.Unload(ctx, ""); CodeOf(err) != CodeBadRequest {
		t.Errorf("unload without model: %v", err)
	}
	f := false
	s, _ := c.Generate(ctx, &Request{Model: "m", Prompt: "p", Stream: &f})
	text, stats := collect(t, s)
	if text != " 0 1 2" || stats == nil {
		t.Errorf("stream=false: %q %+v", text, stats)
	}
	s, _ = c.Generate(ctx, &Request{Model: "m"})
	if _, err := s.Next(); CodeOf(err) != CodeBadRequest {
		t.Errorf("generate without prompt: %v", err)
	}
}

func TestCancelAndDisconnect(t *testing.T) {
	h := &scripted{chunks: 5, block: make(chan struct{}), ended: make(chan error, 4)}
	_, path := serve(t, h)
	c := dial(t, path)

	// Cancel through the context: the handler sees it promptly.
	ctx, cancel := context.WithCancel(context.Background())
	s, err := c.Generate(ctx, &Request{Model: "m", Prompt: "p"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Next(); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := s.Next(); !errors.Is(err, context.Canceled) {
		t.Errorf("after cancel: %v", err)
	}
	select {
	case err := <-h.ended:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("handler ended with %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("handler not cancelled")
	}
	if err := c.Ping(context.Background()); err != nil {
		t.Errorf("connection unusable after a cancel: %v", err)
	}

	// A stream abandoned by cancelling its context, never read again,
	// is cancelled in the daemon and does not hold up the connection.
	ctx, cancel = context.WithCancel(context.Background())
	if _, err := c.Generate(ctx, &Request{Model: "m", Prompt: "p"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case err := <-h.ended:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("abandoned stream's handler ended with %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("abandoned stream not cancelled")
	}
	if err := c.Ping(context.Background()); err != nil {
		t.Errorf("connection unusable after an abandoned stream: %v", err)
	}

	// Closing the connection cancels its requests.
	c2 := dial(t, path)
	s2, _ := c2.Generate(context.Background(), &Request{Model: "m", Prompt: "p"})
	if _, err := s2.Next(); err != nil {
		t.Fatal(err)
	}
	c2.Close()
	select {
	case err := <-h.ended:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("handler ended with %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("disconnect did not cancel the handler")
	}
}

// raw is a hand-driven client connection.
type raw struct {
	t  *testing.T
	nc net.Conn
}

func rawDial(t *testing.T, path string, hello bool) *raw {
	nc, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	r := &raw{t, nc}
	if hello {
		r.send(&Request{Op: OpHello, Version: Version})
		if got := r.recv(); got.Op != OpHello {
			t.Fatalf("hello answered with %+v", got)
		}
	}
	return r
}

func (r *raw) send(v any) {
	b, err := Marshal(v)
	if err != nil {
		r.t.Fatal(err)
	}
	r.sendBytes(b)
}

func (r *raw) sendBytes(b []byte) {
	if err := WriteFrame(r.nc, b); err != nil {
		r.t.Fatal(err)
	}
}

func (r *raw) recv() *Response {
	p, err := ReadFrame(r.nc, DefaultMaxFrame)
	if err != nil {
		r.t.Fatalf("reading a frame: %v", err)
	}
	resp, err := DecodeResponse(p)
	if err != nil {
		r.t.Fatal(err)
	}
	return resp
}

// recvMap reads a frame as a generic map, to see exactly what is sent.
func (r *raw) recvMap() map[string]any {
	p, err := ReadFrame(r.nc, DefaultMaxFrame)
	if err != nil {
		r.t.Fatalf("reading a frame: %v", err)
	}
	var m map[string]any
	if err := msgpack.Unmarshal(p, &m); err != nil {
		r.t.Fatal(err)
	}
	return m
}

func (r *raw) closed() bool {
	_, err := ReadFrame(r.nc, DefaultMaxFrame)
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
}

func TestHostileFrames(t *testing.T) {
	_, path := serve(t, &scripted{chunks: 2})
	nested := []byte{0x82, 0xa2, 'o', 'p', 0xa4, 'p', 'i', 'n', 'g', 0xa1, 'x'}
	nested = append(nested, bytes.Repeat([]byte{0x91}, 100)...)
	nested = append(nested, 0x01)
	tests := []struct {
		name  string
		frame func(r *raw)
		code  string
	}{
		{"oversized", func(r *raw) { binary.Write(r.nc, binary.BigEndian, uint32(1<<30)) }, CodeTooLarge},
		{"not a map", func(r *raw) { r.sendBytes([]byte{0x93, 1, 2, 3}) }, CodeMalformed},
		{"garbage", func(r *raw) { r.sendBytes([]byte{0xc1, 0xc1}) }, CodeMalformed},
		{"deep nesting", func(r *raw) { r.sendBytes(nested) }, CodeMalformed},
		{"huge array header", func(r *raw) {
			r.sendBytes([]byte{0x83, 0xa2, 'o', 'p', 0xa5, 'e', 'm', 'b', 'e', 'd', 0xa2, 'i', 'd', 0x01, 0xa5, 'i', 'n', 'p', 'u', 't', 0xdd, 0x7f, 0xff, 0xff, 0xff})
		}, CodeMalformed},
		{"empty frame", func(r *raw) { r.nc.Write([]byte{0, 0, 0, 0}) }, CodeMalformed},
		{"nesting one past the limit", func(r *raw) { r.sendBytes(nest(MaxDepth + 1)) }, CodeMalformed},
		{"binary key", func(r *raw) {
			r.sendBytes([]byte{0x82, 0xa2, 'o', 'p', 0xa4, 'p', 'i', 'n', 'g', 0xc4, 2, 'i', 'd', 0x01})
		}, CodeMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := rawDial(t, path, true)
			tc.frame(r)
			if got := r.recv(); got.Op != OpError || got.Code != tc.code {
				t.Errorf("got %+v, want error %s", got, tc.code)
			}
			if !r.closed() {
				t.Error("connection left open")
			}
			// The daemon still serves others.
			if err := dial(t, path).Ping(context.Background()); err != nil {
				t.Errorf("daemon stopped serving: %v", err)
			}
		})
	}
}

func TestProtocolErrors(t *testing.T) {
	_, path := serve(t, &scripted{chunks: 2})
	// Wrong major version: error, then close.
	r := rawDial(t, path, false)
	r.send(&Request{Op: OpHello, Version: "2.0"})
	if got := r.recv(); got.Code != CodeVersion {
		t.Errorf("version 2.0: %+v", got)
	}
	if !r.closed() {
		t.Error("connection of another major version left open")
	}
	// A request before the hello.
	r = rawDial(t, path, false)
	r.send(&Request{Op: OpPing, ID: 1})
	if got := r.recv(); got.Code != CodeBadRequest {
		t.Errorf("ping before hello: %+v", got)
	}
	// Unknown op and zero id: error frames, the connection stays.
	r = rawDial(t, path, true)
	r.send(&Request{Op: "fly", ID: 7})
	if got := r.recv(); got.Code != CodeUnknownOp || got.ID != 7 {
		t.Errorf("unknown op: %+v", got)
	}
	r.send(&Request{Op: OpPing})
	if got := r.recv(); got.Code != CodeBadRequest {
		t.Errorf("id 0: %+v", got)
	}
	// Unknown fields are ignored.
	r.send(map[string]any{"op": "ping", "id": 8, "future_field": map[string]any{"x": []int{1, 2}}})
	if got := r.recv(); got.Op != OpResult || got.ID != 8 {
		t.Errorf("ping with an unknown field: %+v", got)
	}
	// Minor versions are compatible.
	r = rawDial(t, path, false)
	r.send(&Request{Op: OpHello, Version: "1.7"})
	if got := r.recv(); got.Op != OpHello {
		t.Errorf("version 1.7: %+v", got)
	}
}

// TestSlowReader: a client that never reads its stream does not hold up
// another connection.
func TestSlowReader(t *testing.T) {
	_, path := serve(t, &scripted{chunks: 100000})
	r := rawDial(t, path, true)
	r.send(&Request{Op: OpGenerate, ID: 1, Model: "m", Prompt: "p"})
	time.Sleep(100 * time.Millisecond) // let its queue and socket buffers fill
	c := dial(t, path)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("other connection blocked by a slow reader: %v", err)
	}
}

func TestShutdownDrains(t *testing.T) {
	h := &scripted{chunks: 3, block: make(chan struct{}), started: make(chan struct{}, 1)}
	s, path := serve(t, h)
	c := dial(t, path)
	st, _ := c.Generate(context.Background(), &Request{Model: "m", Prompt: "p"})
	<-h.started
	done := make(chan error)
	go func() { done <- s.Shutdown(context.Background()) }()
	time.Sleep(50 * time.Millisecond)
	close(h.block) // the in-flight request finishes during the drain
	text, stats := collect(t, st)
	if text != " 0 1 2" || stats == nil {
		t.Errorf("drained request: %q %+v", text, stats)
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if _, err := Dial(context.Background(), path); !errors.Is(err, ErrDaemonNotRunning) {
		t.Errorf("dial after shutdown: %v", err)
	}
}

func TestShutdownDeadlineCancels(t *testing.T) {
	h := &scripted{chunks: 3, block: make(chan struct{}), started: make(chan struct{}, 1)}
	s, path := serve(t, h)
	c := dial(t, path)
	st, _ := c.Generate(context.Background(), &Request{Model: "m", Prompt: "p"})
	<-h.started
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown: %v", err)
	}
	var err error
	for err == nil {
		_, err = st.Next()
	}
	if CodeOf(err) != CodeShutdown {
		t.Errorf("in-flight request ended with %v, want %s", err, CodeShutdown)
	}
}

func TestCheckPeer(t *testing.T) {
	if err := CheckPeer(&syscall.Ucred{Uid: 1000, Pid: 5}, 1000); err != nil {
		t.Error(err)
	}
	if err := CheckPeer(&syscall.Ucred{Uid: 1001, Pid: 5}, 1000); !errors.Is(err, ErrPermission) {
		t.Errorf("other uid: %v", err)
	}
	if err := CheckPeer(nil, 1000); !errors.Is(err, ErrPermission) {
		t.Errorf("no credentials: %v", err)
	}
	// A server that allows only another uid says nothing and closes.
	h := &scripted{chunks: 1}
	path := filepath.Join(t.TempDir(), "d.sock")
	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(h, "x")
	s.UID = os.Getuid() + 1
	go s.Serve(l)
	defer s.Shutdown(context.Background())
	if _, err := Dial(context.Background(), path); err == nil {
		t.Error("a peer of another uid got a hello")
	}
}

// TestListenSocketDirModes: Listen never changes the mode of a directory
// it did not create, accepts private and sticky shared ones, and refuses
// one that others may write to without the sticky bit.
func TestListenSocketDirModes(t *testing.T) {
	for _, tc := range []struct {
		mode os.FileMode
		ok   bool
	}{
		{0o700, true},
		{0o755, true},
		{os.ModeSticky | 0o777, true},
		{0o777, false},
		{0o770, false},
	} {
		dir := filepath.Join(t.TempDir(), "d")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, tc.mode); err != nil {
			t.Fatal(err)
		}
		l, err := Listen(filepath.Join(dir, "s.sock"))
		if (err == nil) != tc.ok {
			t.Errorf("mode %v: Listen error %v, want ok=%v", tc.mode, err, tc.ok)
		}
		if l != nil {
			l.Close()
		}
		st, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode() & (os.ModePerm | os.ModeSticky); got != tc.mode&(os.ModePerm|os.ModeSticky) {
			t.Errorf("mode %v: Listen changed the directory to %v", tc.mode, got)
		}
	}
}

func TestListenSocketFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "vk")
	path := filepath.Join(dir, "d.sock")
	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{dir: 0o700, path: 0o600} {
		st, err := os.Stat(p)
		if err != nil || st.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v (%v)", p, st.Mode().Perm(), want, err)
		}
	}
	if _, err := Listen(path); !errors.Is(err, ErrAlreadyRunning) {
		t.Errorf("second Listen on a live socket: %v", err)
	}
	l.SetUnlinkOnClose(false) // leave the file behind, as a killed daemon does
	l.Close()
	l2, err := Listen(path)
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	l2.Close()
	if _, err := Dial(context.Background(), filepath.Join(dir, "none.sock")); !errors.Is(err, ErrDaemonNotRunning) {
		t.Errorf("dial without daemon: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "file.sock"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(filepath.Join(dir, "file.sock")); err == nil {
		t.Error("Listen replaced a regular file")
	}
}

func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{0, 0, 0, 3, 0x81, 0xa1, 'x'})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ReadFrame(bytes.NewReader(data), 1<<10)
		if err == nil && (len(p) == 0 || len(p) > 1<<10 || len(p) != len(data)-4 && len(data) < 4+len(p)) {
			t.Fatalf("frame of %d bytes from %d", len(p), len(data))
		}
	})
}

func FuzzDecodeRequest(f *testing.F) {
	for _, r := range []any{
		&Request{Op: OpHello, Version: Version},
		&Request{Op: OpGenerate, ID: 1, Model: "m", Prompt: "p", Messages: []Message{{Role: "user", Content: "hi"}}, Stop: []string{"x"}},
		&Request{Op: OpEmbed, ID: 2, Model: "m", Input: []string{"a", "b"}, Dimensions: 3},
		map[string]any{"op": "ping", "id": 3, "extra": []any{1, "x", map[string]any{"y": 1.5}}},
	} {
		b, _ := Marshal(r)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeRequest(data)
		if err != nil {
			return
		}
		b, err := Marshal(r)
		if err != nil {
			t.Fatalf("decoded request does not encode: %v", err)
		}
		if _, err := DecodeRequest(b); err != nil {
			t.Fatalf("re-encoded request does not decode: %v", err)
		}
	})
}

// TestBadFieldKeepsConnection: a well-formed frame with a field of the
// wrong type or range fails only its request, with bad_request and its id
// (0 for a negative id); a request already in flight on the connection
// completes, and later ones are served.
func TestBadFieldKeepsConnection(t *testing.T) {
	h := &scripted{chunks: 3, block: make(chan struct{})}
	_, path := serve(t, h)
	r := rawDial(t, path, true)
	r.send(&Request{Op: OpGenerate, ID: 1, Model: "m", Prompt: "p"})
	if got := r.recv(); got.Op != OpChunk || got.ID != 1 {
		t.Fatalf("first chunk: %+v", got)
	}
	for _, tc := range []struct {
		name  string
		frame map[string]any
		id    uint64
	}{
		{"model 5", map[string]any{"op": "generate", "id": 2, "model": 5, "prompt": "p"}, 2},
		{"binary prompt", map[string]any{"op": "generate", "id": 3, "model": "m", "prompt": []byte("p")}, 3},
		{"seed -2", map[string]any{"op": "generate", "id": 4, "model": "m", "prompt": "p", "options": map[string]any{"seed": -2}}, 4},
		{"id -1", map[string]any{"op": "ping", "id": -1}, 0},
	} {
		r.send(tc.frame)
		if got := r.recv(); got.Op != OpError || got.Code != CodeBadRequest || got.ID != tc.id {
			t.Errorf("%s: %+v, want bad_request with id %d", tc.name, got, tc.id)
		}
	}
	close(h.block)
	var text string
	for {
		got := r.recv()
		if got.ID != 1 {
			t.Fatalf("frame for another request: %+v", got)
		}
		text += got.Text
		if got.Op != OpChunk {
			if got.Op != OpDone || text != " 1 2" { // " 0" came before
				t.Errorf("in-flight request ended with %+v, text %q", got, text)
			}
			break
		}
	}
	r.send(map[string]any{"op": "ping", "id": uint64(math.MaxUint64)})
	if got := r.recv(); got.Op != OpResult || got.ID != math.MaxUint64 {
		t.Errorf("ping with id 2^64-1 after the bad frames: %+v", got)
	}
}

// TestBadFieldBeforeHello: a first frame with a field of the wrong type is
// answered with bad_request, and the connection closed, as any request
// before the hello.
func TestBadFieldBeforeHello(t *testing.T) {
	_, path := serve(t, &scripted{})
	r := rawDial(t, path, false)
	r.send(map[string]any{"op": "hello", "id": 0, "version": 1})
	if got := r.recv(); got.Op != OpError || got.Code != CodeBadRequest || got.ID != 0 {
		t.Errorf("hello with a numeric version: %+v", got)
	}
	if !r.closed() {
		t.Error("connection left open")
	}
}

// TestNestingLimit: a request nested exactly MaxDepth deep, the top-level
// map included, is served; one level more is malformed.
func TestNestingLimit(t *testing.T) {
	_, path := serve(t, &scripted{})
	r := rawDial(t, path, true)
	r.sendBytes(nest(MaxDepth))
	if got := r.recv(); got.Op != OpResult || got.ID != 1 {
		t.Errorf("nesting %d deep: %+v", MaxDepth, got)
	}
	r.sendBytes(nest(MaxDepth + 1))
	if got := r.recv(); got.Code != CodeMalformed || got.ID != 0 {
		t.Errorf("nesting %d deep: %+v", MaxDepth+1, got)
	}
}

// empty is a Handler whose lists are all empty, as a daemon's with no
// models.
type empty struct{ scripted }

func (*empty) Models(context.Context) ([]ModelInfo, error) { return nil, nil }
func (*empty) Embed(context.Context, *Request) (EmbedResult, error) {
	return EmbedResult{Embeddings: [][]float32{nil}}, nil
}
func (*empty) Status(context.Context) (*Status, error) {
	return &Status{Server: "s", Pools: []PoolStatus{{Capability: "generate"}}}, nil
}

// TestFramesHoldTheirFields: each reply carries exactly its op's fields,
// and lists are empty arrays, never nil.
func TestFramesHoldTheirFields(t *testing.T) {
	_, path := serve(t, &empty{})
	r := rawDial(t, path, true)
	for _, tc := range []struct {
		req  *Request
		want map[string]any
	}{
		{&Request{Op: OpPing, ID: 1}, map[string]any{"op": "result", "id": uint64(1)}},
		{&Request{Op: OpModels, ID: 2}, map[string]any{"op": "result", "id": uint64(2), "models": []any{}}},
		{&Request{Op: OpEmbed, ID: 3, Model: "m", Input: []string{"x"}}, map[string]any{"op": "result", "id": uint64(3), "embeddings": []any{[]any{}}, "prompt_tokens": int8(0)}},
		{&Request{Op: "fly", ID: 4}, map[string]any{"op": "error", "id": uint64(4), "code": "unknown_op", "message": `unknown op "fly"`}},
	} {
		r.send(tc.req)
		if got := r.recvMap(); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %#v\nwant %#v", tc.req.Op, got, tc.want)
		}
	}
	r.send(&Request{Op: OpStatus, ID: 5})
	st, _ := r.recvMap()["status"].(map[string]any)
	pools, _ := st["pools"].([]any)
	if len(pools) != 1 || !reflect.DeepEqual(pools[0].(map[string]any)["models"], []any{}) ||
		!reflect.DeepEqual(st["memory"], []any{}) || !reflect.DeepEqual(st["counters"], map[string]any{}) {
		t.Errorf("status of an empty pool: %#v", st)
	}
	// A generation of no tokens: chunk-less, and with stream false its
	// done frame still carries the (empty) text and tokens.
	_, path = serve(t, &scripted{chunks: 0})
	r = rawDial(t, path, true)
	f := false
	r.send(&Request{Op: OpGenerate, ID: 6, Model: "m", Prompt: "p", Stream: &f})
	done := r.recvMap()
	if done["op"] != "done" || done["text"] != "" || !reflect.DeepEqual(done["tokens"], []any{}) || done["stats"] == nil || len(done) != 5 {
		t.Errorf("stream=false done: %#v", done)
	}
	r.send(&Request{Op: OpGenerate, ID: 7, Model: "m", Prompt: "p"})
	if done := r.recvMap(); done["op"] != "done" || len(done) != 3 {
		t.Errorf("streamed done: %#v", done)
	}
}

// big answers embed with a vector of n floats.
type big struct {
	scripted
	n int
}

func (b *big) Embed(context.Context, *Request) (EmbedResult, error) {
	return EmbedResult{Embeddings: [][]float32{make([]float32, b.n)}, PromptTokens: 1}, nil
}

// TestReplyTooLarge: a reply over the frame limit is not sent; its request
// ends with too_large and the connection goes on.
func TestReplyTooLarge(t *testing.T) {
	_, path := serve(t, &big{n: 20000}, func(s *Server) { s.MaxFrame = 64 << 10 })
	c := dial(t, path)
	if _, err := c.Embed(context.Background(), &Request{Model: "m", Input: []string{"x"}}); CodeOf(err) != CodeTooLarge {
		t.Errorf("100 KB reply with a 64 KiB limit: %v", err)
	}
	if err := c.Ping(context.Background()); err != nil {
		t.Errorf("connection unusable after a reply too large: %v", err)
	}
}

// TestLongErrorMessage: an error message quoting a huge field is cut to
// maxErrorMessage bytes, so the error frame fits and the request ends.
func TestLongErrorMessage(t *testing.T) {
	_, path := serve(t, &scripted{})
	r := rawDial(t, path, true)
	// %q writes each 0x01 as 4 bytes: 20 MiB, over the 16 MiB limit.
	r.send(&Request{Op: strings.Repeat("\x01", 5<<20), ID: 9})
	if got := r.recv(); got.Code != CodeUnknownOp || got.ID != 9 || len(got.Message) != maxErrorMessage || !strings.HasSuffix(got.Message, "...") {
		t.Errorf("unknown op of 5 MiB: code %s, id %d, %d-byte message", got.Code, got.ID, len(got.Message))
	}
}

// TestHello: the daemon's hello carries the client's hello id, which is
// not in flight afterwards; a client that sends no hello within
// HelloTimeout gets bad_request with id 0 and is disconnected.
func TestHello(t *testing.T) {
	_, path := serve(t, &scripted{}, func(s *Server) { s.HelloTimeout = 100 * time.Millisecond })
	r := rawDial(t, path, false)
	r.send(&Request{Op: OpHello, ID: 5, Version: Version})
	if got := r.recv(); got.Op != OpHello || got.ID != 5 || got.Version != Version || got.Server != "test/1" {
		t.Errorf("hello: %+v", got)
	}
	r.send(&Request{Op: OpPing, ID: 5})
	if got := r.recv(); got.Op != OpResult || got.ID != 5 {
		t.Errorf("ping with the hello's id: %+v", got)
	}
	time.Sleep(200 * time.Millisecond) // past the hello timeout: it no longer applies
	r.send(&Request{Op: OpPing, ID: 6})
	if got := r.recv(); got.Op != OpResult || got.ID != 6 {
		t.Errorf("ping after the hello timeout: %+v", got)
	}

	r = rawDial(t, path, false)
	start := time.Now()
	if got := r.recv(); got.Op != OpError || got.Code != CodeBadRequest || got.ID != 0 || got.Message != "no hello within 100ms" {
		t.Errorf("no hello: %+v", got)
	}
	if took := time.Since(start); took < 50*time.Millisecond || took > time.Second {
		t.Errorf("no-hello error after %v, want 100ms", took)
	}
	if !r.closed() {
		t.Error("connection without a hello left open")
	}
}
