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
	// ChatTokens are the BOS and EOS token texts a Jinja chat template
	// prints (chat.TokensOf the model's tokenizer).
	ChatTokens chat.Tokens
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
	sess     model.Session
	tok      Tokenizer
	opts     Options
	prompter Prompter
	cache    []int32 // tokens whose keys and values the session holds, by position
	one      [1]int32
	vocab    *grammar.Vocab             // built on the first constrained request
	tables   map[string]*grammar.Tables // by format and grammar text
}

// New returns an engine over sess and tok. The engine takes ownership of
// sess; Close closes it.
func New(sess model.Session, tok Tokenizer, opts Options) *Engine {
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	return &Engine{sess: sess, tok: tok, opts: opts,
		prompter: NewPrompter(tok, opts.ChatTemplate, opts.ChatTokens, opts.Name)}
}

// Template returns the chat template, or the error chat requests will
// get.
func (e *Engine) Template() (chat.Template, error) {
	return e.prompter.Template, e.prompter.TemplateErr
}

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
	limit, err := e.contextOf(&req)
	if err != nil {
		return res, err
	}
	prompt, err := e.tokenize(&req, limit)
	if err != nil {
		return res, err
	}
	res.PromptTokens = len(prompt)
	if sq, ok := e.sess.(model.Sequence); ok {
		// The sequence's pages come from a pool shared with other
		// requests: it maps what the pool holds of the prompt instead of
		// what this engine evaluated last.
		reused := sq.Begin(ctx, prompt, limit)
		defer sq.End()
		e.cache = append(e.cache[:0], prompt[:reused]...)
	}
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
		dec: e.tok.NewDecoder(), stop: stopper{stops: req.Stop}, maxTokens: req.MaxTokens, ctxSize: limit,
		wantLogprobs: req.Logprobs}
	if len(req.Tools) > 0 && !req.NoToolCalls {
		g.reply = new(strings.Builder)
	}
	err = g.run()
	if g.reply != nil && err == nil {
		r := chat.ParseReply(e.prompter.Template.Tools(), g.reply.String())
		res.Content, res.ToolCalls = r.Content, r.ToolCalls
	}
	res.PromptTokensPerSecond = perSecond(res.PromptTokens-res.CachedTokens, res.PromptDuration)
	res.GenerationTokensPerSecond = perSecond(res.GeneratedTokens, res.GenerationDuration)
	return res, err
}

// contextOf returns the positions req may use: its context_size, at most
// the session's.
func (e *Engine) contextOf(req *Request) (int, error) {
	n := e.sess.ContextSize()
	if req.ContextSize > n {
		return 0, fmt.Errorf("%w: context_size %d exceeds the model's %d", ErrInvalid, req.ContextSize, n)
	}
	if req.ContextSize > 0 {
		n = req.ContextSize
	}
	return n, nil
}

// tokenize renders and encodes the request's prompt and checks its length
// against the request's context of n positions.
func (e *Engine) tokenize(req *Request, n int) ([]int32, error) {
	toks, err := e.prompter.Tokens(req)
	if err != nil {
		return nil, err
	}
	if len(toks) > n {
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
	ctxSize             int     // the request's positions
	pending             []int32 // generated ids not yet sent
	// reply collects the text sent, to find tool calls in; nil when the
	// request offers no tools.
	reply        *strings.Builder
	wantLogprobs bool
	logprobs     []TokenLogprob // of pending
}

func (g *generation) run() error {
	e, res := g.e, g.res
	defer func() {
		if !g.genStart.IsZero() {
			res.GenerationDuration = time.Since(g.genStart)
		}
	}()
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
		case g.pos >= g.ctxSize:
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
	if g.reply != nil {
		g.reply.WriteString(text)
	}
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
