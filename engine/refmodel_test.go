package engine

// A minimal llama forward pass and SentencePiece tokenizer over a GGUF
// file, for tests and benchmarks on the real stories260K model while
// model/llama and model/tokenizer are not yet in the tree. Checked against
// llama.cpp's reference ids below.

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/vkinfer/vkinfer/internal/testmodels"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/model/gguf"
	"github.com/vkinfer/vkinfer/model/quant"
	"github.com/vkinfer/vkinfer/model/sampling"
)

type refLayer struct {
	attnNorm, ffnNorm          []float32
	wq, wk, wv, wo, w1, w2, w3 []float32
}

type refModel struct {
	nLayer, embd, heads, headsKV, headDim, ffn, vocab, ctx int
	eps, ropeBase                                          float32
	tokEmbd, outNorm, output                               []float32
	layers                                                 []refLayer
	tok                                                    *refTokenizer
}

func loadRefModel(t testing.TB, path string) *refModel {
	t.Helper()
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := func(key string) int {
		v, err := f.Uint("llama." + key)
		if err != nil {
			t.Fatal(err)
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
			t.Fatal(err)
		}
		out := make([]float32, ti.Elements())
		if err := quant.Dequantize(ti.Type, f.TensorData(ti), out); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return out
	}
	m := &refModel{nLayer: u("block_count"), embd: u("embedding_length"), heads: u("attention.head_count"),
		headsKV: u("attention.head_count_kv"), ffn: u("feed_forward_length"), ctx: u("context_length"),
		eps: fl("attention.layer_norm_rms_epsilon", 1e-5), ropeBase: fl("rope.freq_base", 10000)}
	m.headDim = m.embd / m.heads
	m.tokEmbd, m.outNorm = tensor("token_embd.weight"), tensor("output_norm.weight")
	if _, err := f.Tensor("output.weight"); err == nil {
		m.output = tensor("output.weight")
	} else {
		m.output = m.tokEmbd
	}
	m.vocab = len(m.output) / m.embd
	for l := range m.nLayer {
		p := fmt.Sprintf("blk.%d.", l)
		m.layers = append(m.layers, refLayer{
			attnNorm: tensor(p + "attn_norm.weight"), ffnNorm: tensor(p + "ffn_norm.weight"),
			wq: tensor(p + "attn_q.weight"), wk: tensor(p + "attn_k.weight"), wv: tensor(p + "attn_v.weight"),
			wo: tensor(p + "attn_output.weight"), w1: tensor(p + "ffn_gate.weight"),
			w2: tensor(p + "ffn_down.weight"), w3: tensor(p + "ffn_up.weight")})
	}
	tokens, err := gguf.ArrayOf[string](f, "tokenizer.ggml.tokens")
	if err != nil {
		t.Fatal(err)
	}
	scores, err := gguf.ArrayOf[float32](f, "tokenizer.ggml.scores")
	if err != nil {
		t.Fatal(err)
	}
	m.tok = newRefTokenizer(tokens, scores)
	return m
}

// refSession implements model.Session with an f32 KV cache.
type refSession struct {
	m                      *refModel
	ctx                    int
	k, v                   []float32 // [layer][pos][kvDim]
	x, xb, xb2, q, hb, hb2 []float32
	att, logits            []float32
}

