package runner

import (
	"fmt"
	"slices"

	"github.com/vkinfer/vkinfer/compute"
	"github.com/vkinfer/vkinfer/gguf"
)

// graphs builds an architecture's graph per batch shape and keeps the
// most recently used ones. Prompts of every length have shapes of their
// own, and so do batches of every mix of sequences; past the bound the
// least recently used graph is dropped and the executor told to forget
// it (its plans or bindings).
type graphs struct {
	file    *gguf.File
	build   Graph
	max     int
	exec    compute.Executor // set once open; told of dropped graphs
	byShape map[compute.BatchShape]*compute.Graph
	lru     []compute.BatchShape // least recently used first
}

func newGraphs(f *gguf.File, build Graph, max int) *graphs {
	return &graphs{file: f, build: build, max: max, byShape: map[compute.BatchShape]*compute.Graph{}}
}

// get returns the graph for shape, building it on first use.
func (gs *graphs) get(shape compute.BatchShape) (*compute.Graph, error) {
	if g, ok := gs.byShape[shape]; ok {
		if i := slices.Index(gs.lru, shape); i < len(gs.lru)-1 {
			gs.lru = append(slices.Delete(gs.lru, i, i+1), shape)
		}
		return g, nil
	}
	b := compute.NewBuilder(gs.file, shape)
	g, err := b.Finish(gs.build(b))
	if err != nil {
		return nil, fmt.Errorf("runner: building the graph: %w", err)
	}
	if len(gs.lru) == gs.max {
		old := gs.lru[0]
		if f, ok := gs.exec.(interface{ Forget(*compute.Graph) }); ok {
			f.Forget(gs.byShape[old])
		}
		delete(gs.byShape, old)
		gs.lru = gs.lru[1:]
	}
	gs.byShape[shape] = g
	gs.lru = append(gs.lru, shape)
	return g, nil
}
