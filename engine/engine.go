package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vkinfer/vkinfer/engine/chat"
	"github.com/vkinfer/vkinfer/grammar"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/sampling"
)

// DefaultBatchSize is the prefill batch size when Options leaves it zero.
const DefaultBatchSize = 512

// Options configure an Engine.
type Options struct {
	// Name is the model name used for Metrics.
	Name string
	// ChatTemplate is the model's tokenizer.chat_template source (or a
	// template family name); empty when the model has none, in which case
	// chat requests fail with chat.ErrNoTemplate.
	ChatTemplate string
	// BatchSize is the number of prompt tokens per Eval call during
	// prefill; 0 means DefaultBatchSize.
	BatchSize int
	// Metrics, when set, receives every request's outcome.
	Metrics *Metrics
}

// Engine generates text with one session. It remembers which tokens the
// session's KV cache holds, so a request sharing a prefix with the previous
// one evaluates only the rest.
type Engine struct {
	sess    model.Session
	tok     Tokenizer
	opts    Options
	tmpl    chat.Template
	tmplErr error
	cache   []int32 // tokens whose keys and values the session holds, by position
	one     [1]int32
	vocab   *grammar.Vocab             // built on the first constrained request
	tables  map[string]*grammar.Tables // by format and grammar text
}

// New returns an engine over sess and tok. The engine takes ownership of
// sess; Close closes it.
func New(sess model.Session, tok Tokenizer, opts Options) *Engine {
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	e := &Engine{sess: sess, tok: tok, opts: opts}
	e.tmpl, e.tmplErr = chat.Detect(opts.ChatTemplate)
	if e.tmplErr != nil && opts.Name != "" {
		e.tmplErr = fmt.Errorf("model %s: %w", opts.Name, e.tmplErr)
	}
	return e
}

// Template returns the detected chat template, or the error chat requests
// will get.
func (e *Engine) Template() (chat.Template, error) { return e.tmpl, e.tmplErr }

// ContextSize returns the session's context size in tokens.
func (e *Engine) ContextSize() int { return e.sess.ContextSize() }

// CachedTokens returns how many tokens the session's KV cache holds for
// prefix reuse.
func (e *Engine) CachedTokens() int { return len(e.cache) }

// Reset forgets what the KV cache holds, so the next request evaluates
// its whole prompt. Generate resets after any session error, since a
// backend that defers work may have lost more than the failed call.
func (e *Engine) Reset() { e.cache = e.cache[:0] }

// Close closes the session.
func (e *Engine) Close() error {
	e.cache = nil
	return e.sess.Close()
}

