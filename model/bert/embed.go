package bert

import (
	"fmt"

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

// Embed returns one L2-normalised vector per input, pooled as
// Config.Pooling says. It fails with ErrUnsupported when the model's
// pooling is none (use EmbedTokens), ErrEmptyInput for an empty batch or
// input, ErrTokenRange for an id outside the vocabulary, ErrTooLong for an
// input past the context without opts.Truncate, and ErrOption for a bad
// opts.Dimensions.
func (m *Model) Embed(batch [][]int32, opts Options) ([][]float32, error) {
	return m.embedWith(cpuEncoder{m}, batch, opts)
}

// Encoder runs the forward pass of a batch: on the CPU (cpuEncoder), on a
// Vulkan device (VulkanEncoder), or a model graph on an executor
// (runner.Encoder over Model.Build).
type Encoder = model.Encoder

type cpuEncoder struct{ m *Model }

func (c cpuEncoder) Forward(seqs [][]int32) ([]float32, []int, error) { return c.m.forward(seqs) }
func (c cpuEncoder) MaxTokens() int                                   { return maxForwardTokens }

// EmbedWith is Embed on the encoder enc.
func (m *Model) EmbedWith(enc Encoder, batch [][]int32, opts Options) ([][]float32, error) {
	return m.embedWith(enc, batch, opts)
}

func (m *Model) embedWith(enc Encoder, batch [][]int32, opts Options) ([][]float32, error) {
	if m.Config.Pooling == PoolingNone {
		return nil, fmt.Errorf("%w: the model's pooling type is none; use EmbedTokens or WithPooling", ErrUnsupported)
	}
	seqs, err := m.prepare(batch, opts)
	if err != nil {
		return nil, err
	}
	out := make([][]float32, len(seqs))
	err = m.run(enc, seqs, func(s int, hidden []float32) error {
		v, err := pool(hidden, m.Config.Embd, m.Config.Pooling)
		if err != nil {
			return err
		}
		out[s] = finish(v, opts)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// EmbedTokens returns, for every input, one L2-normalised vector per token
// (the unpooled hidden states, as pooling type none gives), whatever the
// model's pooling type. Errors are as for Embed.
func (m *Model) EmbedTokens(batch [][]int32, opts Options) ([][][]float32, error) {
	seqs, err := m.prepare(batch, opts)
	if err != nil {
		return nil, err
	}
	e := m.Config.Embd
	out := make([][][]float32, len(seqs))
	err = m.run(cpuEncoder{m}, seqs, func(s int, hidden []float32) error {
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

// EmbedTexts tokenizes each text with tok (adding [CLS] and [SEP]) and
// embeds them as Embed does. Tokenizer errors name the text's index.
func (m *Model) EmbedTexts(tok Tokenizer, texts []string, opts Options) ([][]float32, error) {
	return m.embedTextsWith(cpuEncoder{m}, tok, texts, opts)
}

// EmbedTextsWith is EmbedTexts on the encoder enc.
func (m *Model) EmbedTextsWith(enc Encoder, tok Tokenizer, texts []string, opts Options) ([][]float32, error) {
	return m.embedTextsWith(enc, tok, texts, opts)
}

// BuildEmbedding implements model.TextEmbedder: the encoder's graph.
func (m *Model) BuildEmbedding(b *compute.Builder) compute.Tensor { return m.Build(b) }

func (m *Model) embedTextsWith(enc Encoder, tok Tokenizer, texts []string, opts Options) ([][]float32, error) {
	if len(texts) == 0 {
		return nil, fmt.Errorf("%w: no texts", ErrEmptyInput)
	}
	batch := make([][]int32, len(texts))
	for i, text := range texts {
		ids, err := tok.Encode(text, true, opts.ParseSpecial)
		if err != nil {
			return nil, fmt.Errorf("bert: text %d: tokenize: %w", i, err)
		}
		batch[i] = ids
	}
	return m.embedWith(enc, batch, opts)
}

// maxForwardTokens bounds the tokens of one forward pass, and so its
// scratch memory (about 4·(5·Embd+FFN) bytes per token); a larger batch
// runs in several passes. Sequences never span two passes.
var maxForwardTokens = 4096 // a variable so tests can force several passes

// run passes seqs through enc, as few forward passes as its maxTokens
// allows, and calls fn with each sequence's hidden states (len(seqs[s])
// rows of Embd).
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
			return err
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

// prepare checks the batch and options and applies truncation. It copies
// only the inputs it truncates.
func (m *Model) prepare(batch [][]int32, opts Options) ([][]int32, error) {
	c := m.Config
	if len(batch) == 0 {
		return nil, fmt.Errorf("%w: no inputs", ErrEmptyInput)
	}
	if opts.Dimensions < 0 || opts.Dimensions > c.Embd {
		return nil, fmt.Errorf("%w: dimensions %d outside 1..%d (or 0 for all)", ErrOption, opts.Dimensions, c.Embd)
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
		if len(ids) > c.ContextLength {
			if !opts.Truncate {
				return nil, fmt.Errorf("%w: input %d has %d tokens, the context holds %d", ErrTooLong, s, len(ids), c.ContextLength)
			}
			cut := append([]int32(nil), ids[:c.ContextLength]...)
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

// finish applies the dimension cut to a copy of v and L2-normalises it.
// Normalising after the cut equals normalising, cutting and normalising
// again, since the norm only scales.
func finish(v []float32, opts Options) []float32 {
	d := len(v)
	if opts.Dimensions > 0 {
		d = opts.Dimensions
	}
	out := append([]float32(nil), v[:d]...)
	normalize(out)
	return out
}
