package ipc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// ErrDaemonNotRunning is returned by Dial when nothing listens on the path.
var ErrDaemonNotRunning = errors.New("daemon not running")

// Client is a connection to the daemon, safe for concurrent use: each
// call is its own request on the shared connection.
type Client struct {
	nc       net.Conn
	maxFrame int
	// Server is the daemon's hello name.
	Server string

	wmu    sync.Mutex
	mu     sync.Mutex
	calls  map[uint64]*call
	nextID atomic.Uint64
	err    error // set when the connection failed
	done   chan struct{}
	// cancelled are ids this client cancelled, whose late frames are
	// expected; any other frame for an id not in flight is stray.
	cancelled map[uint64]bool
	stray     atomic.Uint64
}

// StrayFrames counts frames the daemon sent for requests that had already
// ended (and were not cancelled by this client): a protocol violation,
// since every request ends with exactly one done or error.
func (c *Client) StrayFrames() uint64 { return c.stray.Load() }

// Dial connects to the daemon at path and exchanges hellos.
func Dial(ctx context.Context, path string) (*Client, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) {
			return nil, fmt.Errorf("%w at %s: start it with `vkinferd` or `systemctl --user start vkinferd.socket`", ErrDaemonNotRunning, path)
		}
		return nil, fmt.Errorf("ipc: %w", err)
	}
	c := &Client{nc: nc, maxFrame: DefaultMaxFrame, calls: map[uint64]*call{}, done: make(chan struct{}), cancelled: map[uint64]bool{}}
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	}
	if err := c.write(&Request{Op: OpHello, ID: 0, Version: Version, Client: "vkinfer-go"}); err != nil {
		nc.Close()
		return nil, err
	}
	p, err := ReadFrame(nc, c.maxFrame)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("ipc: reading hello: %w", err)
	}
	r, err := DecodeResponse(p)
	if err != nil {
		nc.Close()
		return nil, err
	}
	if r.Op == OpError {
		nc.Close()
		return nil, &Error{Code: r.Code, Message: r.Message}
	}
	if r.Op != OpHello {
		nc.Close()
		return nil, fmt.Errorf("%w: expected hello, got %q", ErrMalformed, r.Op)
	}
	nc.SetDeadline(time.Time{})
	c.Server = r.Server
	go c.readLoop()
	return c, nil
}

// Close closes the connection; calls in progress fail.
func (c *Client) Close() error { return c.nc.Close() }

func (c *Client) write(r *Request) error {
	b, err := Marshal(r)
	if err != nil {
		return err
	}
	if r.ToolChoiceFunction != "" {
		// A named function goes as OpenAI's map, which no struct tag
		// writes: the request is re-encoded with it.
		var m map[string]any
		if err := msgpack.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("ipc: %w", err)
		}
		m["tool_choice"] = map[string]any{"type": "function", "function": map[string]any{"name": r.ToolChoiceFunction}}
		if b, err = Marshal(m); err != nil {
			return err
		}
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := WriteFrame(c.nc, b); err != nil {
		return fmt.Errorf("ipc: %w", err)
	}
	return nil
}

func (c *Client) readLoop() {
	var err error
	for {
		var p []byte
		if p, err = ReadFrame(c.nc, c.maxFrame); err != nil {
			break
		}
		var r *Response
		if r, err = DecodeResponse(p); err != nil {
			break
		}
		c.mu.Lock()
		cl := c.calls[r.ID]
		expected := c.cancelled[r.ID]
		if expected && (r.Op == OpDone || r.Op == OpError) {
			delete(c.cancelled, r.ID) // its last frame
		}
		c.mu.Unlock()
		if cl == nil {
			if r.Op == OpError && r.ID == 0 { // the connection itself failed
				err = &Error{Code: r.Code, Message: r.Message}
				break
			}
			if !expected {
				c.stray.Add(1)
			}
			continue // a late frame of a call already given up
		}
		// Blocks while the caller is slow: backpressure up to the daemon.
		select {
		case cl.ch <- r:
		case <-cl.gone:
		}
	}
	if errors.Is(err, io.EOF) {
		err = errors.New("ipc: connection closed by the daemon")
	}
	c.mu.Lock()
	c.err = err
	for id, cl := range c.calls {
		close(cl.ch)
		delete(c.calls, id)
	}
	c.mu.Unlock()
	close(c.done)
}

// call is one request awaiting frames. gone is closed when its caller
// stops listening, so the read loop never blocks on it.
type call struct {
	ch   chan *Response
	gone chan struct{}
}

// start registers a call and sends its request.
func (c *Client) start(r *Request) (uint64, *call, error) {
	r.ID = c.nextID.Add(1)
	cl := &call{ch: make(chan *Response, 16), gone: make(chan struct{})}
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return 0, nil, c.err
	}
	c.calls[r.ID] = cl
	c.mu.Unlock()
	if err := c.write(r); err != nil {
		c.forget(r.ID)
		return 0, nil, err
	}
	return r.ID, cl, nil
}

// cancel stops listening for id and asks the daemon to stop it; its late
// frames are then expected, not stray.
func (c *Client) cancel(id uint64) {
	c.mu.Lock()
	if cl, ok := c.calls[id]; ok {
		close(cl.gone)
		delete(c.calls, id)
		c.cancelled[id] = true
	}
	c.mu.Unlock()
	_ = c.write(&Request{Op: OpCancel, ID: id})
}

