package ipc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Server serves the protocol on listeners, calling a Handler. Configure
// its fields before Serve.
type Server struct {
	Handler Handler
	// Name is sent in the hello, e.g. "vkinferd/0.1".
	Name string
	// MaxFrame bounds frames both ways (default DefaultMaxFrame): a longer
	// incoming frame closes the connection, a longer reply becomes a
	// too_large error frame for its request.
	MaxFrame int
	// UID is the only peer uid allowed (default: the daemon's own).
	UID int
	// HelloTimeout bounds the wait for a client's hello (default 10s).
	HelloTimeout time.Duration
	// WriteQueue is how many frames may wait for a slow reader per
	// connection before that connection's requests block (default 64).
	WriteQueue int
	Log        *slog.Logger
	// HTTP, when set, is handed each connection that opens with an HTTP
	// request rather than a frame, after the peer check; it owns the
	// connection from then on (it must close it). The server no longer
	// tracks it: the HTTP side drains on its own shutdown.
	HTTP func(net.Conn)

	once      sync.Once
	mu        sync.Mutex
	listeners map[net.Listener]bool
	conns     map[*conn]bool
	closing   bool
	inflight  sync.WaitGroup
	connWG    sync.WaitGroup
	ctx       context.Context
	cancel    context.CancelFunc
}

// NewServer returns a server for h with default settings.
func NewServer(h Handler, name string) *Server {
	return &Server{Handler: h, Name: name, UID: os.Getuid()}
}

func (s *Server) init() {
	s.once.Do(func() {
		if s.MaxFrame <= 0 {
			s.MaxFrame = DefaultMaxFrame
		}
		if s.HelloTimeout <= 0 {
			s.HelloTimeout = 10 * time.Second
		}
		if s.WriteQueue <= 0 {
			s.WriteQueue = 64
		}
		if s.Log == nil {
			s.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
		}
		s.listeners = map[net.Listener]bool{}
		s.conns = map[*conn]bool{}
		s.ctx, s.cancel = context.WithCancel(context.Background())
	})
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("ipc: server closed")

// Serve accepts connections on l until Shutdown. It returns
// ErrServerClosed after Shutdown, or the accept error.
func (s *Server) Serve(l net.Listener) error {
	s.init()
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.listeners[l] = true
	s.mu.Unlock()
	for {
		c, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return err
		}
		go s.serveConn(c)
	}
}

// Shutdown stops accepting, refuses new requests, and waits for in-flight
// ones. When ctx ends first, the rest are cancelled (their clients get an
// error frame) and Shutdown returns ctx's error once they have ended.
func (s *Server) Shutdown(ctx context.Context) error {
	s.init()
	s.mu.Lock()
	s.closing = true
	for l := range s.listeners {
		l.Close()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.inflight.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		s.cancel()
		<-done
	}
	s.cancel()
	// Closing the read side ends each connection's read loop, which then
	// flushes the frames still queued (the last done or error of each
	// request) before closing.
	s.mu.Lock()
	for c := range s.conns {
		c.closeRead()
	}
	s.mu.Unlock()
	s.connWG.Wait()
	return err
}

// conn is one client connection.
type conn struct {
	s      *Server
	nc     net.Conn
	out    chan []byte
	dead   chan struct{}   // closed when the writer can no longer write
	ctx    context.Context // parent of the connection's requests
	cancel context.CancelFunc
	log    *slog.Logger

	// r is nc, or what replays the bytes sniffed from it; helloBy is when
	// the hello must have arrived (sniffing included).
	r       io.Reader
	helloBy time.Time

	mu   sync.Mutex
	reqs map[uint64]context.CancelFunc
	wg   sync.WaitGroup
}

func (c *conn) closeRead() {
	if uc, ok := c.nc.(*net.UnixConn); ok {
		uc.CloseRead()
		return
	}
	c.nc.Close()
}

func (s *Server) serveConn(nc net.Conn) {
	cred, err := peerCred(nc)
	if err == nil {
		err = CheckPeer(cred, s.UID)
	}
	if err != nil {
		nc.Close()
		s.Log.Warn("refused connection", "err", err)
		return // nothing is read from, or written to, a refused peer
	}
	var r io.Reader = nc
	helloBy := time.Now().Add(s.HelloTimeout)
	if s.HTTP != nil {
		br, isHTTP, err := sniff(nc, helloBy)
		if err != nil {
			nc.Close()
			return
		}
		if isHTTP {
			s.HTTP(&sniffedConn{Conn: nc, r: br})
			return
		}
		r = br
	}
	defer nc.Close()
	ctx, cancel := context.WithCancel(s.ctx)
	c := &conn{s: s, nc: nc, r: r, helloBy: helloBy, out: make(chan []byte, s.WriteQueue), dead: make(chan struct{}), ctx: ctx, cancel: cancel, reqs: map[uint64]context.CancelFunc{}, log: s.Log}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return
	}
	s.conns[c] = true
	s.connWG.Add(1)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		s.connWG.Done()
	}()

	writerDone := make(chan struct{})
	go c.writer(writerDone)
	c.readLoop()
	// The client is gone or broke the protocol: stop its requests, then
	// flush what is queued (bounded in time) and close.
	cancel()
	c.wg.Wait()
	close(c.out)
	nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	<-writerDone
}

