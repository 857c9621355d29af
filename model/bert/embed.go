package bert

import (
	"fmt"
	"math"

	"github.com/vkinfer/vkinfer/compute"
	"github.com/vkinfer/vkinfer/model"
)

// Tokenizer turns text into token ids (model.Tokenizer). The WordPiece
// tokenizer of package model/tokenizer satisfies it; addSpecial adds
// [CLS] and [SEP].
type Tokenizer = model.Tokenizer

// Options adjust an embedding request (model.EmbedOptions): Truncate keeps
// a final separator token at the end of a cut input.
type Options = model.EmbedOptions

// Encoder runs the model's graph (BuildEmbedding) over sequences packed
// into one pass: a runner.Encoder on an executor of any backend.
type Encoder = model.Encoder

// BuildEmbedding implements model.TextEmbedder: the encoder's graph,
// every token's final hidden state.
func (m *Model) BuildEmbedding(b *compute.Builder) compute.Tensor { return m.Build(b) }

// Embed returns one L2-normalised vector per input, pooled as
// Config.Pooling says from the hidden states enc computes; enc must run
// this model's graph. Inputs go through enc in as few passes as its
// MaxTokens allows, never split over two. Embed fails with ErrUnsupported
// when the model's pooling is none (use EmbedTokens), ErrEmptyInput for an
// empty batch or input, ErrTokenRange for an id outside the vocabulary,
// ErrTooLong for an input past the context (or past one pass of enc)
// without opts.Truncate, and ErrOption for a bad opts.Dimensions.
func (m *Model) Embed(enc Encoder, batch [][]int32, opts Options) ([][]float32, error) {
	out, err := m.embed(enc, batch, opts)
	return out.Vectors, err
}

// embed is Embed that also counts the tokens each input ran as, which
// truncation may have cut.
func (m *Model) embed(enc Encoder, batch [][]int32, opts Options) (model.Embeddings, error) {
	if m.Config.Pooling == PoolingNone {
		return model.Embeddings{}, fmt.Errorf("%w: the model's pooling type is none; use EmbedTokens or WithPooling", ErrUnsupported)
	}
	seqs, err := m.prepare(enc, batch, opts)
	if err != nil {
		return model.Embeddings{}, err
	}
	out := model.Embeddings{Vectors: make([][]float32, len(seqs)), Tokens: make([]int, len(seqs))}
	for s, ids := range seqs {
		out.Tokens[s] = len(ids)
	}
	err = m.run(enc, seqs, func(s int, hidden []float32) error {
		v, err := pool(hidden, m.Config.Embd, m.Config.Pooling)
		if err != nil {
			return err
		}
		out.Vectors[s] = finish(v, opts)
		return nil
	})
	if err != nil {
		return model.Embeddings{}, err
	}
	return out, nil
}

