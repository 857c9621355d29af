package kernels

import (
	"sync"
	"sync/atomic"
	"testing"
)

// countTask counts how often each item is run and which parts ran, and
// notes a Run of more than one item.
type countTask struct {
	hits  []atomic.Int32
	parts [maxParts]atomic.Int32
	multi atomic.Bool
}

func (c *countTask) Run(part, lo, hi int) {
	c.parts[part].Add(1)
	if hi-lo > 1 {
		c.multi.Store(true)
	}
	for i := lo; i < hi; i++ {
		c.hits[i].Add(1)
	}
}

// TestParallelCoversEachItemOnce: whatever the threads, item count and
// chunk floor, every item runs exactly once, parts are numbered below
// Threads(), and a reused Split serves call after call; ParallelEach,
// split over parts, runs one item a range.
func TestParallelCoversEachItemOnce(t *testing.T) {
	prev := Threads()
	defer SetThreads(prev)
	for _, c := range []struct {
		threads, n, minPer int
		each               bool
	}{
		{1, 100, 1, false}, {2, 1, 1, false}, {2, 7, 1, false}, {2, 100, 1, false}, {2, 100, 60, false}, {3, 1000, 7, false}, {4, 5, 1, false}, {4, 10000, 1, false},
		{1, 100, 1, true}, {2, 1, 1, true}, {2, 7, 1, true}, {3, 1000, 1, true}, {4, 5, 1, true},
	} {
		SetThreads(c.threads)
		var s Split
		for round := range 3 {
			task := &countTask{hits: make([]atomic.Int32, c.n)}
			if c.each {
				ParallelEach(c.n, &s, task)
			} else {
				Parallel(c.n, c.minPer, &s, task)
			}
			for i := range task.hits {
				if h := task.hits[i].Load(); h != 1 {
					t.Fatalf("%+v round %d: item %d ran %d times", c, round, i, h)
				}
			}
			if c.each && c.threads > 1 && task.multi.Load() {
				t.Fatalf("%+v round %d: a range of more than one item", c, round)
			}
			for p := c.threads; p < maxParts; p++ {
				if task.parts[p].Load() != 0 {
					t.Fatalf("%+v: part %d ran with %d threads", c, p, c.threads)
				}
			}
		}
	}
}

// TestParallelConcurrentCallers: two callers share the workers, each
// with its own Split, and each call still covers its items once.
func TestParallelConcurrentCallers(t *testing.T) {
	prev := Threads()
	defer SetThreads(prev)
	SetThreads(2)
	var wg sync.WaitGroup
	errs := make(chan int, 2)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var s Split
			for range 200 {
				task := &countTask{hits: make([]atomic.Int32, 257)}
				Parallel(len(task.hits), 1, &s, task)
				for i := range task.hits {
					if task.hits[i].Load() != 1 {
						errs <- i
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for i := range errs {
		t.Errorf("item %d not run once", i)
	}
}
