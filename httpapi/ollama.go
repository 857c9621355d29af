package httpapi

import (
	"context"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/vkinfer/vkinfer/ipc"
)

// ollamaStats are the done object's counts and timings, in Ollama's
// names and units (nanoseconds).
type ollamaStats struct {
	DoneReason         string `json:"done_reason,omitempty"`
	TotalDuration      int64  `json:"total_duration,omitempty"`
	LoadDuration       int64  `json:"load_duration,omitempty"`
	PromptEvalCount    int    `json:"prompt_eval_count,omitempty"`
	PromptEvalDuration int64  `json:"prompt_eval_duration,omitempty"`
	EvalCount          int    `json:"eval_count,omitempty"`
	EvalDuration       int64  `json:"eval_duration,omitempty"`
}

func ollamaStatsOf(st *ipc.Stats, start time.Time) ollamaStats {
	return ollamaStats{
		DoneReason:         finishReason(st.StopReason),
		TotalDuration:      time.Since(start).Nanoseconds(),
		LoadDuration:       st.LoadNs,
		PromptEvalCount:    st.PromptTokens,
		PromptEvalDuration: st.PromptNs,
		EvalCount:          st.GeneratedTokens,
		EvalDuration:       st.GenerationNs,
	}
}

type ollamaGenerateReply struct {
	Model     string `json:"model"`
	CreatedAt string `json:"created_at"`
	Response  string `json:"response"`
	Done      bool   `json:"done"`
	// Logprobs are the tokens' of this object, when asked for.
	Logprobs []tokenLogprob `json:"logprobs,omitempty"`
	ollamaStats
}

type ollamaChatReply struct {
	Model     string         `json:"model"`
	CreatedAt string         `json:"created_at"`
	Message   ollamaMessage  `json:"message"`
	Done      bool           `json:"done"`
	Logprobs  []tokenLogprob `json:"logprobs,omitempty"`
	ollamaStats
}

// ollamaLogprobs is nil unless req asked for logprobs.
func ollamaLogprobs(req *ipc.Request, lps []ipc.TokenLogprob) []tokenLogprob {
	if !req.Logprobs {
		return nil
	}
	return tokenLogprobs(lps)
}

func now() string { return time.Now().UTC().Format(time.RFC3339Nano) }

// resolve maps a requested name to a model's file stem: the name itself
// when a model has it, else by the name:tag rule (stemOf).
func (s *Server) resolve(ctx context.Context, name string) string {
	if !strings.Contains(name, ":") {
		return name
	}
	if models, err := s.h.Models(ctx); err == nil {
		for _, m := range models {
			if m.Name == name {
				return name
			}
		}
	}
	return stemOf(name)
}

// loadOnly serves a generate or chat request without input, which Ollama
// clients send to load a model (or, with keep_alive 0, to unload it); it
// returns the done_reason.
func (s *Server) loadOnly(ctx context.Context, model string, keep keepAlive) (string, error) {
	if err := s.enter(); err != nil {
		return "", err
	}
	defer s.leave()
	req := &ipc.Request{Op: ipc.OpLoad, Model: model, KeepAlive: keep.duration()}
	if !keep.unloadAfter() {
		return "load", s.settle(s.h.Load(ctx, req))
	}
	req.Op = ipc.OpUnload
	err := s.h.Unload(ctx, req)
	if ipc.CodeOf(err) == ipc.CodeUnknownModel && s.exists(ctx, model) {
		err = nil // known but not loaded: nothing to unload
	}
	return "unload", s.settle(err)
}

func (s *Server) exists(ctx context.Context, model string) bool {
	models, err := s.h.Models(ctx)
	if err != nil {
		return false
	}
	for _, m := range models {
		if m.Name == model {
			return true
		}
	}
	return false
}

