package bert

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/vkinfer/vkinfer/kernels"
	"github.com/vkinfer/vkinfer/quant"
)

// parallelFor splits [0, n) into contiguous ranges, at least minChunk long,
// and runs fn on them on up to GOMAXPROCS goroutines.
func parallelFor(n, minChunk int, fn func(lo, hi int)) {
	workers := min(runtime.GOMAXPROCS(0), max(1, n/minChunk))
	if workers <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := n*w/workers, n*(w+1)/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(lo, hi)
		}()
	}
	wg.Wait()
}

// matVecs hold kernel scratch; a Model serves concurrent callers, each
// taking its own.
var matVecs = sync.Pool{New: func() any { return &batchMatVec{} }}

// batchMatVec is a MatVec with room for the row views of a batch.
type batchMatVec struct {
	kernels.MatVec
	xs, ys [][]float32
}

// matmul computes out = x·Wᵀ + bias for n activation rows: x is n×in,
// w has Dims {in, outDim}, out is n×outDim. Each row is a matrix-vector
// product on package kernels (integer dots against 8-bit activations for
// quantized weights, as llama.cpp computes them), so a sequence gives the
// same result alone or in a batch.
func matmul(out, x []float32, n int, w *Tensor, bias []float32) error {
	in, outDim := w.Cols(), w.Rows()
	mv := matVecs.Get().(*batchMatVec)
	defer matVecs.Put(mv)
	mv.xs, mv.ys = mv.xs[:0], mv.ys[:0]
	for t := range n {
		mv.xs = append(mv.xs, x[t*in:(t+1)*in])
		mv.ys = append(mv.ys, out[t*outDim:(t+1)*outDim])
	}
	if err := mv.DoBatch(w.Type, w.Data, outDim, in, mv.xs, mv.ys); err != nil {
		return fmt.Errorf("bert: tensor %q: %w", w.Name, err)
	}
	for _, ot := range mv.ys {
		for r := range ot {
			ot[r] += bias[r]
		}
	}
	return nil
}

// layerNorm normalises each row of x (rows of len(nv.w)) to zero mean and
// unit variance, then scales by w and shifts by b, in place.
func layerNorm(x []float32, nv normVecs, eps float32) {
	d := len(nv.w)
	for off := 0; off < len(x); off += d {
		row := x[off : off+d]
		var sum float64
		for _, v := range row {
			sum += float64(v)
		}
		mean := sum / float64(d)
		var sq float64
		for _, v := range row {
			dv := float64(v) - mean
			sq += dv * dv
		}
		inv := 1 / math.Sqrt(sq/float64(d)+float64(eps))
		for i, v := range row {
			row[i] = float32((float64(v)-mean)*inv)*nv.w[i] + nv.b[i]
		}
	}
}

// gelu applies GELU in place as llama.cpp's CPU backend computes it for
// BERT: the tanh approximation, looked up in a table of every f16 input
// (rounded to f16 on the way out), with the tails (|x| >= 10) exact. The
// lookup is also an order of magnitude faster than math.Tanh.
func gelu(x []float32) {
	table := geluTable()
	parallelFor(len(x), 1<<14, func(lo, hi int) {
		for i, v := range x[lo:hi] {
			switch {
			case v <= -10:
				x[lo+i] = 0
			case v >= 10:
			default:
				x[lo+i] = quant.F16ToF32(table[quant.F32ToF16(v)])
			}
		}
	})
}

var (
	geluOnce sync.Once
	geluTab  *[1 << 16]uint16
)

// geluTable returns GELU of every f16 value, as f16.
func geluTable() *[1 << 16]uint16 {
	geluOnce.Do(func() {
		const sqrt2OverPi = 0.7978845608028654
		const coef = 0.044715
		t := new([1 << 16]uint16)
		for i := range t {
			f := float64(quant.F16ToF32(uint16(i)))
			t[i] = quant.F32ToF16(float32(0.5 * f * (1 + math.Tanh(sqrt2OverPi*f*(1+coef*f*f)))))
		}
		geluTab = t
	})
	return geluTab
}

// softmax turns x into probabilities in place.
func softmax(x []float32) {
	mx := x[0]
	for _, v := range x[1:] {
		mx = max(mx, v)
	}
	var sum float64
	for i, v := range x {
		e := math.Exp(float64(v - mx))
		x[i] = float32(e)
		sum += e
	}
	inv := float32(1 / sum)
	for i := range x {
		x[i] *= inv
	}
}

// add sets dst[i] += src[i].
func add(dst, src []float32) {
	src = src[:len(dst)]
	for i := range dst {
		dst[i] += src[i]
	}
}

// normalize scales v to unit L2 norm; a zero vector stays zero.
func normalize(v []float32) {
	var sq float64
	for _, x := range v {
		sq += float64(x) * float64(x)
	}
	if sq == 0 {
		return
	}
	inv := float32(1 / math.Sqrt(sq))
	for i := range v {
		v[i] *= inv
	}
}