func (m *refModel) newSession(ctx int) *refSession {
	kvDim := m.headsKV * m.headDim
	return &refSession{m: m, ctx: ctx,
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

// rope rotates adjacent pairs of each head (llama's "normal" RoPE).
func (s *refSession) rope(vec []float32, pos int) {
	hd := s.m.headDim
	for i := 0; i < len(vec); i += 2 {
		j := i % hd
		theta := float64(pos) * math.Pow(float64(s.m.ropeBase), -float64(j)/float64(hd))
		c, sn := float32(math.Cos(theta)), float32(math.Sin(theta))
		a, b := vec[i], vec[i+1]
		vec[i], vec[i+1] = a*c-b*sn, a*sn+b*c
	}
}

func (s *refSession) forward(tok int32, pos int) {
	m := s.m
	kvDim := m.headsKV * m.headDim
	copy(s.x, m.tokEmbd[int(tok)*m.embd:(int(tok)+1)*m.embd])
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
			maxv := float32(math.Inf(-1))
			for t := range att {
				kt := s.k[(l*s.ctx+t)*kvDim+kh:]
				var d float32
				for i, qv := range q {
					d += qv * kt[i]
				}
				att[t] = d / float32(math.Sqrt(float64(m.headDim)))
				maxv = max(maxv, att[t])
			}
			var sum float32
			for t := range att {
				att[t] = float32(math.Exp(float64(att[t] - maxv)))
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

func (s *refSession) Eval(tokens []int32, pos int) error {
	if pos < 0 || pos+len(tokens) > s.ctx {
		return fmt.Errorf("ref: eval %d tokens at %d of %d: %w", len(tokens), pos, s.ctx, model.ErrContextFull)
	}
	for i, t := range tokens {
		s.forward(t, pos+i)
	}
	rmsnorm(s.xb, s.x, s.m.outNorm, s.m.eps)
	matmul(s.logits, s.xb, s.m.output)
	return nil
}

func (s *refSession) Logits() ([]float32, error) { return s.logits, nil }
func (s *refSession) Sample(smp *sampling.Sampler) (int32, error) {
	return smp.Sample(s.logits), nil
}
func (s *refSession) ContextSize() int { return s.ctx }
func (s *refSession) Close() error     { return nil }

// refTokenizer is SentencePiece BPE over the GGUF vocabulary: a space
// prefix, spaces as U+2581, greedy merging of the best-scored adjacent
// pair, byte tokens <0xXX> for what the vocabulary lacks.
type refTokenizer struct {
	tokens []string
	pieces [][]byte // decoded bytes of each token
	scores []float32
	ids    map[string]int32
}

func newRefTokenizer(tokens []string, scores []float32) *refTokenizer {
	t := &refTokenizer{tokens: tokens, scores: scores, ids: make(map[string]int32, len(tokens))}
	for i, s := range tokens {
		t.ids[s] = int32(i)
		var b byte
		if n, _ := fmt.Sscanf(s, "<0x%02X>", &b); n == 1 && len(s) == 6 {
			t.pieces = append(t.pieces, []byte{b})
		} else {
			t.pieces = append(t.pieces, []byte(strings.ReplaceAll(s, "\u2581", " ")))
		}
	}
	return t
}

func (t *refTokenizer) Encode(text string, addSpecial, _ bool) ([]int32, error) {
	var out []int32
	if addSpecial {
		out = append(out, 1)
	}
	if text == "" {
		return out, nil
	}
	text = "\u2581" + strings.ReplaceAll(text, " ", "\u2581")
	var syms []string
	for _, r := range text {
		syms = append(syms, string(r))
	}
	for {
		best, bestScore := -1, float32(math.Inf(-1))
		for i := 0; i+1 < len(syms); i++ {
			if id, ok := t.ids[syms[i]+syms[i+1]]; ok && t.scores[id] > bestScore {
				best, bestScore = i, t.scores[id]
			}
		}
		if best < 0 {
			break
		}
		syms[best] += syms[best+1]
		syms = append(syms[:best+1], syms[best+2:]...)
	}
	for _, s := range syms {
		if id, ok := t.ids[s]; ok {
			out = append(out, id)
			continue
		}
		for i := 0; i < len(s); i++ {
			out = append(out, t.ids[fmt.Sprintf("<0x%02X>", s[i])])
		}
	}
	return out, nil
}

func (t *refTokenizer) IsEOG(id int32) bool { return id == 2 }
func (t *refTokenizer) NewDecoder() Decoder { return &refDecoder{t: t} }

type refDecoder struct {
	t   *refTokenizer
	buf []byte
}

func (d *refDecoder) Decode(id int32) string {
	if id < 3 { // unknown, BOS, EOS
		return ""
	}
	d.buf = append(d.buf, d.t.pieces[id]...)
	n := len(d.buf)
	for k := 1; k <= 3 && k <= len(d.buf); k++ {
		if utf8.RuneStart(d.buf[len(d.buf)-k]) {
			if !utf8.FullRune(d.buf[len(d.buf)-k:]) {
				n = len(d.buf) - k
			}
			break
		}
	}
	out := string(d.buf[:n])
	d.buf = append(d.buf[:0], d.buf[n:]...)
	return out
}

func (d *refDecoder) Flush() string {
	out := string(d.buf)
	d.buf = d.buf[:0]
	return out
}

func stories(t testing.TB) *refModel {
	return loadRefModel(t, testmodels.Model(t, "llama/stories260K.gguf"))
}
