package llama

import (
	"errors"
	"fmt"
	"math"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/kernels"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/sampling"
)

// RefSession is the reference forward pass: f32 activations, weights
// dequantized row by row as they are used. It reads top to bottom like
// llama2.c's run.c and is the oracle that tests hold the graph (Build)
// and its executors to. It is not a production path: models are served
// by package runner. It shares none of the graph's code and runs the
// kernels' portable Go loops, never their SIMD, so that a bug in those
// cannot hide in it.
//
// Where llama.cpp's CPU backend rounds values, this does the same, so
// greedy decoding reproduces llama.cpp's token ids: activations go to
// bf16 before a BF16 dot (F16 weights take them unrounded, as llamafile's
// GEMM does), and keys, values and queries to f16, as its f16 KV cache
// holds them and its f16 attention product converts the queries. Sums
// are float64.
type RefSession struct {
	m   *Model
	ctx int

	keys, values []float32 // [layer][position][KVDim]
	logits       []float32
	evaluated    bool

	row    []float32 // one dequantized weight row
	half   []float32 // activations rounded for F16/BF16 weights
	scores []float32 // one head's attention scores
	acts   batch

	// vecs caches norm weights and biases as f32.
	vecs map[*model.Tensor][]float32

	ropeFreq  []float64    // rotation frequency per rotated pair
	ropeCS    []float32    // (cos, sin) per position and rotated pair
	logitsRow [1][]float32 // the output row as a batch of one, without allocating
}

// portable selects the kernels' plain Go loops, never their SIMD: the
// oracle must not share the code it checks.
const portable = true

// vec returns a small weight (norm, bias) as f32, converted once.
func (s *RefSession) vec(t *model.Tensor) ([]float32, error) {
	if v, ok := s.vecs[t]; ok {
		return v, nil
	}
	v, err := t.Float32()
	if err != nil {
		return nil, err
	}
	if s.vecs == nil {
		s.vecs = map[*model.Tensor][]float32{}
	}
	s.vecs[t] = v
	return v, nil
}

// batch holds the activations of the tokens of one Eval, one row each.
type batch struct {
	n                   int
	x, xb, q, k, v, att [][]float32
	gate, up, tmp       [][]float32
}

// NewReferenceSession returns a reference session (for tests; see
// RefSession) with room for ctx positions; ctx <= 0 means the model's
// trained context length.
func (m *Model) NewReferenceSession(ctx int) (*RefSession, error) {
	c := m.Config
	if c.Experts > 0 {
		return nil, fmt.Errorf("llama: %w: the reference session has no mixture of experts (run the graph)", model.ErrUnsupported)
	}
	if ctx <= 0 {
		ctx = c.ContextLength
	}
	cache := int64(c.Layers) * int64(ctx) * int64(c.KVDim())
	if cache > 1<<34 {
		return nil, fmt.Errorf("llama: a KV cache of %d positions needs %d floats per side, too many", ctx, cache)
	}
	widest := max(c.Dim, c.FFN, c.QDim())
	s := &RefSession{
		m:      m,
		ctx:    ctx,
		keys:   make([]float32, cache),
		values: make([]float32, cache),
		logits: make([]float32, c.VocabSize),
		row:    make([]float32, widest),
		half:   make([]float32, widest),
		scores: make([]float32, ctx),
	}
	s.ropeCS = make([]float32, 0, ctx*c.RopeDim)
	var err error
	if s.ropeFreq, err = m.RopeFrequencies(); err != nil {
		return nil, err
	}
	return s, nil
}

func (a *batch) resize(n int, c Config) {
	if a.n >= n {
		return
	}
	grow := func(width int) [][]float32 {
		out := make([][]float32, n)
		for i := range out {
			out[i] = make([]float32, width)
		}
		return out
	}
	*a = batch{
		n: n, x: grow(c.Dim), xb: grow(c.Dim), q: grow(c.QDim()), k: grow(c.KVDim()), v: grow(c.KVDim()),
		att: grow(c.QDim()), gate: grow(c.FFN), up: grow(c.FFN), tmp: grow(c.Dim),
	}
}

// ContextSize implements model.Session.
func (s *RefSession) ContextSize() int { return s.ctx }

// Close implements model.Session.
func (s *RefSession) Close() error {
	s.keys, s.values, s.acts = nil, nil, batch{}
	return nil
}

