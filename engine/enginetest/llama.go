package enginetest

import (
	"fmt"
	"math"

	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/model/gguf"
	"github.com/vkinfer/vkinfer/model/quant"
	"github.com/vkinfer/vkinfer/model/sampling"
)

type layer struct {
	attnNorm, ffnNorm          []float32
	wq, wk, wv, wo, w1, w2, w3 []float32
}

// Model is a llama-architecture model with its weights as f32.
type Model struct {
	nLayer, embd, heads, headsKV, headDim, ffn, vocab int
	// ContextLength is the model's trained context.
	ContextLength    int
	eps, ropeBase    float32
	tokEmbd, outNorm []float32
	output           []float32
	layers           []layer
	tok              *Tokenizer
}

// Load reads a llama model and its tokenizer from the GGUF file at path.
func Load(path string) (*Model, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if arch, err := f.String("general.architecture"); err != nil || arch != "llama" {
		return nil, fmt.Errorf("enginetest: %s: architecture %q, want llama (%v)", path, arch, err)
	}
	var firstErr error
	u := func(key string) int {
		v, err := f.Uint("llama." + key)
		if err != nil && firstErr == nil {
			firstErr = err
		}
		return int(v)
	}
	fl := func(key string, def float32) float32 {
		if v, err := f.Float("llama." + key); err == nil {
			return float32(v)
		}
		return def
	}
	tensor := func(name string) []float32 {
		ti, err := f.Tensor(name)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			return nil
		}
		out := make([]float32, ti.Elements())
		if err := quant.Dequantize(ti.Type, f.TensorData(ti), out); err != nil && firstErr == nil {
			firstErr = fmt.Errorf("enginetest: %s: %w", name, err)
		}
		return out
	}
	m := &Model{nLayer: u("block_count"), embd: u("embedding_length"), heads: u("attention.head_count"),
		headsKV: u("attention.head_count_kv"), ffn: u("feed_forward_length"), ContextLength: u("context_length"),
		eps: fl("attention.layer_norm_rms_epsilon", 1e-5), ropeBase: fl("rope.freq_base", 10000)}
	if firstErr != nil {
		return nil, firstErr
	}
	if m.heads == 0 || m.headsKV == 0 || m.embd%m.heads != 0 || m.heads%m.headsKV != 0 {
		return nil, fmt.Errorf("enginetest: %s: bad head counts %d/%d for embedding %d", path, m.heads, m.headsKV, m.embd)
	}
	m.headDim = m.embd / m.heads
	m.tokEmbd, m.outNorm = tensor("token_embd.weight"), tensor("output_norm.weight")
	m.output = m.tokEmbd
	if _, err := f.Tensor("output.weight"); err == nil {
		m.output = tensor("output.weight")
	}
	m.vocab = len(m.output) / max(m.embd, 1)
	for l := range m.nLayer {
		p := fmt.Sprintf("blk.%d.", l)
		m.layers = append(m.layers, layer{
			attnNorm: tensor(p + "attn_norm.weight"), ffnNorm: tensor(p + "ffn_norm.weight"),
			wq: tensor(p + "attn_q.weight"), wk: tensor(p + "attn_k.weight"), wv: tensor(p + "attn_v.weight"),
			wo: tensor(p + "attn_output.weight"), w1: tensor(p + "ffn_gate.weight"),
			w2: tensor(p + "ffn_down.weight"), w3: tensor(p + "ffn_up.weight")})
	}
	if firstErr != nil {
		return nil, firstErr
	}
	if m.tok, err = newTokenizer(f); err != nil {
		return nil, err
	}
	return m, nil
}

// Tokenizer returns the model's tokenizer.
func (m *Model) Tokenizer() *Tokenizer { return m.tok }

// Session is one sequence with an f32 KV cache. It implements
// model.Session.
type Session struct {
	m                      *Model
	ctx                    int
	k, v                   []float32 // [layer][pos][kvDim]
	x, xb, xb2, q, hb, hb2 []float32
	att, logits            []float32
	evaluated              bool
}

var _ model.Session = (*Session)(nil)

// NewSession returns a session with a context of ctx tokens.
func (m *Model) NewSession(ctx int) *Session {
	kvDim := m.headsKV * m.headDim
	return &Session{m: m, ctx: ctx,
		k: make([]float32, m.nLayer*ctx*kvDim), v: make([]float32, m.nLayer*ctx*kvDim),
		x: make([]float32, m.embd), xb: make([]float32, m.embd), xb2: make([]float32, m.embd),
		q: make([]float32, m.embd), hb: make([]float32, m.ffn), hb2: make([]float32, m.ffn),
		att: make([]float32, ctx), logits: make([]float32, m.vocab)}
}

