package cpu

import (
	"testing"

	"github.com/vkinfer/vkinfer/compute"
)

// checkPlan replays p's slot writes in order and fails unless every
// operand a step reads from a slot still holds its source's value there,
// and the result's slot holds the result at the end.
func checkPlan(t *testing.T, g *compute.Graph, p *plan) {
	t.Helper()
	holds := map[int]int{} // slot → the node whose value it holds
	for _, s := range p.steps {
		for j, src := range s.node.Src {
			if o := s.src[j]; o.slot >= 0 {
				if h, ok := holds[o.slot]; !ok || h != src.Index() {
					t.Fatalf("node %d (%s) reads node %d from slot %d, which holds node %d", s.index, s.node.Op, src.Index(), o.slot, h)
				}
			}
		}
		if s.out >= 0 {
			holds[s.out] = s.index
		}
	}
	if holds[p.out] != g.Out.Index() {
		t.Fatalf("the result's slot %d holds node %d, not the result %d", p.out, holds[p.out], g.Out.Index())
	}
}

// TestPlan: the plans of whole models and of a block read every value
// where it was written, and a graph of any depth needs a few buffers:
// as many as values live at once, not one per node.
func TestPlan(t *testing.T) {
	prompt := []int32{1, 403, 407, 261, 378, 432, 383, 286}
	for _, tc := range []struct {
		rel      string
		maxSlots int
	}{
		{"llama/stories260K.gguf", 6},
		{"arch/qwen2.gguf", 6},
	} {
		t.Run(tc.rel, func(t *testing.T) {
			m := loadModel(t, tc.rel)
			s, e := session(t, m, 64)
			// Eval leaves its last step pending; Logits runs it.
			for _, st := range []struct {
				tokens []int32
				pos    int
			}{{prompt, 0}, {[]int32{300}, len(prompt)}} {
				if err := s.Eval(st.tokens, st.pos); err != nil {
					t.Fatal(err)
				}
				if _, err := s.Logits(); err != nil {
					t.Fatal(err)
				}
			}
			if len(e.plans) != 2 {
				t.Fatalf("%d plans for a prompt and a decode step", len(e.plans))
			}
			for g, p := range e.plans {
				checkPlan(t, g, p)
				t.Logf("%d tokens: %d nodes, %d steps", g.Batch.Tokens, len(g.Nodes), len(p.steps))
			}
			var floats int
			for _, b := range e.slots {
				floats += len(b)
			}
			t.Logf("%d buffers of %v floats, %d in all", len(e.slots), e.slotSize, floats)
			if len(e.slots) > tc.maxSlots {
				t.Errorf("%d buffers, want at most %d", len(e.slots), tc.maxSlots)
			}
		})
	}
	t.Run("block", func(t *testing.T) {
		f := opsFile(t)
		b := compute.NewBuilder(f, batch1.Shape())
		g, err := b.Finish(block(b))
		if err != nil {
			t.Fatal(err)
		}
		e, err := New(g.Cache, testCells)
		if err != nil {
			t.Fatal(err)
		}
		p, err := e.plan(g)
		if err != nil {
			t.Fatal(err)
		}
		checkPlan(t, g, p)
	})
}