// Generate runs req, calling emit with each chunk of output. emit may block
// (backpressure); if it returns an error generation stops and Generate
// returns that error. Cancelling ctx stops generation within one step with
// StopCancelled and ctx's error. The Result is filled in as far as the
// request got, also when the error is non-nil.
func (e *Engine) Generate(ctx context.Context, req Request, emit func(Chunk) error) (res Result, err error) {
	start := time.Now()
	defer func() {
		if err != nil && res.StopReason == "" {
			res.StopReason = StopError
		}
		if e.opts.Metrics != nil {
			e.opts.Metrics.Record(e.opts.Name, res, err)
		}
	}()
	if err := req.Validate(); err != nil {
		return res, err
	}
	prompt, err := e.tokenize(&req)
	if err != nil {
		return res, err
	}
	res.PromptTokens = len(prompt)
	sampler, err := sampling.New(req.Params)
	if err != nil {
		return res, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	sampler.Accept(prompt...)
	if err := e.constrain(sampler, &req); err != nil {
		return res, err
	}

	prefillStart := time.Now()
	if res.CachedTokens, err = e.prefill(ctx, prompt); err != nil {
		if ctx.Err() != nil {
			res.StopReason = StopCancelled
		}
		return res, err
	}
	g := generation{e: e, ctx: ctx, emit: emit, sampler: sampler, res: &res,
		start: start, prefillStart: prefillStart, pos: len(prompt),
		dec: e.tok.NewDecoder(), stop: stopper{stops: req.Stop}, maxTokens: req.MaxTokens,
		wantLogprobs: req.Logprobs}
	err = g.run()
	res.PromptTokensPerSecond = perSecond(res.PromptTokens-res.CachedTokens, res.PromptDuration)
	res.GenerationTokensPerSecond = perSecond(res.GeneratedTokens, res.GenerationDuration)
	return res, err
}

// tokenize renders and encodes the request's prompt and checks its length.
func (e *Engine) tokenize(req *Request) ([]int32, error) {
	text := req.Prompt
	if len(req.Messages) > 0 {
		if e.tmplErr != nil {
			return nil, e.tmplErr
		}
		var err error
		if text, err = e.tmpl.Render(req.Messages, true); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
	}
	toks, err := e.tok.Encode(text, true, true)
	if err != nil {
		return nil, fmt.Errorf("engine: tokenize prompt: %w", err)
	}
	if len(toks) == 0 {
		return nil, fmt.Errorf("%w: the prompt is empty and the model adds no BOS token", ErrInvalid)
	}
	if n := e.sess.ContextSize(); len(toks) > n {
		return nil, fmt.Errorf("%w: prompt has %d tokens, the context holds %d", ErrPromptTooLong, len(toks), n)
	}
	return toks, nil
}

// prefill evaluates the part of prompt the cache does not hold, in batches,
// and returns how many prompt tokens were reused. The last prompt token is
// always evaluated, since its logits give the first generated token.
func (e *Engine) prefill(ctx context.Context, prompt []int32) (int, error) {
	n := 0
	for n < len(e.cache) && n < len(prompt) && e.cache[n] == prompt[n] {
		n++
	}
	n = min(n, len(prompt)-1)
	e.cache = e.cache[:n]
	cached := n
	for n < len(prompt) {
		if err := ctx.Err(); err != nil {
			return cached, err
		}
		end := min(n+e.opts.BatchSize, len(prompt))
		if err := e.sess.Eval(prompt[n:end], n); err != nil {
			e.Reset()
			return cached, fmt.Errorf("engine: prefill at position %d: %w", n, err)
		}
		e.cache = append(e.cache, prompt[n:end]...)
		n = end
	}
	return cached, nil
}

// generation is the state of one decode loop.
type generation struct {
	e                   *Engine
	ctx                 context.Context
	emit                func(Chunk) error
	sampler             *sampling.Sampler
	res                 *Result
	start, prefillStart time.Time
	genStart            time.Time
	pos                 int
	dec                 Decoder
	stop                stopper
	maxTokens           int
	pending             []int32 // generated ids not yet sent
	wantLogprobs        bool
	logprobs            []TokenLogprob // of pending
}

func (g *generation) run() error {
	e, res := g.e, g.res
	defer func() {
		if !g.genStart.IsZero() {
			res.GenerationDuration = time.Since(g.genStart)
		}
	}()
	ctxSize := e.sess.ContextSize()
	for {
		if err := g.ctx.Err(); err != nil {
			res.StopReason = StopCancelled
			return err
		}
		tok, err := e.sess.Sample(g.sampler)
		if err == nil && tok < 0 {
			err = g.sampler.Err()
		}
		if err != nil {
			e.Reset()
			return fmt.Errorf("engine: sample at position %d: %w", g.pos, err)
		}
		if g.genStart.IsZero() {
			g.genStart = time.Now()
			res.PromptDuration = g.genStart.Sub(g.prefillStart)
		}
		if e.tok.IsEOG(tok) {
			res.StopReason = StopEOG
			return g.finish()
		}
		res.GeneratedTokens++
		g.pending = append(g.pending, tok)
		if g.wantLogprobs {
			g.logprobs = append(g.logprobs, e.logprob(g.sampler.Logprob()))
		}
		text, matched := g.stop.push(g.dec.Decode(tok))
		if text != "" || matched != "" {
			if err := g.send(text); err != nil {
				return err
			}
		}
		switch {
		case matched != "":
			res.StopReason, res.StopString = StopString, matched
			return nil
		case g.sampler.Done():
			// The grammar allows nothing more: end as the model's
			// end-of-generation token would, without another step.
			res.StopReason = StopEOG
			return g.finish()
		case g.maxTokens > 0 && res.GeneratedTokens >= g.maxTokens:
			res.StopReason = StopMaxTokens
			return g.finish()
		case g.pos >= ctxSize:
			res.StopReason = StopContextFull
			return g.finish()
		}
		e.one[0] = tok
		if err := e.sess.Eval(e.one[:], g.pos); err != nil {
			if errors.Is(err, model.ErrContextFull) {
				res.StopReason = StopContextFull
				return g.finish()
			}
			e.Reset()
			return fmt.Errorf("engine: eval at position %d: %w", g.pos, err)
		}
		e.cache = append(e.cache, tok)
		g.pos++
	}
}

// finish sends held-back text (an unmatched stop-string prefix, or bytes
// of an incomplete UTF-8 sequence, made valid) with the remaining tokens.
func (g *generation) finish() error {
	tail, matched := g.stop.push(g.dec.Flush())
	if matched != "" {
		g.res.StopReason, g.res.StopString = StopString, matched
	} else {
		tail += g.stop.flush()
	}
	if tail == "" && len(g.pending) == 0 {
		return nil
	}
	return g.send(tail)
}

// send emits text with the pending tokens. Bytes that are not UTF-8
// (a token of stray bytes, a sequence cut off at the end) become U+FFFD.
func (g *generation) send(text string) error {
	if !utf8.ValidString(text) {
		text = strings.ToValidUTF8(text, "\uFFFD")
	}
	c := Chunk{Text: text, Tokens: g.pending, Logprobs: g.logprobs}
	g.pending, g.logprobs = nil, nil
	if g.res.TimeToFirstToken == 0 {
		g.res.TimeToFirstToken = time.Since(g.start)
	}
	if err := g.emit(c); err != nil {
		g.res.StopReason = StopCancelled
		return fmt.Errorf("engine: emit: %w", err)
	}
	return nil
}