// Logits implements model.Session.
func (s *RefSession) Logits() ([]float32, error) {
	if !s.evaluated {
		return nil, errors.New("llama: logits requested before any Eval")
	}
	return s.logits, nil
}

// Sample implements model.Session.
func (s *RefSession) Sample(smp *sampling.Sampler) (int32, error) {
	l, err := s.Logits()
	if err != nil {
		return 0, err
	}
	return smp.Sample(l), nil
}

// Eval implements model.Session: all tokens go through each layer together
// (each weight row is dequantized once per batch), attending causally to
// the cache and to the earlier tokens of the batch.
func (s *RefSession) Eval(tokens []int32, pos int) error {
	c := s.m.Config
	if pos < 0 || pos+len(tokens) > s.ctx {
		return fmt.Errorf("llama: %d tokens at position %d do not fit a context of %d: %w", len(tokens), pos, s.ctx, model.ErrContextFull)
	}
	if len(tokens) == 0 {
		return nil
	}
	s.evaluated = false
	n := len(tokens)
	s.acts.resize(n, c)
	a := &s.acts
	for b, tok := range tokens {
		if tok < 0 || int(tok) >= c.VocabSize {
			return fmt.Errorf("llama: token %d outside the vocabulary of %d", tok, c.VocabSize)
		}
		if err := s.m.TokenEmbd.Row(int(tok), a.x[b]); err != nil {
			return err
		}
	}
	for l := range s.m.Layers {
		if err := s.layer(l, pos, n); err != nil {
			return fmt.Errorf("llama: block %d: %w", l, err)
		}
	}
	last := a.x[n-1 : n]
	if err := s.rmsNorm(a.xb[:1], last, &s.m.OutputNorm, c.NormEps); err != nil {
		return err
	}
	s.logitsRow[0] = s.logits
	if err := s.matmul(s.logitsRow[:], a.xb[:1], &s.m.Output); err != nil {
		return err
	}
	s.evaluated = true
	return nil
}

func (s *RefSession) layer(l, pos, n int) error {
	c, L, a := s.m.Config, &s.m.Layers[l], &s.acts
	kvDim, hd := c.KVDim(), c.HeadDim

	// Attention: project, normalise and rotate, store keys and values.
	if err := s.rmsNorm(a.xb[:n], a.x[:n], &L.AttnNorm, c.NormEps); err != nil {
		return err
	}
	for _, p := range []struct {
		out  [][]float32
		w, b *model.Tensor
	}{{a.q, &L.Wq, &L.Bq}, {a.k, &L.Wk, &L.Bk}, {a.v, &L.Wv, &L.Bv}} {
		if err := s.matmul(p.out[:n], a.xb[:n], p.w); err != nil {
			return err
		}
		if err := s.addBias(p.out[:n], p.b); err != nil {
			return err
		}
	}
	for b := range n {
		if err := s.headNorm(a.q[b], &L.QNorm, hd, c.NormEps); err != nil {
			return err
		}
		if err := s.headNorm(a.k[b], &L.KNorm, hd, c.NormEps); err != nil {
			return err
		}
		s.rope(a.q[b], pos+b)
		s.rope(a.k[b], pos+b)
		off := (l*s.ctx + pos + b) * kvDim
		kernels.RoundF16(a.k[b], s.keys[off:off+kvDim], portable)
		kernels.RoundF16(a.v[b], s.values[off:off+kvDim], portable)
		kernels.RoundF16(a.q[b], a.q[b], portable)
	}

	// Each query head attends to positions 0..its own (scores against the
	// cached keys, softmax, weighted sum of values); heads share kv heads
	// in groups (GQA).
	scale := float32(1 / math.Sqrt(float64(hd)))
	group := c.Heads / c.KVHeads
	for b := range n {
		for h := range c.Heads {
			base := l*s.ctx*kvDim + h/group*hd
			kernels.Attend(a.att[b][h*hd:(h+1)*hd], a.q[b][h*hd:(h+1)*hd], s.keys[base:], s.values[base:], kvDim, scale, s.scores[:pos+b+1], portable)
		}
	}
	if err := s.matmul(a.tmp[:n], a.att[:n], &L.Wo); err != nil {
		return err
	}
	s.addRows(a.x[:n], a.tmp[:n])

	// Feed-forward: SiLU(gate) * up, then down.
	if err := s.rmsNorm(a.xb[:n], a.x[:n], &L.FFNNorm, c.NormEps); err != nil {
		return err
	}
	if err := s.matmul(a.gate[:n], a.xb[:n], &L.Gate); err != nil {
		return err
	}
	if err := s.matmul(a.up[:n], a.xb[:n], &L.Up); err != nil {
		return err
	}
	for b := range n {
		kernels.SiLUMul(a.gate[b], a.up[b], portable)
	}
	if err := s.matmul(a.tmp[:n], a.gate[:n], &L.Down); err != nil {
		return err
	}
	s.addRows(a.x[:n], a.tmp[:n])
	return nil
}

