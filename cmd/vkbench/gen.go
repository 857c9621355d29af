package main

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/quant"
)

// shape is a benchmark model's architecture.
type shape struct {
	name                        string
	dim, layers, heads, kvHeads int
	ffn, ctx                    int
}

var shapes = []shape{
	{"bench-15m", 288, 6, 6, 6, 768, 2048},    // the stories15M shape
	{"bench-1b", 2048, 22, 32, 4, 5632, 2048}, // the TinyLlama-1.1B shape
}

// mix is a quantization recipe: the type of each tensor by role.
type mix struct {
	name                 string
	def, output, ffnDown gguf.Type
}

var mixes = []mix{
	{"Q8_0", gguf.TypeQ8_0, gguf.TypeQ8_0, gguf.TypeQ8_0},
	{"Q4_0", gguf.TypeQ4_0, gguf.TypeQ4_0, gguf.TypeQ4_0},
	{"Q4_K_M", gguf.TypeQ4_K, gguf.TypeQ6_K, gguf.TypeQ6_K}, // as llama.cpp's Q4_K_M keeps output and ffn_down in Q6_K
}

// generate writes every shape × mix into dir, with the tokenizer of the
// vocabulary file vocab (the real Llama-2 SentencePiece vocabulary).
func generate(dir, vocab string, only string) error {
	vf, err := gguf.Open(vocab)
	if err != nil {
		return err
	}
	defer vf.Close()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, sh := range shapes {
		for _, mx := range mixes {
			name := fmt.Sprintf("%s-%s", sh.name, mx.name)
			if only != "" && only != name && only != sh.name {
				continue
			}
			path := filepath.Join(dir, name+".gguf")
			if _, err := os.Stat(path); err == nil {
				fmt.Printf("%s exists\n", path)
				continue
			}
			if err := writeModel(path, sh, mx, vf); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			st, _ := os.Stat(path)
			fmt.Printf("wrote %s (%d MiB)\n", path, st.Size()>>20)
		}
	}
	return nil
}

