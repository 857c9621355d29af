package ops

import (
	"fmt"

	"github.com/vkinfer/vkinfer/vk"
)

// Tiles are the matmul shader's tile sizes, its specialization constants:
// a workgroup computes BM rows by BN inputs, each invocation TM rows by TN
// inputs, walking the rows KB sub-blocks of 32 elements at a time.
type Tiles struct {
	BM, BN, TM, TN, KB uint32
}

// WG is the workgroup size the tiles take.
func (t Tiles) WG() uint32 {
	if t.TM == 0 || t.TN == 0 {
		return 0
	}
	return (t.BM / t.TM) * (t.BN / t.TN)
}

// Shared is the shared memory the tiles take (matmul.comp's wt, ws, xt
// and xs arrays).
func (t Tiles) Shared() uint32 {
	return 16*t.KB*8*t.BM + 16*t.KB*t.BM + 16*t.KB*8*t.BN + 8*t.KB*t.BN
}

func (t Tiles) valid() bool {
	return t.TM > 0 && t.TN > 0 && t.KB > 0 && t.BM%t.TM == 0 && t.BN%t.TN == 0 && t.BM >= t.TM && t.BN >= t.TN
}

// TilesFor chooses tiles for a device.
//
// On CPU devices: eight rows and 16 inputs per invocation, a tile of 8
// subgroups' worth of rows by 32 inputs (two SIMD vectors a workgroup).
// On lavapipe, bench-15m's 128-token prompt spent 220–250 ms in its
// products with them (Q4_0), against 420 ms with four rows an invocation
// (Q5_0 and Q6_K: 240 against 340–430 ms; Q8_0: 250 against 350–440; two
// interleaved rounds each); eight rows by 8 inputs took 15–20% more than
// these. Their price is llvmpipe's first compile of the shader, about 4 s
// more a weight type, which Mesa's disk cache keeps. Four rows had taken
// about half matvec's time, and one row or 32 inputs an invocation as
// much as matvec or more.
//
// On GPUs: 128 invocations of 4x4 outputs (untuned: products stay on
// matvec there, see tiled).
//
// BN, then BM, halve until the workgroup fits the device's invocation
// limit, and KB, then the larger of BM and BN, until the tile fits its
// shared memory; where none fits (no usable device is that small) it
// returns the zero Tiles, which turn the matmul shader off.
func TilesFor(info vk.Info) Tiles {
	t := Tiles{BM: 64, BN: 32, TM: 4, TN: 4, KB: 2}
	if sg := info.SubgroupSize; info.Type == vk.CPU && sg > 0 {
		t = Tiles{BM: 8 * sg, BN: 32, TM: 8, TN: 16, KB: 2}
	}
	for t.WG() > info.MaxWorkgroupInvocations {
		switch {
		case t.BN > t.TN:
			t.BN /= 2
		case t.BM > t.TM:
			t.BM /= 2
		default:
			return Tiles{} // no tile fits: products stay on matvec
		}
	}
	for t.Shared() > info.MaxSharedMemory {
		switch {
		case t.KB > 1:
			t.KB /= 2
		case t.BM >= t.BN && t.BM > t.TM:
			t.BM /= 2
		case t.BN > t.TN:
			t.BN /= 2
		case t.BM > t.TM:
			t.BM /= 2
		default:
			return Tiles{}
		}
	}
	return t
}

// TiledFrom is the batch from which the tiles pay: half a tile's inputs.
// A smaller batch spends most of the tile's sums on padding; on lavapipe
// (1024x1024 Q4_0 and Q4_K weights) matvec took two thirds of the tiled
// shader's CPU time for 9 inputs, the same for 16, twice it for 32.
// Tiles that are not valid (TilesFor found none) give 0: off.
func (t Tiles) TiledFrom() int {
	if !t.valid() {
		return 0
	}
	return max(int(t.BN/2), 2)
}

// tiled says whether the product of w with n inputs runs on the matmul
// shader: a batch of TiledFrom or more, rows of whole sub-blocks, and
// matvec summing them in matmul's order (one invocation per row), so that
// the batch does not change a result.
func (k *Kernels) tiled(w *Weight, n int) bool {
	return k.TiledFrom > 0 && n >= k.TiledFrom && w.Cols%32 == 0 && k.shortRows(w.Cols) && k.Tiles.valid()
}

// BindProduct binds y = W x (+ bias) for batches of n inputs: BindMatVec,
// with the matmul shader's sets too where batches of n run tiled.
func (k *Kernels) BindProduct(sets *vk.Sets, w *Weight, x, y, bias vk.Range, n int) (*MatVec, error) {
	m, err := k.BindMatVec(sets, w, x, y, bias)
	if err != nil || !k.tiled(w, n) {
		return m, err
	}
	return m, m.bindTiled(k, sets, x, y, bias)
}

// bindTiled binds m's weight chunks to the matmul shader.
func (m *MatVec) bindTiled(k *Kernels, sets *vk.Sets, x, y, bias vk.Range) error {
	p, err := k.pipeline("matmul", m.W.Type)
	if err != nil {
		return err
	}
	if !m.bias {
		bias = x // bound but never read
	}
	for _, c := range m.W.Chunks {
		set, err := sets.Bind(p, c.Buf.All(), x, y, bias)
		if err != nil {
			return fmt.Errorf("ops: matmul %q: %w", m.W.Name, err)
		}
		m.tiled = append(m.tiled, mvPart{p: p, set: set, c: c})
	}
	return nil
}

// recordTiled records the product of n inputs on the matmul shader.
func (m *MatVec) recordTiled(k *Kernels, s *vk.Step, n, xStride, yStride, yOff int, flags uint32) {
	t := k.Tiles
	for _, pt := range m.tiled {
		m.tpush = [8]uint32{uint32(m.W.Cols), uint32(pt.c.Rows), uint32(n), uint32(xStride), uint32(yStride), uint32(yOff), uint32(pt.c.Row0), flags}
		gx, gy := k.groups((uint32(pt.c.Rows) + t.BM - 1) / t.BM)
		s.Dispatch(pt.p, pt.set, m.tpush[:], gx, gy, (uint32(n)+t.BN-1)/t.BN)
	}
}
