package httpapi

import (
	"net/http"
	"strings"

	"github.com/vkinfer/vkinfer/ipc"
)

// dialect is how an endpoint states errors.
type dialect int

const (
	openAI dialect = iota // {"error":{"message","type","param","code"}}
	ollama                // {"error":"message"}
)

// endpoint is one route: its method, dialect and handler.
type endpoint struct {
	method  string
	dialect dialect
	serve   func(w http.ResponseWriter, r *http.Request) error
}

func (s *Server) routes() http.Handler {
	table := map[string]endpoint{
		"/v1/chat/completions": {http.MethodPost, openAI, s.chatCompletions},
		"/v1/completions":      {http.MethodPost, openAI, s.completions},
		"/v1/embeddings":       {http.MethodPost, openAI, s.embeddings},
		"/v1/models":           {http.MethodGet, openAI, s.models},
		"/api/generate":        {http.MethodPost, ollama, s.ollamaGenerate},
		"/api/chat":            {http.MethodPost, ollama, s.ollamaChat},
		"/api/embed":           {http.MethodPost, ollama, s.ollamaEmbed},
		"/api/tags":            {http.MethodGet, ollama, s.ollamaTags},
		"/api/ps":              {http.MethodGet, ollama, s.ollamaPS},
		"/api/version":         {http.MethodGet, ollama, s.ollamaVersion},
		"/api/show":            {http.MethodPost, ollama, s.ollamaShow},
		"/health":              {http.MethodGet, openAI, s.health},
		"/tokenize":            {http.MethodPost, openAI, s.tokenize},
		"/detokenize":          {http.MethodPost, openAI, s.detokenize},
	}
	if s.cfg.Metrics != nil {
		table["/metrics"] = endpoint{http.MethodGet, openAI, s.metrics}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.Name != "" {
			w.Header().Set("Server", s.cfg.Name)
		}
		ep, ok := table[r.URL.Path]
		d := openAI
		if strings.HasPrefix(r.URL.Path, "/api/") {
			d = ollama
		}
		var err error
		switch {
		case !s.authorized(r):
			w.Header().Set("WWW-Authenticate", `Bearer realm="vkinferd"`)
			err = &ipc.Error{Code: codeUnauthorized, Message: "this listener needs Authorization: Bearer <token>; `vkctl token` prints the token"}
		case !ok:
			err = ipc.Errorf(codeNotFound, "no endpoint %s %s", r.Method, r.URL.Path)
		case r.Method != ep.method && !(ep.method == http.MethodGet && r.Method == http.MethodHead):
			w.Header().Set("Allow", ep.method)
			err = ipc.Errorf(codeMethod, "%s takes %s, not %s", r.URL.Path, ep.method, r.Method)
		default:
			d = ep.dialect
			err = ep.serve(w, r)
		}
		if s.cfg.Metrics != nil {
			s.cfg.Metrics.httpRequest(r.URL.Path, ok, err)
		}
		if err != nil {
			writeError(w, d, err)
		}
	})
}

// writeError states err in the dialect's shape, with the status of its
// code. A streamed reply that has begun ends in its own format instead
// (see stream.fail).
func writeError(w http.ResponseWriter, d dialect, err error) {
	e := asError(err)
	status := statusOf(e.Code)
	if d == ollama {
		writeJSON(w, status, map[string]string{"error": e.Message})
		return
	}
	writeJSON(w, status, openAIError(e))
}

type openAIErrorBody struct {
	Error openAIErrorDetail `json:"error"`
}

type openAIErrorDetail struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    string  `json:"code"`
}

func openAIError(e *ipc.Error) openAIErrorBody {
	typ := "invalid_request_error"
	switch status := statusOf(e.Code); {
	case status == http.StatusUnauthorized:
		typ = "authentication_error"
	case status == http.StatusTooManyRequests:
		typ = "rate_limit_error"
	case status >= 500:
		typ = "server_error"
	}
	return openAIErrorBody{Error: openAIErrorDetail{Message: e.Message, Type: typ, Code: e.Code}}
}
