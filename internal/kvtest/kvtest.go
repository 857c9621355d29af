// Package kvtest holds an executor's KV cache types (compute.KVTypes) to
// compute.Reference on a real model: each type against the Reference
// keeping the same type (the executor's own error), and against the
// Reference keeping f32 (what the type's rounding costs); and an f16
// cache attended flash likewise (CheckFlash).
package kvtest

import (
	"testing"

	"github.com/vkinfer/vkinfer/compute"
	"github.com/vkinfer/vkinfer/internal/vecdiff"
	"github.com/vkinfer/vkinfer/runner"
)

// Bound is the relative RMS error of every step's logits a type may
// reach against the Reference of its own type (Same) and the f32 one
// (F32).
type Bound struct{ Same, F32 float64 }

// Check runs a prompt and decode steps of the model cfg describes on
// newExec with each type of bounds, beside compute.Reference with that
// type and with f32, and fails where a step's logits part further than
// the type's Bound. It logs each type's error and bytes per cell.
func Check(t *testing.T, cfg runner.Config, newExec runner.NewExecutor, bounds map[string]Bound) {
	t.Helper()
	reference := func(c compute.CacheShape, cells int) (compute.Executor, error) {
		return compute.NewReference(c, cells), nil
	}
	steps := [][]int32{{1, 403, 407, 261, 378, 432, 383, 286, 300, 301, 302, 303, 304, 305, 306, 307, 308, 309}, {300}, {301}, {302}}
	for name, b := range bounds {
		t.Run(name, func(t *testing.T) {
			c := cfg
			c.KVType = name
			got := run(t, c, newExec, steps)
			same := run(t, c, reference, steps)
			c.KVType = "f32"
			f32 := run(t, c, reference, steps)
			var worstSame, worstF32 float64
			for i := range steps {
				es, ef := vecdiff.RelRMS(got.logits[i], same.logits[i]), vecdiff.RelRMS(got.logits[i], f32.logits[i])
				worstSame, worstF32 = max(worstSame, es), max(worstF32, ef)
				if !(es <= b.Same) { // NaN fails too
					t.Errorf("step %d: relative error %.3g vs the Reference keeping %s (bound %g)", i, es, name, b.Same)
				}
				if !(ef <= b.F32) {
					t.Errorf("step %d: relative error %.3g vs the Reference keeping f32 (bound %g)", i, ef, b.F32)
				}
			}
			t.Logf("%s: %d bytes a cell (%s); largest relative error %.3g vs the Reference keeping %s, %.3g vs f32",
				name, got.cache.CellBytes(), got.cache.Type, worstSame, name, worstF32)
		})
	}
}

// CheckFlash is Check of an f16 cache attended flash
// (runner.Config.FlashAttention, whatever cfg says), against
// compute.Reference attending flash and keeping f32, bounded by b; it
// fails too if newExec is opened without flash.
func CheckFlash(t *testing.T, cfg runner.Config, newExec runner.NewExecutor, b Bound) {
	t.Helper()
	cfg.FlashAttention = true
	Check(t, cfg, func(c compute.CacheShape, cells int) (compute.Executor, error) {
		if !c.Flash {
			t.Errorf("the executor opened without flash (%+v)", c)
		}
		return newExec(c, cells)
	}, map[string]Bound{"f16": b})
}

type result struct {
	cache  compute.CacheShape
	logits [][]float32
}

// run evaluates steps from position 0 and returns each step's logits and
// the cache shape the executor was opened with.
func run(t *testing.T, cfg runner.Config, newExec runner.NewExecutor, steps [][]int32) result {
	t.Helper()
	var r result
	s, err := runner.New(cfg, func(c compute.CacheShape, cells int) (compute.Executor, error) {
		r.cache = c
		return newExec(c, cells)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pos := 0
	for _, step := range steps {
		if err := s.Eval(step, pos); err != nil {
			t.Fatal(err)
		}
		pos += len(step)
		lg, err := s.Logits()
		if err != nil {
			t.Fatal(err)
		}
		r.logits = append(r.logits, append([]float32(nil), lg...))
	}
	if want, _ := compute.ParseKVType(cfg.KVType); r.cache.Type != want {
		t.Fatalf("runner opened a %s cache for --kv-type %s", r.cache.Type, cfg.KVType)
	}
	return r
}
