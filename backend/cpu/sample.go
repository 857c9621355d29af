package cpu

import (
	"fmt"

	"github.com/vkinfer/vkinfer/compute"
	"github.com/vkinfer/vkinfer/kernels"
	"github.com/vkinfer/vkinfer/sampling"
)

// RunSample implements compute.SamplingExecutor: the forward pass, then
// each output row with a sampler drawn from its own row of the logits,
// the rows split over the kernels' goroutines while they are still
// polling for work. A sequence then gets its token from the step instead
// of a copy of its row to draw from on its own goroutine, which at eight
// sequences was a megabyte copied and eight goroutine hand-offs a step.
// A constrained sampler's row is left to its caller (ids[i] -1, the
// logits returned): its draw may fail (no token allowed), and that error
// belongs to its sequence alone, not to the step. An unconstrained draw
// cannot fail.
func (e *Executor) RunSample(g *compute.Graph, batch *compute.Batch, smps []*sampling.Sampler) ([]int32, []float32, error) {
	if len(smps) != g.Batch.Outputs || g.Batch.Outputs == 0 {
		return nil, nil, fmt.Errorf("cpu: %d samplers for a step of %d output rows", len(smps), g.Batch.Outputs)
	}
	out, err := e.Run(g, batch)
	if err != nil {
		return nil, nil, err
	}
	e.draws = drawTask{
		smps:   smps,
		logits: out,
		vocab:  g.Node(g.Out).Shape.Cols,
		ids:    make([]int32, len(smps)),
	}
	kernels.ParallelEach(len(smps), &e.split, &e.draws)
	ids := e.draws.ids
	keep := false
	for _, id := range ids {
		keep = keep || id < 0
	}
	e.draws.smps, e.draws.logits = nil, nil
	if !keep {
		out = nil
	}
	return ids, out, nil
}

// drawTask draws the rows of a step, one row an item.
type drawTask struct {
	smps   []*sampling.Sampler
	logits []float32
	vocab  int
	ids    []int32
}

func (t *drawTask) Run(_, lo, hi int) {
	for i := lo; i < hi; i++ {
		smp := t.smps[i]
		t.ids[i] = -1
		if smp == nil || smp.Constrained() {
			continue
		}
		t.ids[i] = smp.Sample(t.logits[i*t.vocab : (i+1)*t.vocab])
	}
}