// ollamaGenerate serves POST /api/generate (msgpack: generate; load or
// unload without a prompt).
func (s *Server) ollamaGenerate(w http.ResponseWriter, r *http.Request) error {
	start := time.Now()
	var body ollamaGenerateRequest
	if err := readJSON(w, r, s.cfg.MaxBody, &body); err != nil {
		return err
	}
	req, err := body.request()
	if err != nil {
		return err
	}
	model := s.resolve(r.Context(), body.Model)
	reply := ollamaGenerateReply{Model: body.Model}
	if req == nil {
		reason, err := s.loadOnly(r.Context(), model, body.KeepAlive)
		if err != nil {
			return err
		}
		reply.CreatedAt, reply.Done, reply.DoneReason = now(), true, reason
		writeJSON(w, http.StatusOK, reply)
		return nil
	}
	req.Model, req.KeepAlive = model, body.KeepAlive.duration()
	if !*req.Stream {
		var out output
		stats, err := s.generate(r.Context(), req, func(c ipc.Chunk) error {
			out.add(c)
			return nil
		})
		if err != nil {
			return err
		}
		reply.CreatedAt, reply.Response, reply.Done, reply.ollamaStats = now(), out.text.String(), true, ollamaStatsOf(stats, start)
		reply.Logprobs = ollamaLogprobs(req, out.logprobs)
		writeJSON(w, http.StatusOK, reply)
		return nil
	}
	st := newStream(w, ollama)
	stats, err := s.generate(r.Context(), req, func(c ipc.Chunk) error {
		return st.send(ollamaGenerateReply{Model: body.Model, CreatedAt: now(), Response: c.Text, Logprobs: ollamaLogprobs(req, c.Logprobs)})
	})
	if err != nil {
		return st.finish(err)
	}
	reply.CreatedAt, reply.Done, reply.ollamaStats = now(), true, ollamaStatsOf(stats, start)
	st.send(reply)
	return nil
}

// ollamaChat serves POST /api/chat (msgpack: generate with messages; load
// or unload without messages).
func (s *Server) ollamaChat(w http.ResponseWriter, r *http.Request) error {
	start := time.Now()
	var body ollamaChatRequest
	if err := readJSON(w, r, s.cfg.MaxBody, &body); err != nil {
		return err
	}
	req, err := body.request()
	if err != nil {
		return err
	}
	model := s.resolve(r.Context(), body.Model)
	reply := ollamaChatReply{Model: body.Model, Message: ollamaMessage{Role: "assistant"}}
	if req == nil {
		reason, err := s.loadOnly(r.Context(), model, body.KeepAlive)
		if err != nil {
			return err
		}
		reply.CreatedAt, reply.Done, reply.DoneReason = now(), true, reason
		writeJSON(w, http.StatusOK, reply)
		return nil
	}
	req.Model, req.KeepAlive = model, body.KeepAlive.duration()
	if !*req.Stream {
		var out output
		stats, err := s.generate(r.Context(), req, func(c ipc.Chunk) error {
			out.add(c)
			return nil
		})
		if err != nil {
			return err
		}
		content, calls, _ := out.split(stats)
		reply.CreatedAt, reply.Done, reply.ollamaStats = now(), true, ollamaStatsOf(stats, start)
		reply.Message.Content, reply.Message.ToolCalls = content, ollamaCalls(calls)
		reply.Logprobs = ollamaLogprobs(req, out.logprobs)
		writeJSON(w, http.StatusOK, reply)
		return nil
	}
	st := newStream(w, ollama)
	// A reply parsed for tool calls sends its content as far as it is
	// sure; at its end, one object carries the rest and the calls.
	held := parsesCalls(req)
	cs := callStream{holdAll: req.Logprobs}
	stats, err := s.generate(r.Context(), req, func(c ipc.Chunk) error {
		t, lps := c.Text, ollamaLogprobs(req, c.Logprobs)
		if held {
			if t, lps = cs.add(c), nil; t == "" {
				return nil
			}
		}
		return st.send(ollamaChatReply{Model: body.Model, CreatedAt: now(), Message: ollamaMessage{Role: "assistant", Content: t}, Logprobs: lps})
	})
	if err != nil {
		return st.finish(err)
	}
	if held {
		content, calls, _ := cs.end(stats)
		if content != "" || len(calls) > 0 || cs.sent == "" {
			if st.send(ollamaChatReply{Model: body.Model, CreatedAt: now(), Message: ollamaMessage{Role: "assistant", Content: content, ToolCalls: ollamaCalls(calls)},
				Logprobs: ollamaLogprobs(req, cs.out.logprobs)}) != nil {
				return nil
			}
		}
	}
	reply.CreatedAt, reply.Done, reply.ollamaStats = now(), true, ollamaStatsOf(stats, start)
	st.send(reply)
	return nil
}

