package vulkan

import (
	"maps"
	"sync"
	"testing"

	"github.com/vkinfer/vkinfer/internal/vktest"
	"github.com/vkinfer/vkinfer/vk/ops"
)

// TestProfileWhileStepping takes the profile from another goroutine while
// steps run, as the daemon's requests do with VKINFER_PROFILE=1. Run under
// the race detector (make test-race); the dispatches counted must be those
// of the same steps profiled alone, none lost or counted twice.
func TestProfileWhileStepping(t *testing.T) {
	d := vktest.ProfilingDevice(t)
	if !d.Profiling() {
		t.Skipf("%s has no timestamps", d.Info.Name)
	}
	k := ops.New(d)
	m := loadModel(t, "llama/stories260K.gguf")
	const steps = 24
	decode := func(s interface{ Eval([]int32, int) error }) {
		for i := range steps {
			if err := s.Eval([]int32{int32(1 + i)}, i); err != nil {
				t.Error(err)
				return
			}
		}
	}
	calls := func(into map[string]int, e *Executor) {
		for _, op := range e.TakeProfile() {
			into[op.Op] += op.Calls
		}
	}

	alone := map[string]int{}
	s := session(t, k, m, 64)
	decode(s)
	calls(alone, s.Executor().(*Executor))

	taken := map[string]int{}
	s = session(t, k, m, 64)
	e := s.Executor().(*Executor)
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Go(func() { decode(s); close(done) })
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
			calls(taken, e)
		}
	}
	wg.Wait()
	calls(taken, e)
	if len(alone) == 0 || !maps.Equal(alone, taken) {
		t.Errorf("dispatches per op while taken concurrently %v, alone %v", taken, alone)
	}
}