// forget stops listening for id's frames.
func (c *Client) forget(id uint64) {
	c.mu.Lock()
	if cl, ok := c.calls[id]; ok {
		close(cl.gone)
		delete(c.calls, id)
	}
	c.mu.Unlock()
}

func (c *Client) connErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	return errors.New("ipc: connection closed")
}

// receive waits for the next frame of call id; ctx's end sends a cancel.
func (c *Client) receive(ctx context.Context, id uint64, cl *call) (*Response, error) {
	select {
	case r, ok := <-cl.ch:
		if !ok {
			return nil, c.connErr()
		}
		if r.Op == OpError {
			return nil, &Error{Code: r.Code, Message: r.Message}
		}
		return r, nil
	case <-ctx.Done():
		c.cancel(id)
		return nil, ctx.Err()
	}
}

// call sends r and waits for its single result.
func (c *Client) call(ctx context.Context, r *Request) (*Response, error) {
	id, cl, err := c.start(r)
	if err != nil {
		return nil, err
	}
	defer c.forget(id)
	return c.receive(ctx, id, cl)
}

// Ping checks that the daemon answers.
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.call(ctx, &Request{Op: OpPing})
	return err
}

// Models lists the models the daemon can serve.
func (c *Client) Models(ctx context.Context) ([]ModelInfo, error) {
	r, err := c.call(ctx, &Request{Op: OpModels})
	if err != nil {
		return nil, err
	}
	return r.Models, nil
}

// Status returns the daemon's state.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	r, err := c.call(ctx, &Request{Op: OpStatus})
	if err != nil {
		return nil, err
	}
	return r.Status, nil
}

// Load loads a model; it then stays loaded for the daemon's keep-alive.
func (c *Client) Load(ctx context.Context, model string) error {
	_, err := c.call(ctx, &Request{Op: OpLoad, Model: model})
	return err
}

// Unload unloads a model.
func (c *Client) Unload(ctx context.Context, model string) error {
	_, err := c.call(ctx, &Request{Op: OpUnload, Model: model})
	return err
}

// Embed returns one vector per input and the tokens they took; the
// request's Op is set here.
func (c *Client) Embed(ctx context.Context, req *Request) (EmbedResult, error) {
	req.Op = OpEmbed
	r, err := c.call(ctx, req)
	if err != nil {
		return EmbedResult{}, err
	}
	return EmbedResult{Embeddings: r.Embeddings, PromptTokens: r.PromptTokens}, nil
}

// Tokenize returns the token ids of req's prompt or messages; the
// request's Op is set here.
func (c *Client) Tokenize(ctx context.Context, req *Request) ([]int32, error) {
	req.Op = OpTokenize
	r, err := c.call(ctx, req)
	if err != nil {
		return nil, err
	}
	return r.Tokens, nil
}

// Detokenize returns the text of tokens in model's vocabulary.
func (c *Client) Detokenize(ctx context.Context, model string, tokens []int32) (string, error) {
	r, err := c.call(ctx, &Request{Op: OpDetokenize, Model: model, Tokens: tokens})
	if err != nil {
		return "", err
	}
	return r.Text, nil
}

// Stream is one generation in progress.
type Stream struct {
	c     *Client
	ctx   context.Context
	id    uint64
	call  *call
	stop  func() bool // stops the cancel watch
	stats *Stats
	err   error
}

// Chunk is a piece of generated output: text, the tokens generated since
// the last chunk, and their logprobs when the request asked for them.
type Chunk struct {
	Text     string
	Tokens   []int32
	Logprobs []TokenLogprob
}

// Generate starts a generation; the request's Op is set here. Read its
// chunks with Next. Cancelling ctx cancels the generation in the daemon.
func (c *Client) Generate(ctx context.Context, req *Request) (*Stream, error) {
	req.Op = OpGenerate
	id, cl, err := c.start(req)
	if err != nil {
		return nil, err
	}
	// Cancel in the daemon as soon as ctx ends, whether or not the caller
	// is reading: an abandoned stream must not hold up the connection.
	stop := context.AfterFunc(ctx, func() { c.cancel(id) })
	return &Stream{c: c, ctx: ctx, id: id, call: cl, stop: stop}, nil
}

// Next returns the next chunk, or io.EOF once the generation is done
// (Stats then holds its statistics), or the error that ended it.
func (s *Stream) Next() (Chunk, error) {
	if s.err != nil {
		return Chunk{}, s.err
	}
	r, err := s.c.receive(s.ctx, s.id, s.call)
	switch {
	case err != nil:
		s.err = err
	case r.Op == OpDone:
		s.stats, s.err = r.Stats, io.EOF
		if s.stats != nil {
			s.stats.ToolCalls, s.stats.Content = r.ToolCalls, r.Content
		}
		s.stop()
		s.c.forget(s.id)
		if r.Text != "" || len(r.Tokens) > 0 { // stream=false: the whole text
			return Chunk{Text: r.Text, Tokens: r.Tokens, Logprobs: r.Logprobs}, nil
		}
	case r.Op == OpChunk:
		return Chunk{Text: r.Text, Tokens: r.Tokens, Logprobs: r.Logprobs}, nil
	default:
		s.err = fmt.Errorf("%w: unexpected %q frame in a generation", ErrMalformed, r.Op)
	}
	if s.err != io.EOF {
		s.stop()
		s.c.forget(s.id)
	}
	return Chunk{}, s.err
}

// Stats returns the generation's statistics once Next has returned io.EOF;
// the done frame's tool calls and content are in its ToolCalls and
// Content.
func (s *Stream) Stats() *Stats { return s.stats }