// ollamaEmbed serves POST /api/embed (msgpack: embed). Its reply has no
// load_duration: the embed op does not report it.
func (s *Server) ollamaEmbed(w http.ResponseWriter, r *http.Request) error {
	start := time.Now()
	var body ollamaEmbedRequest
	if err := readJSON(w, r, s.cfg.MaxBody, &body); err != nil {
		return err
	}
	req, err := body.request()
	if err != nil {
		return err
	}
	req.Model, req.KeepAlive = s.resolve(r.Context(), req.Model), body.KeepAlive.duration()
	res, err := s.embed(r.Context(), req)
	if err != nil {
		return err
	}
	vecs := res.Embeddings
	for i := range vecs {
		vecs[i] = orEmpty(vecs[i])
	}
	writeJSON(w, http.StatusOK, map[string]any{"model": body.Model, "embeddings": vecs, "total_duration": time.Since(start).Nanoseconds(),
		"prompt_eval_count": res.PromptTokens})
	return nil
}

type ollamaDetails struct {
	ParentModel       string   `json:"parent_model"`
	Format            string   `json:"format"`
	Family            string   `json:"family"`
	Families          []string `json:"families"`
	ParameterSize     string   `json:"parameter_size"`
	QuantizationLevel string   `json:"quantization_level"`
}

func detailsOf(m ipc.ModelInfo) ollamaDetails {
	d := ollamaDetails{Format: "gguf", Family: m.Arch, Families: []string{m.Arch}, ParameterSize: parameterSize(m.Parameters)}
	if len(m.Types) > 0 {
		d.QuantizationLevel = m.Types[0].Type
	}
	return d
}

// parameterSize says a parameter count as Ollama does: "260K", "1.1B".
func parameterSize(n uint64) string {
	x := float64(n)
	for _, u := range []struct {
		div    float64
		suffix string
	}{{1e12, "T"}, {1e9, "B"}, {1e6, "M"}, {1e3, "K"}} {
		if x >= u.div {
			return strings.TrimSuffix(strings.TrimSuffix(strconv.FormatFloat(x/u.div, 'f', 1, 64), ".0"), ".") + u.suffix
		}
	}
	return strconv.FormatUint(n, 10)
}

// ollamaTag is a model's name as Ollama clients list it: its file stem
// with the tag "latest" (see stemOf for the way back).
func ollamaTag(name string) string {
	if strings.Contains(name, ":") {
		return name
	}
	return name + ":latest"
}

type ollamaModel struct {
	Name       string        `json:"name"`
	Model      string        `json:"model"`
	ModifiedAt time.Time     `json:"modified_at"`
	Size       int64         `json:"size"`
	Digest     string        `json:"digest"`
	Details    ollamaDetails `json:"details"`
}

