package main

import (
	"context"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/engine/chat"
	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/ipc"
	"github.com/vkinfer/vkinfer/model/tokenizer"
)

// vocab is a model's tokenizer and chat template, read from its file's
// header without touching its weights: the tokenize ops answer from it,
// for vocabulary-only files too.
type vocab struct {
	tok      *tokenizer.Tokenizer
	prompter engine.Prompter
	// The file it was read from, to notice a replaced one.
	size  int64
	mtime time.Time
}

// vocabs caches each model's vocab while its file stays the same.
type vocabs struct {
	reg *Registry
	mu  sync.Mutex
	m   map[string]*vocab
}

func (vs *vocabs) get(name string) (*vocab, error) {
	mf, err := vs.reg.Lookup(name)
	if err != nil {
		return nil, protocolError(err)
	}
	st, err := os.Stat(mf.Path)
	if err != nil {
		return nil, ipc.Errorf(ipc.CodeUnavailable, "model %q: %v", name, err)
	}
	vs.mu.Lock()
	defer vs.mu.Unlock()
	if v, ok := vs.m[name]; ok && v.size == st.Size() && v.mtime.Equal(st.ModTime()) {
		return v, nil
	}
	f, err := gguf.Open(mf.Path)
	if err != nil {
		return nil, ipc.Errorf(ipc.CodeUnavailable, "model %q: %v", name, err)
	}
	defer f.Close() // the tokenizer keeps copies of what it read
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		return nil, ipc.Errorf(ipc.CodeWrongModel, "model %q has no usable tokenizer: %v", name, err)
	}
	v := &vocab{tok: tok, size: st.Size(), mtime: st.ModTime(),
		prompter: engine.NewPrompter(engineTokenizer{tok}, chat.SourceOf(f), chat.TokensOf(tok), name)}
	if vs.m == nil {
		vs.m = map[string]*vocab{}
	}
	vs.m[name] = v
	return v, nil
}

// Tokenize implements ipc.TokenHandler: the ids generate would evaluate
// for the request's prompt or messages; add_special and parse_special
// false tokenize a prompt without the BOS token or with special-token
// text taken literally.
func (d *service) Tokenize(ctx context.Context, req *ipc.Request) ([]int32, error) {
	if err := CheckName(req.Model); err != nil {
		return nil, protocolError(err)
	}
	v, err := d.vocabs.get(req.Model)
	if err != nil {
		return nil, err
	}
	addSpecial := req.AddSpecial == nil || *req.AddSpecial
	parseSpecial := req.ParseSpecial == nil || *req.ParseSpecial
	if !addSpecial || !parseSpecial {
		if len(req.Messages) > 0 {
			return nil, ipc.Errorf(ipc.CodeBadRequest, "add_special and parse_special apply to a prompt, not to messages (the chat template decides)")
		}
		toks, err := v.tok.Encode(req.Prompt, addSpecial, parseSpecial)
		if err != nil {
			return nil, ipc.Errorf(ipc.CodeBadRequest, "tokenize: %v", err)
		}
		return toks, nil
	}
	er := engineRequest(req)
	toks, err := v.prompter.Tokens(&er)
	return toks, protocolError(err)
}

// Detokenize implements ipc.TokenHandler: the concatenated text of the
// tokens, control tokens (BOS, <|im_end|>, ...) written as their text so
// that tokenize and detokenize round-trip.
func (d *service) Detokenize(ctx context.Context, req *ipc.Request) (string, error) {
	if err := CheckName(req.Model); err != nil {
		return "", protocolError(err)
	}
	v, err := d.vocabs.get(req.Model)
	if err != nil {
		return "", err
	}
	var b []byte
	for i, id := range req.Tokens {
		if id < 0 || int(id) >= v.tok.VocabSize() {
			return "", ipc.Errorf(ipc.CodeBadRequest, "tokens[%d] = %d is not in the vocabulary of %d tokens", i, id, v.tok.VocabSize())
		}
		b = append(b, v.tok.Piece(id, true)...)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD"), nil
}