// matmul sets out[b] = W in[b] for each row b, dequantizing each weight row
// once for the whole batch.
func (s *RefSession) matmul(out, in [][]float32, w *model.Tensor) error {
	cols := w.Cols()
	row := s.row[:cols]
	rounded := roundingFor(w.Type)
	for r := range w.Rows() {
		if err := w.Row(r, row); err != nil {
			return err
		}
		for b := range in {
			x := in[b][:cols]
			if rounded == nil {
				var sum float32
				for i, wv := range row {
					sum += wv * x[i]
				}
				out[b][r] = sum
				continue
			}
			h := s.half[:cols]
			for i, xv := range x {
				h[i] = rounded(xv)
			}
			var sum float64
			for i, wv := range row {
				sum += float64(wv * h[i])
			}
			out[b][r] = float32(sum)
		}
	}
	return nil
}

// roundingFor returns how llama.cpp's CPU backend rounds activations for a
// dot product with weights of type t, or nil when it keeps them in f32.
func roundingFor(t gguf.Type) func(float32) float32 {
	if t == gguf.TypeBF16 {
		return roundBF16
	}
	return nil
}

// roundBF16 rounds to bfloat16 (nearest even), as ggml does.
func roundBF16(x float32) float32 {
	b := math.Float32bits(x)
	if b&0x7fffffff > 0x7f800000 { // NaN stays NaN
		return x
	}
	b += 0x7fff + (b>>16)&1
	return math.Float32frombits(b &^ 0xffff)
}

// rmsNorm sets out[b] = in[b] / rms(in[b]) * w.
func (s *RefSession) rmsNorm(out, in [][]float32, w *model.Tensor, eps float32) error {
	weights, err := s.vec(w)
	if err != nil {
		return err
	}
	for b := range in {
		kernels.RMSNorm(out[b], in[b], weights, eps, portable)
	}
	return nil
}

// headNorm RMS-normalises each head of x in place (qwen3's q/k norm); a
// zero Tensor leaves x alone.
func (s *RefSession) headNorm(x []float32, w *model.Tensor, hd int, eps float32) error {
	if !w.Present() {
		return nil
	}
	weights, err := s.vec(w)
	if err != nil {
		return err
	}
	for h := 0; h < len(x); h += hd {
		kernels.RMSNorm(x[h:h+hd], x[h:h+hd], weights, eps, portable)
	}
	return nil
}

func (s *RefSession) addBias(rows [][]float32, bias *model.Tensor) error {
	if !bias.Present() {
		return nil
	}
	b, err := s.vec(bias)
	if err != nil {
		return err
	}
	for _, r := range rows {
		for i := range r {
			r[i] += b[i]
		}
	}
	return nil
}

// addRows sets dst[b] += src[b] for each row b.
func (s *RefSession) addRows(dst, src [][]float32) {
	for b := range dst {
		kernels.Add(dst[b], src[b], portable)
	}
}

// rope rotates the first RopeDim dimensions of every head of x for
// position pos: adjacent pairs (normal) or pairs half a rotation apart
// (NeoX), pair i by the angle pos·(its frequency, Model.RopeFrequencies). The
// cosines and sines of a position are computed once per session.
func (s *RefSession) rope(x []float32, pos int) {
	c := s.m.Config
	kernels.Rope(x, s.ropeAngles(pos), c.HeadDim, c.Rope == RopeNeoX, portable)
}

// ropeAngles returns the (cos, sin) pairs of position pos, filling the
// session's table up to pos on first use.
func (s *RefSession) ropeAngles(pos int) []float32 {
	c := s.m.Config
	half := c.RopeDim / 2
	for p := len(s.ropeCS) / c.RopeDim; p <= pos; p++ {
		for i := range half {
			theta := float64(p) * s.ropeFreq[i]
			s.ropeCS = append(s.ropeCS, float32(math.Cos(theta)), float32(math.Sin(theta)))
		}
	}
	return s.ropeCS[pos*c.RopeDim : (pos+1)*c.RopeDim]
}