func rmsnorm(out, x, w []float32, eps float32) {
	var ss float32
	for _, v := range x {
		ss += v * v
	}
	s := float32(1 / math.Sqrt(float64(ss/float32(len(x))+eps)))
	for i := range x {
		out[i] = x[i] * s * w[i]
	}
}

// matmul sets out = W x for W with len(out) rows of len(x).
func matmul(out, x, w []float32) {
	n := len(x)
	for r := range out {
		row := w[r*n : (r+1)*n]
		var s float32
		for i, v := range row {
			s += v * x[i]
		}
		out[r] = s
	}
}

// rope rotates adjacent pairs within each head (llama's "normal" RoPE).
func (s *Session) rope(vec []float32, pos int) {
	hd := s.m.headDim
	for i := 0; i < len(vec); i += 2 {
		j := i % hd
		theta := float64(pos) * math.Pow(float64(s.m.ropeBase), -float64(j)/float64(hd))
		c, sn := float32(math.Cos(theta)), float32(math.Sin(theta))
		a, b := vec[i], vec[i+1]
		vec[i], vec[i+1] = a*c-b*sn, a*sn+b*c
	}
}

// forward runs one token at pos through the layers, leaving the residual
// stream in s.x and storing the token's keys and values.
func (s *Session) forward(tok int32, pos int) {
	m := s.m
	kvDim := m.headsKV * m.headDim
	copy(s.x, m.tokEmbd[int(tok)*m.embd:(int(tok)+1)*m.embd])
	scale := float32(1 / math.Sqrt(float64(m.headDim)))
	for l, L := range m.layers {
		rmsnorm(s.xb, s.x, L.attnNorm, m.eps)
		off := (l*s.ctx + pos) * kvDim
		k, v := s.k[off:off+kvDim], s.v[off:off+kvDim]
		matmul(s.q, s.xb, L.wq)
		matmul(k, s.xb, L.wk)
		matmul(v, s.xb, L.wv)
		s.rope(s.q, pos)
		s.rope(k, pos)
		for h := range m.heads {
			q := s.q[h*m.headDim : (h+1)*m.headDim]
			kh := h / (m.heads / m.headsKV) * m.headDim
			att := s.att[:pos+1]
			top := float32(math.Inf(-1))
			for t := range att {
				kt := s.k[(l*s.ctx+t)*kvDim+kh:]
				var d float32
				for i, qv := range q {
					d += qv * kt[i]
				}
				att[t] = d * scale
				top = max(top, att[t])
			}
			var sum float32
			for t := range att {
				att[t] = float32(math.Exp(float64(att[t] - top)))
				sum += att[t]
			}
			out := s.xb[h*m.headDim : (h+1)*m.headDim]
			clear(out)
			for t, a := range att {
				vt := s.v[(l*s.ctx+t)*kvDim+kh:]
				for i := range out {
					out[i] += a / sum * vt[i]
				}
			}
		}
		matmul(s.xb2, s.xb, L.wo)
		for i := range s.x {
			s.x[i] += s.xb2[i]
		}
		rmsnorm(s.xb, s.x, L.ffnNorm, m.eps)
		matmul(s.hb, s.xb, L.w1)
		matmul(s.hb2, s.xb, L.w3)
		for i, g := range s.hb {
			s.hb[i] = g / (1 + float32(math.Exp(float64(-g)))) * s.hb2[i]
		}
		matmul(s.xb2, s.hb, L.w2)
		for i := range s.x {
			s.x[i] += s.xb2[i]
		}
	}
}

// Eval implements model.Session.
func (s *Session) Eval(tokens []int32, pos int) error {
	if pos < 0 || pos+len(tokens) > s.ctx {
		return fmt.Errorf("enginetest: eval %d tokens at %d of %d: %w", len(tokens), pos, s.ctx, model.ErrContextFull)
	}
	for i, t := range tokens {
		if t < 0 || int(t) >= s.m.vocab {
			return fmt.Errorf("enginetest: token %d outside the vocabulary of %d", t, s.m.vocab)
		}
		s.forward(t, pos+i)
	}
	if len(tokens) > 0 {
		rmsnorm(s.xb, s.x, s.m.outNorm, s.m.eps)
		matmul(s.logits, s.xb, s.m.output)
		s.evaluated = true
	}
	return nil
}

// Logits implements model.Session.
func (s *Session) Logits() ([]float32, error) {
	if !s.evaluated {
		return nil, fmt.Errorf("enginetest: logits before any Eval")
	}
	return s.logits, nil
}

// Sample implements model.Session.
func (s *Session) Sample(smp *sampling.Sampler) (int32, error) {
	l, err := s.Logits()
	if err != nil {
		return 0, err
	}
	return smp.Sample(l), nil
}

// ContextSize implements model.Session.
func (s *Session) ContextSize() int { return s.ctx }

// Close implements model.Session.
func (s *Session) Close() error { return nil }