func (c *conn) writer(done chan struct{}) {
	defer close(done)
	for b := range c.out {
		if err := WriteFrame(c.nc, b); err != nil {
			close(c.dead)
			c.cancel()
			for range c.out { // drop the rest
			}
			return
		}
	}
}

// send queues a frame. It blocks while the queue is full, until ctx ends
// or the connection can no longer be written. A frame over MaxFrame is not
// sent: clients read with the same limit, so the error (too_large) goes to
// the request instead.
func (c *conn) send(ctx context.Context, r *Response) error {
	b, err := Marshal(r)
	if err != nil {
		return err
	}
	if len(b) > c.s.MaxFrame {
		return Errorf(CodeTooLarge, "the %s frame would be %d bytes, over the %d-byte frame limit", r.Op, len(b), c.s.MaxFrame)
	}
	select {
	case c.out <- b:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.dead:
		return io.ErrClosedPipe
	}
}

// maxErrorMessage bounds an error frame's message, which may quote a
// client's field (an unknown op, a model name): the frame must stay under
// any frame limit, or the request would end without a reply.
const maxErrorMessage = 1024

func (c *conn) sendError(id uint64, err error) {
	e := toError(err)
	c.s.mu.Lock()
	closing := c.s.closing
	c.s.mu.Unlock()
	if closing && (e.Code == CodeCanceled || errors.Is(err, context.Canceled)) {
		e = &Error{Code: CodeShutdown, Message: "the daemon is shutting down"}
	}
	msg := e.Message
	if len(msg) > maxErrorMessage {
		msg = strings.ToValidUTF8(msg[:maxErrorMessage-len("...")], "") + "..."
	}
	// Error frames go out even after the request's own cancellation.
	_ = c.send(context.Background(), &Response{Op: OpError, ID: id, Code: e.Code, Message: msg})
}

func (c *conn) readLoop() {
	c.nc.SetReadDeadline(c.helloBy)
	first := true
	for {
		p, err := ReadFrame(c.r, c.s.MaxFrame)
		if err != nil {
			switch {
			case errors.Is(err, ErrFrameTooLarge):
				c.sendError(0, &Error{Code: CodeTooLarge, Message: err.Error()})
			case errors.Is(err, ErrMalformed):
				c.sendError(0, &Error{Code: CodeMalformed, Message: err.Error()})
			case first && errors.Is(err, os.ErrDeadlineExceeded):
				c.sendError(0, &Error{Code: CodeBadRequest, Message: "no hello within " + c.s.HelloTimeout.String()})
			}
			return
		}
		req, err := DecodeRequest(p)
		switch {
		case errors.Is(err, ErrBadRequest):
			// The frame is well-formed, so the stream is intact: only this
			// request fails (before the hello, the connection too).
			c.sendError(req.ID, &Error{Code: CodeBadRequest, Message: err.Error()})
			if first {
				return
			}
			continue
		case err != nil:
			c.sendError(0, &Error{Code: CodeMalformed, Message: err.Error()})
			return
		}
		if first {
			if !c.hello(req) {
				return
			}
			first = false
			c.nc.SetReadDeadline(time.Time{})
			continue
		}
		c.dispatch(req)
	}
}

// hello answers the client's hello; it reports whether to go on.
func (c *conn) hello(req *Request) bool {
	if req.Op != OpHello {
		c.sendError(req.ID, Errorf(CodeBadRequest, "the first frame must be a hello, got op %q", req.Op))
		return false
	}
	major, _, _ := strings.Cut(req.Version, ".")
	if n, err := strconv.Atoi(major); err != nil || n != VersionMajor {
		c.sendError(req.ID, Errorf(CodeVersion, "client speaks protocol %q, this daemon speaks %s", req.Version, Version))
		return false
	}
	return c.send(c.ctx, &Response{Op: OpHello, ID: req.ID, Version: Version, Server: c.s.Name}) == nil
}