func writeModel(path string, sh shape, mx mix, vf *gguf.File) error {
	b := gguf.NewBuilder()
	b.SetString("general.architecture", "llama")
	b.SetString("general.name", fmt.Sprintf("vkinfer %s %s (synthetic weights)", sh.name, mx.name))
	b.SetUint32("general.file_type", map[string]uint32{"Q8_0": 7, "Q4_0": 2, "Q4_K_M": 15}[mx.name])
	b.SetUint32("general.quantization_version", 2)
	b.SetUint32("llama.context_length", uint32(sh.ctx))
	b.SetUint32("llama.embedding_length", uint32(sh.dim))
	b.SetUint32("llama.block_count", uint32(sh.layers))
	b.SetUint32("llama.feed_forward_length", uint32(sh.ffn))
	b.SetUint32("llama.rope.dimension_count", uint32(sh.dim/sh.heads))
	b.SetUint32("llama.attention.head_count", uint32(sh.heads))
	b.SetUint32("llama.attention.head_count_kv", uint32(sh.kvHeads))
	b.SetFloat32("llama.attention.layer_norm_rms_epsilon", 1e-5)
	b.SetFloat32("llama.rope.freq_base", 10000)
	vocabSize := 0
	for _, kv := range vf.KV {
		if len(kv.Key) > 10 && kv.Key[:10] == "tokenizer." {
			b.Set(kv.Key, kv.Value)
			if kv.Key == "tokenizer.ggml.tokens" {
				vocabSize = kv.Value.Data.(gguf.Array).Len()
			}
		}
	}
	if vocabSize == 0 {
		return fmt.Errorf("%s has no tokenizer.ggml.tokens", vf.Name)
	}
	kvDim := sh.dim / sh.heads * sh.kvHeads
	seed := uint64(1)
	// Weights: N(0, 1/fan_in) keeps activations near unit scale through
	// the layers; the output projection is scaled up so logits spread over
	// several units and greedy picks are not near-ties.
	add := func(name string, typ gguf.Type, std float32, dims ...int) error {
		seed++
		// Rows that are not whole 256-element super-blocks take the legacy
		// type llama.cpp's quantizer falls back to.
		if typ.BlockSize() == quant.QK_K && dims[0]%quant.QK_K != 0 {
			typ = map[gguf.Type]gguf.Type{gguf.TypeQ4_K: gguf.TypeQ5_0, gguf.TypeQ6_K: gguf.TypeQ8_0}[typ]
		}
		n := 1
		for _, d := range dims {
			n *= d
		}
		data, err := randomTensor(typ, n, std, seed)
		if err != nil {
			return fmt.Errorf("tensor %s: %w", name, err)
		}
		udims := make([]uint64, len(dims))
		for i, d := range dims {
			udims[i] = uint64(d)
		}
		return b.AddTensor(name, typ, udims, data)
	}
	inv := func(n int) float32 { return float32(1 / math.Sqrt(float64(n))) }
	ones := func(name string) error { return add(name, gguf.TypeF32, 0, sh.dim) }
	if err := add("token_embd.weight", mx.def, 1, sh.dim, vocabSize); err != nil {
		return err
	}
	for l := range sh.layers {
		p := fmt.Sprintf("blk.%d.", l)
		for _, t := range []struct {
			name string
			typ  gguf.Type
			std  float32
			dims []int
		}{
			{"attn_q.weight", mx.def, inv(sh.dim), []int{sh.dim, sh.dim}},
			{"attn_k.weight", mx.def, inv(sh.dim), []int{sh.dim, kvDim}},
			{"attn_v.weight", mx.def, inv(sh.dim), []int{sh.dim, kvDim}},
			{"attn_output.weight", mx.def, inv(sh.dim), []int{sh.dim, sh.dim}},
			{"ffn_gate.weight", mx.def, inv(sh.dim), []int{sh.dim, sh.ffn}},
			{"ffn_up.weight", mx.def, inv(sh.dim), []int{sh.dim, sh.ffn}},
			{"ffn_down.weight", mx.ffnDown, inv(sh.ffn), []int{sh.ffn, sh.dim}},
		} {
			if err := add(p+t.name, t.typ, t.std, t.dims...); err != nil {
				return err
			}
		}
		if err := ones(p + "attn_norm.weight"); err != nil {
			return err
		}
		if err := ones(p + "ffn_norm.weight"); err != nil {
			return err
		}
	}
	if err := ones("output_norm.weight"); err != nil {
		return err
	}
	if err := add("output.weight", mx.output, 4*inv(sh.dim), sh.dim, vocabSize); err != nil {
		return err
	}
	return b.WriteFile(path)
}

// randomTensor draws n N(0, std²) values (all 1 when std is 0: norm
// weights) and stores them as typ, quantizing in parallel.
func randomTensor(typ gguf.Type, n int, std float32, seed uint64) ([]byte, error) {
	rowBytes, err := typ.RowBytes(n)
	if err != nil {
		return nil, err
	}
	out := make([]byte, rowBytes)
	const chunk = 1 << 16 // elements per job, a whole number of any block
	workers := runtime.NumCPU()
	var wg sync.WaitGroup
	var firstErr error
	var mu sync.Mutex
	jobs := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]float32, chunk)
			for start := range jobs {
				end := min(n, start+chunk)
				x := buf[:end-start]
				rng := rand.New(rand.NewPCG(seed, uint64(start)))
				for i := range x {
					if std == 0 {
						x[i] = 1
					} else {
						x[i] = float32(rng.NormFloat64()) * std
					}
				}
				var q []byte
				var qerr error
				if typ == gguf.TypeF32 {
					q = make([]byte, 4*len(x))
					for i, v := range x {
						binary.LittleEndian.PutUint32(q[4*i:], math.Float32bits(v))
					}
				} else if q, qerr = quant.Quantize(typ, x); qerr != nil {
					mu.Lock()
					firstErr = qerr
					mu.Unlock()
					continue
				}
				off, _ := typ.RowBytes(start)
				copy(out[off:], q)
			}
		}()
	}
	for start := 0; start < n; start += chunk {
		jobs <- start
	}
	close(jobs)
	wg.Wait()
	return out, firstErr
}
