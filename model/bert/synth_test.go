package bert

import (
	"encoding/binary"
	"fmt"
	"github.com/vkinfer/vkinfer/quant"
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/vkinfer/vkinfer/gguf"
)

// synth is a small all-F32 BERT model built in memory, so the graph
// and the loader's checks can be tested without quantized types. Tests
// change its fields to make broken models.
type synth struct {
	meta    map[string]any // uint32, float32, bool or string values
	tensors map[string]synthTensor
}

type synthTensor struct {
	dims []int
	data []float32
}

const (
	synthEmbd   = 8
	synthHeads  = 2
	synthFFN    = 16
	synthBlocks = 2
	synthCtx    = 12
	synthVocab  = 30
	synthSep    = 2
)

func newSynth(seed uint64) *synth {
	r := rand.New(rand.NewPCG(seed, 7))
	s := &synth{
		meta: map[string]any{
			"general.architecture":              "bert",
			"bert.block_count":                  uint32(synthBlocks),
			"bert.embedding_length":             uint32(synthEmbd),
			"bert.feed_forward_length":          uint32(synthFFN),
			"bert.attention.head_count":         uint32(synthHeads),
			"bert.context_length":               uint32(synthCtx),
			"bert.attention.layer_norm_epsilon": float32(1e-12),
			"bert.pooling_type":                 uint32(PoolingMean),
			"bert.attention.causal":             false,
			"tokenizer.ggml.seperator_token_id": uint32(synthSep),
		},
		tensors: map[string]synthTensor{},
	}
	add := func(name string, scale float64, dims ...int) {
		n := 1
		for _, d := range dims {
			n *= d
		}
		data := make([]float32, n)
		for i := range data {
			data[i] = float32(r.NormFloat64() * scale)
		}
		s.tensors[name] = synthTensor{dims, data}
	}
	norm := func(name string, dim int) {
		add(name+".weight", 0.1, dim)
		for i := range s.tensors[name+".weight"].data {
			s.tensors[name+".weight"].data[i] += 1
		}
		add(name+".bias", 0.1, dim)
	}
	e, f := synthEmbd, synthFFN
	add("token_embd.weight", 1, e, synthVocab)
	add("position_embd.weight", 0.5, e, synthCtx)
	add("token_types.weight", 0.5, e, 2)
	norm("token_embd_norm", e)
	for i := range synthBlocks {
		p := fmt.Sprintf("blk.%d.", i)
		for _, w := range []string{"attn_q", "attn_k", "attn_v", "attn_output"} {
			add(p+w+".weight", 0.5, e, e)
			add(p+w+".bias", 0.1, e)
		}
		norm(p+"attn_output_norm", e)
		add(p+"ffn_up.weight", 0.5, e, f)
		add(p+"ffn_up.bias", 0.1, f)
		add(p+"ffn_down.weight", 0.3, f, e)
		add(p+"ffn_down.bias", 0.1, e)
		norm(p+"layer_output_norm", e)
	}
	return s
}