func (c *conn) dispatch(req *Request) {
	if req.Op == OpCancel {
		c.mu.Lock()
		if cancel, ok := c.reqs[req.ID]; ok {
			cancel()
		}
		c.mu.Unlock()
		return
	}
	if req.ID == 0 {
		c.sendError(0, Errorf(CodeBadRequest, "op %q needs a non-zero id", req.Op))
		return
	}
	switch req.Op {
	case OpPing, OpGenerate, OpEmbed, OpModels, OpLoad, OpUnload, OpStatus, OpTokenize, OpDetokenize:
	case OpHello:
		c.sendError(req.ID, Errorf(CodeBadRequest, "hello was already exchanged"))
		return
	default:
		c.sendError(req.ID, Errorf(CodeUnknownOp, "unknown op %q", req.Op))
		return
	}
	c.s.mu.Lock()
	closing := c.s.closing
	if !closing {
		c.s.inflight.Add(1)
	}
	c.s.mu.Unlock()
	if closing {
		c.sendError(req.ID, &Error{Code: CodeShutdown, Message: "the daemon is shutting down"})
		return
	}
	c.mu.Lock()
	if _, dup := c.reqs[req.ID]; dup {
		c.mu.Unlock()
		c.s.inflight.Done()
		c.sendError(req.ID, Errorf(CodeBadRequest, "id %d is already in flight on this connection", req.ID))
		return
	}
	ctx, cancel := context.WithCancel(c.ctx)
	c.reqs[req.ID] = cancel
	c.mu.Unlock()
	c.wg.Add(1)
	go func() {
		defer func() {
			c.mu.Lock()
			delete(c.reqs, req.ID)
			c.mu.Unlock()
			cancel()
			c.wg.Done()
			c.s.inflight.Done()
		}()
		start := time.Now()
		if err := c.run(ctx, req); err != nil {
			c.sendError(req.ID, err)
			c.log.Debug("request failed", "op", req.Op, "id", req.ID, "model", req.Model, "err", err, "took", time.Since(start))
		}
	}()
}

// run serves one request and sends its reply; the error, if any, is for
// the caller to send as an error frame.
func (c *conn) run(ctx context.Context, req *Request) (err error) {
	defer func() {
		if p := recover(); p != nil {
			c.log.Error("handler panic", "op", req.Op, "panic", p)
			err = Errorf(CodeInternal, "internal error: %v", p)
		}
	}()
	h := c.s.Handler
	result := func(r *Response) error {
		r.Op, r.ID, r.answers = OpResult, req.ID, req.Op
		return c.send(ctx, r)
	}
	switch req.Op {
	case OpPing:
		return result(&Response{})
	case OpGenerate:
		return c.generate(ctx, req)
	case OpEmbed:
		if req.Model == "" || len(req.Input) == 0 {
			return Errorf(CodeBadRequest, "embed needs a model and at least one input")
		}
		res, err := h.Embed(ctx, req)
		if err != nil {
			return err
		}
		return result(&Response{Embeddings: res.Embeddings, PromptTokens: res.PromptTokens})
	case OpModels:
		models, err := h.Models(ctx)
		if err != nil {
			return err
		}
		return result(&Response{Models: models})
	case OpStatus:
		st, err := h.Status(ctx)
		if err != nil {
			return err
		}
		return result(&Response{Status: st})
	case OpLoad, OpUnload:
		if req.Model == "" {
			return Errorf(CodeBadRequest, "%s needs a model", req.Op)
		}
		fn := h.Load
		if req.Op == OpUnload {
			fn = h.Unload
		}
		if err := fn(ctx, req); err != nil {
			return err
		}
		return result(&Response{})
	case OpTokenize, OpDetokenize:
		th, ok := h.(TokenHandler)
		if !ok {
			return Errorf(CodeUnknownOp, "this server does not answer %s", req.Op)
		}
		if req.Model == "" {
			return Errorf(CodeBadRequest, "%s needs a model", req.Op)
		}
		if req.Op == OpDetokenize {
			text, err := th.Detokenize(ctx, req)
			if err != nil {
				return err
			}
			return result(&Response{Text: text})
		}
		if req.Prompt == "" && len(req.Messages) == 0 {
			return Errorf(CodeBadRequest, "tokenize needs a prompt or messages")
		}
		toks, err := th.Tokenize(ctx, req)
		if err != nil {
			return err
		}
		return result(&Response{Tokens: toks})
	}
	return Errorf(CodeUnknownOp, "unknown op %q", req.Op)
}

func (c *conn) generate(ctx context.Context, req *Request) error {
	if req.Model == "" {
		return Errorf(CodeBadRequest, "generate needs a model")
	}
	if req.Prompt == "" && len(req.Messages) == 0 {
		return Errorf(CodeBadRequest, "generate needs a prompt or messages")
	}
	stream := req.Stream == nil || *req.Stream
	var text strings.Builder
	var tokens []int32
	var logprobs []TokenLogprob
	emit := func(ch Chunk) error {
		if !stream {
			text.WriteString(ch.Text)
			tokens = append(tokens, ch.Tokens...)
			logprobs = append(logprobs, ch.Logprobs...)
			return ctx.Err()
		}
		return c.send(ctx, &Response{Op: OpChunk, ID: req.ID, Text: ch.Text, Tokens: ch.Tokens, Logprobs: ch.Logprobs})
	}
	stats, err := c.s.Handler.Generate(ctx, req, emit)
	if err != nil {
		return err
	}
	if stats == nil {
		return fmt.Errorf("handler returned no stats")
	}
	// The closing frame goes out even if the client cancelled just now:
	// every request ends with exactly one done or error.
	return c.send(context.Background(), &Response{Op: OpDone, ID: req.ID, Stats: stats, Text: text.String(), Tokens: tokens, Logprobs: logprobs,
		ToolCalls: stats.ToolCalls, Content: stats.Content, whole: !stream})
}