// ollamaTags serves GET /api/tags (msgpack: models): the models that can
// run. Digest is empty: vkinfer names files, it does not hash them.
func (s *Server) ollamaTags(w http.ResponseWriter, r *http.Request) error {
	models, err := s.h.Models(r.Context())
	if err != nil {
		return err
	}
	out := []ollamaModel{}
	for _, m := range usable(models) {
		out = append(out, ollamaModel{Name: ollamaTag(m.Name), Model: ollamaTag(m.Name), ModifiedAt: modTime(m.Path), Size: m.Size, Details: detailsOf(m)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"models": out})
	return nil
}

type ollamaRunning struct {
	Name          string        `json:"name"`
	Model         string        `json:"model"`
	Size          uint64        `json:"size"`
	Digest        string        `json:"digest"`
	Details       ollamaDetails `json:"details"`
	ExpiresAt     time.Time     `json:"expires_at"`
	SizeVRAM      uint64        `json:"size_vram"`
	ContextLength uint64        `json:"context_length"`
}

// ollamaPS serves GET /api/ps (msgpack: status and models): the loaded
// models, expiring the daemon's keep-alive after their last use.
func (s *Server) ollamaPS(w http.ResponseWriter, r *http.Request) error {
	st, err := s.h.Status(r.Context())
	if err != nil {
		return err
	}
	models, err := s.h.Models(r.Context())
	if err != nil {
		return err
	}
	info := map[string]ipc.ModelInfo{}
	for _, m := range models {
		info[m.Name] = m
	}
	out := []ollamaRunning{}
	for _, p := range st.Pools {
		for _, m := range p.Models {
			if m.Workers == 0 {
				continue
			}
			expires := m.LastUse.Add(s.cfg.KeepAlive)
			if s.cfg.KeepAlive < 0 {
				expires = m.LastUse.AddDate(100, 0, 0) // never
			}
			run := ollamaRunning{Name: ollamaTag(m.Name), Model: ollamaTag(m.Name), Size: m.Memory,
				Details: detailsOf(info[m.Name]), ExpiresAt: expires, ContextLength: info[m.Name].ContextLength}
			if strings.HasPrefix(m.Backend, "vulkan") {
				run.SizeVRAM = m.Memory
			}
			out = append(out, run)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"models": out})
	return nil
}

// ollamaVersion serves GET /api/version.
func (s *Server) ollamaVersion(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"version": s.cfg.Version})
	return nil
}

// ollamaShow serves POST /api/show (msgpack: models, one entry). There is
// no Modelfile; template is empty as the models op does not carry it.
func (s *Server) ollamaShow(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Model string `json:"model"`
		Name  string `json:"name"` // the older spelling
	}
	if err := readJSON(w, r, s.cfg.MaxBody, &body); err != nil {
		return err
	}
	if body.Model == "" {
		body.Model = body.Name
	}
	if body.Model == "" {
		return badRequest("model is required")
	}
	name := s.resolve(r.Context(), body.Model)
	models, err := s.h.Models(r.Context())
	if err != nil {
		return err
	}
	for _, m := range models {
		if m.Name != name {
			continue
		}
		caps := []string{}
		for _, c := range m.Capabilities {
			switch c {
			case "generate":
				caps = append(caps, "completion")
			case "embed":
				caps = append(caps, "embedding")
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"license": "", "modelfile": "", "parameters": "", "template": "",
			"details": detailsOf(m),
			"model_info": map[string]any{
				"general.architecture":     m.Arch,
				"general.parameter_count":  m.Parameters,
				m.Arch + ".context_length": m.ContextLength,
			},
			"capabilities": caps,
			"modified_at":  modTime(m.Path),
		})
		return nil
	}
	return ipc.Errorf(ipc.CodeUnknownModel, "model %q not found", body.Model)
}

// usable returns the models that can run (not refused, with a capability).
func usable(models []ipc.ModelInfo) []ipc.ModelInfo {
	var out []ipc.ModelInfo
	for _, m := range models {
		if m.Refused == "" && len(m.Capabilities) > 0 {
			out = append(out, m)
		}
	}
	return out
}

// modTime is a model file's modification time (zero when unreadable).
func modTime(path string) time.Time {
	st, err := os.Stat(path)
	if err != nil {
		return time.Time{}
	}
	return st.ModTime().UTC()
}
