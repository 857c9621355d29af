package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/vkinfer/vkinfer/ipc"
)

// stream writes a streamed reply, server-sent events (OpenAI) or NDJSON
// (Ollama). Its headers go out with the first event, so a request that
// fails before any output still gets a plain error with its status.
type stream struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	d       dialect
	started bool
}

func newStream(w http.ResponseWriter, d dialect) *stream {
	return &stream{w: w, rc: http.NewResponseController(w), d: d}
}

// send writes one event and flushes it; it fails once the client is gone.
func (st *stream) send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if !st.started {
		h := st.w.Header()
		if st.d == openAI {
			h.Set("Content-Type", "text/event-stream")
			h.Set("Cache-Control", "no-cache")
		} else {
			h.Set("Content-Type", "application/x-ndjson")
		}
		h.Set("X-Accel-Buffering", "no")
		st.w.WriteHeader(http.StatusOK)
		st.started = true
	}
	if st.d == openAI {
		b = append(append([]byte("data: "), b...), '\n', '\n')
	} else {
		b = append(b, '\n')
	}
	if _, err := st.w.Write(b); err != nil {
		return err
	}
	return st.rc.Flush()
}

// done ends an OpenAI stream as its clients expect.
func (st *stream) done() error {
	if _, err := st.w.Write([]byte("data: [DONE]\n\n")); err != nil {
		return err
	}
	return st.rc.Flush()
}

// finish ends the reply with err: as a plain error reply when nothing was
// sent yet (the returned error, for the router), or else as a last event
// in the stream's own format.
func (st *stream) finish(err error) error {
	if err == nil || !st.started {
		return err
	}
	e := asError(err)
	if e.Code == ipc.CodeCanceled {
		return nil // the client is gone
	}
	if st.d == openAI {
		st.send(openAIError(e))
		return nil
	}
	st.send(map[string]string{"error": e.Message})
	return nil
}

// generate runs req through the handler as the msgpack generate op does,
// calling emit per chunk.
func (s *Server) generate(ctx context.Context, req *ipc.Request, emit func(ipc.Chunk) error) (*ipc.Stats, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	stats, err := s.h.Generate(ctx, req, func(c ipc.Chunk) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := emit(c); err != nil {
			// A write fails when the client has gone, which may be
			// noticed here before the request's context ends: it is a
			// cancellation all the same.
			return fmt.Errorf("%w: writing to the client: %v", context.Canceled, err)
		}
		return nil
	})
	if err == nil && stats == nil {
		err = ipc.Errorf(ipc.CodeInternal, "the handler returned no stats")
	}
	return stats, s.settle(err)
}

// embed runs req through the handler as the msgpack embed op does.
func (s *Server) embed(ctx context.Context, req *ipc.Request) (ipc.EmbedResult, error) {
	if err := s.enter(); err != nil {
		return ipc.EmbedResult{}, err
	}
	defer s.leave()
	res, err := s.h.Embed(ctx, req)
	if err == nil && len(res.Embeddings) != len(req.Input) {
		err = ipc.Errorf(ipc.CodeInternal, "the handler returned %d vectors for %d inputs", len(res.Embeddings), len(req.Input))
	}
	return res, s.settle(err)
}

// finishReason is the OpenAI (and Ollama done_reason) word for a stop
// reason: "length" for a cut, "stop" for a natural end.
func finishReason(stop string) string {
	switch stop {
	case "max_tokens", "context_full":
		return "length"
	}
	return "stop"
}