// EmbedTokens returns, for every input, one L2-normalised vector per token
// (the unpooled hidden states, as pooling type none gives), whatever the
// model's pooling type. Errors are as for Embed.
func (m *Model) EmbedTokens(enc Encoder, batch [][]int32, opts Options) ([][][]float32, error) {
	seqs, err := m.prepare(enc, batch, opts)
	if err != nil {
		return nil, err
	}
	e := m.Config.Embd
	out := make([][][]float32, len(seqs))
	err = m.run(enc, seqs, func(s int, hidden []float32) error {
		out[s] = make([][]float32, len(seqs[s]))
		for t := range out[s] {
			out[s][t] = finish(hidden[t*e:(t+1)*e], opts)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// EmbedTexts implements model.TextEmbedder: it tokenizes each text with
// tok (adding [CLS] and [SEP]) and embeds them as Embed does, counting
// each text's tokens as truncation left them. Tokenizer errors name the
// text's index.
func (m *Model) EmbedTexts(enc Encoder, tok Tokenizer, texts []string, opts Options) (model.Embeddings, error) {
	if len(texts) == 0 {
		return model.Embeddings{}, fmt.Errorf("%w: no texts", ErrEmptyInput)
	}
	batch := make([][]int32, len(texts))
	for i, text := range texts {
		ids, err := tok.Encode(text, true, opts.ParseSpecial)
		if err != nil {
			return model.Embeddings{}, fmt.Errorf("bert: text %d: tokenize: %w", i, err)
		}
		batch[i] = ids
	}
	return m.embed(enc, batch, opts)
}

// run passes seqs through enc, as few passes as its MaxTokens allows, and
// calls fn with each sequence's hidden states (len(seqs[s]) rows of Embd).
func (m *Model) run(enc Encoder, seqs [][]int32, fn func(s int, hidden []float32) error) error {
	e := m.Config.Embd
	for first := 0; first < len(seqs); {
		end, tokens := first, 0
		for end < len(seqs) && (end == first || tokens+len(seqs[end]) <= enc.MaxTokens()) {
			tokens += len(seqs[end])
			end++
		}
		hidden, start, err := enc.Forward(seqs[first:end])
		if err != nil {
			return fmt.Errorf("bert: %w", err)
		}
		// An encoder of another model's graph would give rows of another
		// width; slicing them as Embd would misread every sequence.
		if len(start) != end-first+1 || len(hidden) != start[end-first]*e {
			return fmt.Errorf("bert: the encoder gave %d values for %d tokens, want rows of %d", len(hidden), tokens, e)
		}
		for s := first; s < end; s++ {
			if err := fn(s, hidden[start[s-first]*e:start[s-first+1]*e]); err != nil {
				return err
			}
		}
		first = end
	}
	return nil
}

// prepare checks the batch and options and applies truncation, to the
// context or to one pass of enc, whichever is shorter. It copies only the
// inputs it truncates.
func (m *Model) prepare(enc Encoder, batch [][]int32, opts Options) ([][]int32, error) {
	c := m.Config
	if len(batch) == 0 {
		return nil, fmt.Errorf("%w: no inputs", ErrEmptyInput)
	}
	if opts.Dimensions < 0 || opts.Dimensions > c.Embd {
		return nil, fmt.Errorf("%w: dimensions %d outside 1..%d (or 0 for all)", ErrOption, opts.Dimensions, c.Embd)
	}
	limit, holds := c.ContextLength, "the context holds"
	if n := enc.MaxTokens(); n < limit {
		limit, holds = n, "a pass of the encoder holds"
	}
	seqs := make([][]int32, len(batch))
	for s, ids := range batch {
		if len(ids) == 0 {
			return nil, fmt.Errorf("%w: input %d has no tokens", ErrEmptyInput, s)
		}
		for p, id := range ids {
			if id < 0 || int(id) >= c.Vocab {
				return nil, fmt.Errorf("%w: input %d, position %d: id %d, vocabulary has %d", ErrTokenRange, s, p, id, c.Vocab)
			}
		}
		if len(ids) > limit {
			if !opts.Truncate {
				return nil, fmt.Errorf("%w: input %d has %d tokens, %s %d", ErrTooLong, s, len(ids), holds, limit)
			}
			cut := append([]int32(nil), ids[:limit]...)
			// Keep the sequence closed as the model saw it in training.
			if c.SepID >= 0 && ids[len(ids)-1] == c.SepID {
				cut[len(cut)-1] = c.SepID
			}
			ids = cut
		}
		seqs[s] = ids
	}
	return seqs, nil
}

// pool reduces one sequence's hidden states (rows of e) to one vector by p.
func pool(hidden []float32, e int, p PoolingType) ([]float32, error) {
	n := len(hidden) / e
	out := make([]float32, e)
	switch p {
	case PoolingMean:
		for t := range n {
			for i, v := range hidden[t*e : (t+1)*e] {
				out[i] += v
			}
		}
		inv := 1 / float32(n)
		for i := range out {
			out[i] *= inv
		}
	case PoolingCLS:
		copy(out, hidden[:e])
	case PoolingLast:
		copy(out, hidden[(n-1)*e:])
	default:
		return nil, fmt.Errorf("%w: pooling type %s does not give one vector per input", ErrUnsupported, p)
	}
	return out, nil
}

// finish applies the dimension cut to a copy of v and L2-normalises it
// (a zero vector stays zero). Normalising after the cut equals
// normalising, cutting and normalising again, since the norm only scales.
func finish(v []float32, opts Options) []float32 {
	d := len(v)
	if opts.Dimensions > 0 {
		d = opts.Dimensions
	}
	out := append([]float32(nil), v[:d]...)
	var sq float64
	for _, x := range out {
		sq += float64(x) * float64(x)
	}
	if sq == 0 {
		return out
	}
	inv := float32(1 / math.Sqrt(sq))
	for i := range out {
		out[i] *= inv
	}
	return out
}
