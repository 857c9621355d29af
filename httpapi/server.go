package httpapi

import (
	"context"
	"crypto/subtle"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/vkinfer/vkinfer/ipc"
)

// Config configures a Server; zero fields take the defaults.
type Config struct {
	// Name is the Server header, e.g. "vkinferd/0.1.0"; Version is what
	// /api/version reports.
	Name, Version string
	// Token is the bearer token every request on a Serve listener must
	// carry. Connections given to ServeConn (the peer-checked Unix
	// socket) need none. An empty Token refuses every Serve request.
	Token string
	// KeepAlive is the daemon's keep-alive, which Ollama's keep_alive and
	// expires_at are stated against.
	KeepAlive time.Duration
	// MaxBody caps request bodies (default ipc.DefaultMaxFrame, 16 MiB).
	MaxBody int64
	// ReadHeaderTimeout bounds the wait for a request's headers (default
	// 10s); IdleTimeout closes a keep-alive connection idle that long
	// (default 2m). Nothing bounds a streamed reply.
	ReadHeaderTimeout, IdleTimeout time.Duration
	// Metrics, when set, is served on /metrics.
	Metrics *Metrics
	Log     *slog.Logger
}

// Server serves the HTTP endpoints over an ipc.Handler.
type Server struct {
	h    ipc.Handler
	cfg  Config
	http *http.Server

	unix     *connListener
	unixOnce sync.Once

	// ctx is the parent of every request's context; cancel ends them all.
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	draining bool
	inflight sync.WaitGroup
}

// New returns a server for h. Connections arrive through ServeConn and
// Serve.
func New(h ipc.Handler, cfg Config) *Server {
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = ipc.DefaultMaxFrame
	}
	if cfg.ReadHeaderTimeout <= 0 {
		cfg.ReadHeaderTimeout = 10 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 2 * time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{h: h, cfg: cfg, unix: newConnListener()}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.http = &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return s.ctx },
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			_, ok := c.(*trustedConn)
			return context.WithValue(ctx, trustedKey{}, ok)
		},
		ErrorLog: slog.NewLogLogger(cfg.Log.Handler(), slog.LevelDebug),
	}
	return s
}

// trustedConn marks a connection whose peer was checked (the Unix socket).
type trustedConn struct{ net.Conn }

type trustedKey struct{}

// ServeConn serves HTTP on c, a connection of the Unix socket whose peer
// ipc.Server has checked: its requests need no token. It returns at once;
// c is closed when done.
func (s *Server) ServeConn(c net.Conn) {
	s.unixOnce.Do(func() {
		go func() {
			if err := s.http.Serve(s.unix); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.cfg.Log.Error("http on the unix socket stopped", "err", err)
			}
		}()
	})
	s.unix.push(&trustedConn{c})
}

// Serve serves HTTP on l (the opt-in TCP listener): every request needs
// the bearer token. It returns http.ErrServerClosed after Shutdown.
func (s *Server) Serve(l net.Listener) error { return s.http.Serve(l) }

// Shutdown refuses new requests (503 shutting_down; /health turns 503) and
// waits for the in-flight ones. When ctx ends first, those are cancelled.
// Then it closes the listeners and connections.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.draining = true
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
	s.unix.Close()
	// The handlers have returned; Shutdown lets their last bytes flush.
	flush, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if e := s.http.Shutdown(flush); e != nil {
		s.http.Close()
	}
	return err
}

// enter admits a request unless the server is draining; leave ends it.
func (s *Server) enter() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		return &ipc.Error{Code: ipc.CodeShutdown, Message: "the daemon is shutting down"}
	}
	s.inflight.Add(1)
	return nil
}

func (s *Server) leave() { s.inflight.Done() }

func (s *Server) isDraining() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.draining
}

// settle gives a handler error its final code: a request cancelled
// because the daemon stops says so, as the msgpack server does.
func (s *Server) settle(err error) error {
	if err == nil {
		return nil
	}
	e := asError(err)
	if e.Code == ipc.CodeCanceled && s.isDraining() {
		return &ipc.Error{Code: ipc.CodeShutdown, Message: "the daemon is shutting down"}
	}
	return e
}

// authorized checks the bearer token of a request from an untrusted
// (TCP) connection.
func (s *Server) authorized(r *http.Request) bool {
	if trusted, _ := r.Context().Value(trustedKey{}).(bool); trusted {
		return true
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && s.cfg.Token != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.Token)) == 1
}

// connListener is a net.Listener fed with connections by push.
type connListener struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newConnListener() *connListener {
	return &connListener{ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *connListener) push(c net.Conn) {
	select {
	case l.ch <- c:
	case <-l.done:
		c.Close()
	}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *connListener) Addr() net.Addr { return &net.UnixAddr{Name: "vkinferd.sock", Net: "unix"} }
