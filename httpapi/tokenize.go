package httpapi

import (
	"net/http"

	"github.com/vkinfer/vkinfer/ipc"
)

// tokenizeRequest is llama-server's /tokenize body plus the model:
// add_special defaults to false there, parse_special to true.
type tokenizeRequest struct {
	Model        string `json:"model"`
	Content      string `json:"content"`
	AddSpecial   bool   `json:"add_special"`
	ParseSpecial *bool  `json:"parse_special"`
	WithPieces   bool   `json:"with_pieces"`
}

type detokenizeRequest struct {
	Model  string  `json:"model"`
	Tokens []int32 `json:"tokens"`
}

// tokens returns the daemon's TokenHandler, or an error naming what is
// missing.
func (s *Server) tokens() (ipc.TokenHandler, error) {
	th, ok := s.h.(ipc.TokenHandler)
	if !ok {
		return nil, ipc.Errorf(codeNotFound, "this daemon does not serve tokenize and detokenize")
	}
	return th, nil
}

// tokenize serves POST /tokenize (msgpack: tokenize with a prompt),
// answered from the model's tokenizer without loading its weights.
func (s *Server) tokenize(w http.ResponseWriter, r *http.Request) error {
	var body tokenizeRequest
	if err := readJSON(w, r, s.cfg.MaxBody, &body); err != nil {
		return err
	}
	switch {
	case body.Model == "":
		return badRequest("model is required")
	case body.WithPieces:
		return badRequest("with_pieces is not implemented by vkinfer: send the ids to /detokenize")
	}
	add := body.AddSpecial
	req := &ipc.Request{Op: ipc.OpTokenize, Model: s.resolve(r.Context(), body.Model), Prompt: body.Content,
		AddSpecial: &add, ParseSpecial: body.ParseSpecial}
	var ids []int32
	err := s.tokenOp(func(th ipc.TokenHandler) (err error) {
		ids, err = th.Tokenize(r.Context(), req)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string][]int32{"tokens": orEmpty(ids)})
	return nil
}

// detokenize serves POST /detokenize (msgpack: detokenize).
func (s *Server) detokenize(w http.ResponseWriter, r *http.Request) error {
	var body detokenizeRequest
	if err := readJSON(w, r, s.cfg.MaxBody, &body); err != nil {
		return err
	}
	if body.Model == "" {
		return badRequest("model is required")
	}
	req := &ipc.Request{Op: ipc.OpDetokenize, Model: s.resolve(r.Context(), body.Model), Tokens: body.Tokens}
	var text string
	err := s.tokenOp(func(th ipc.TokenHandler) (err error) {
		text, err = th.Detokenize(r.Context(), req)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"content": text})
	return nil
}

// tokenOp runs op on the TokenHandler as the msgpack server does: counted
// in the drain, its error settled.
func (s *Server) tokenOp(op func(ipc.TokenHandler) error) error {
	th, err := s.tokens()
	if err != nil {
		return err
	}
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	return s.settle(op(th))
}