// file encodes s as GGUF v3 and parses it.
func (s *synth) file(t testing.TB) *gguf.File {
	t.Helper()
	var b []byte
	u32 := func(v uint32) { b = binary.LittleEndian.AppendUint32(b, v) }
	u64 := func(v uint64) { b = binary.LittleEndian.AppendUint64(b, v) }
	str := func(v string) { u64(uint64(len(v))); b = append(b, v...) }

	keys := make([]string, 0, len(s.meta))
	for k := range s.meta {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	names := make([]string, 0, len(s.tensors))
	for n := range s.tensors {
		names = append(names, n)
	}
	sort.Strings(names)

	u32(0x46554747)
	u32(3)
	u64(uint64(len(names)))
	u64(uint64(len(keys)))
	for _, k := range keys {
		str(k)
		switch v := s.meta[k].(type) {
		case uint32:
			u32(uint32(gguf.ValueUint32))
			u32(v)
		case float32:
			u32(uint32(gguf.ValueFloat32))
			u32(math.Float32bits(v))
		case bool:
			u32(uint32(gguf.ValueBool))
			if v {
				b = append(b, 1)
			} else {
				b = append(b, 0)
			}
		case string:
			u32(uint32(gguf.ValueString))
			str(v)
		default:
			t.Fatalf("synth: metadata %q of type %T", k, v)
		}
	}
	var off uint64
	for _, n := range names {
		ts := s.tensors[n]
		str(n)
		u32(uint32(len(ts.dims)))
		for _, d := range ts.dims {
			u64(uint64(d))
		}
		u32(uint32(gguf.TypeF32))
		u64(off)
		off += uint64(len(ts.data)*4+31) &^ 31
	}
	for len(b)%32 != 0 {
		b = append(b, 0)
	}
	for _, n := range names {
		for _, v := range s.tensors[n].data {
			u32(math.Float32bits(v))
		}
		for len(b)%32 != 0 {
			b = append(b, 0)
		}
	}
	f, err := gguf.Parse("synth.gguf", b)
	if err != nil {
		t.Fatalf("synth: parse: %v", err)
	}
	return f
}

func (s *synth) load(t testing.TB) *Model {
	t.Helper()
	m, err := Load(s.file(t))
	if err != nil {
		t.Fatalf("Load(synth): %v", err)
	}
	return m
}

// referenceHidden is an independent float64 forward of one sequence of the
// synthetic model, written straight from the BERT definition: it returns
// the final hidden states, one row per token.
func (s *synth) referenceHidden(ids []int32, causal bool) [][]float64 {
	e, hd := synthEmbd, synthEmbd/synthHeads
	w := func(name string) []float32 { return s.tensors[name].data }
	row := func(name string, i, n int) []float64 {
		out := make([]float64, n)
		for j := range n {
			out[j] = float64(w(name)[i*n+j])
		}
		return out
	}
	linear := func(x []float64, name string, in, out int) []float64 {
		y := make([]float64, out)
		for o := range out {
			y[o] = float64(w(name + ".bias")[o])
			for i := range in {
				y[o] += float64(w(name + ".weight")[o*in+i]) * x[i]
			}
		}
		return y
	}
	ln := func(x []float64, name string) []float64 {
		var mean, v float64
		for _, a := range x {
			mean += a
		}
		mean /= float64(len(x))
		for _, a := range x {
			v += (a - mean) * (a - mean)
		}
		v /= float64(len(x))
		y := make([]float64, len(x))
		for i, a := range x {
			y[i] = (a-mean)/math.Sqrt(v+1e-12)*float64(w(name + ".weight")[i]) + float64(w(name + ".bias")[i])
		}
		return y
	}
	n := len(ids)
	x := make([][]float64, n)
	for p, id := range ids {
		te, pe, ty := row("token_embd.weight", int(id), e), row("position_embd.weight", p, e), row("token_types.weight", 0, e)
		for i := range te {
			te[i] += pe[i] + ty[i]
		}
		x[p] = ln(te, "token_embd_norm")
	}
	for l := range synthBlocks {
		p := fmt.Sprintf("blk.%d.", l)
		q, k, v := make([][]float64, n), make([][]float64, n), make([][]float64, n)
		for t := range n {
			q[t], k[t], v[t] = linear(x[t], p+"attn_q", e, e), linear(x[t], p+"attn_k", e, e), linear(x[t], p+"attn_v", e, e)
		}
		for t := range n {
			ctx := make([]float64, e)
			for h := range synthHeads {
				last := n
				if causal {
					last = t + 1
				}
				sc := make([]float64, last)
				mx := math.Inf(-1)
				for j := range last {
					for d := h * hd; d < (h+1)*hd; d++ {
						sc[j] += q[t][d] * k[j][d]
					}
					sc[j] /= math.Sqrt(float64(hd))
					mx = math.Max(mx, sc[j])
				}
				var sum float64
				for j := range sc {
					sc[j] = math.Exp(sc[j] - mx)
					sum += sc[j]
				}
				for j := range sc {
					for d := h * hd; d < (h+1)*hd; d++ {
						ctx[d] += sc[j] / sum * v[j][d]
					}
				}
			}
			o := linear(ctx, p+"attn_output", e, e)
			for i := range o {
				o[i] += x[t][i]
			}
			a := ln(o, p+"attn_output_norm")
			u := linear(a, p+"ffn_up", e, synthFFN)
			for i, z := range u {
				// GELU as llama.cpp's CPU backend defines it: the tanh form
				// of the input rounded to f16, rounded to f16.
				switch {
				case z <= -10:
					u[i] = 0
				case z >= 10:
				default:
					h := float64(quant.F16ToF32(quant.F32ToF16(float32(z))))
					u[i] = float64(quant.F16ToF32(quant.F32ToF16(float32(0.5 * h * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(h+0.044715*h*h*h)))))))
				}
			}
			d := linear(u, p+"ffn_down", synthFFN, e)
			for i := range d {
				d[i] += a[i]
			}
			x[t] = ln(d, p+"layer_output_norm")
		}
	}
	return x
}
