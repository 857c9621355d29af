package kernels

import (
	"runtime"
	"sync"
)

// workers runs row ranges of one call in parallel. Its goroutines live for
// the life of the process, so a call allocates nothing.
type workers struct {
	n    int
	jobs chan job
}

// task is work split by row ranges; part numbers the range, so a task can
// keep scratch per part.
type task interface {
	run(part, lo, hi int)
}

type job struct {
	t            task
	x            Task // set instead of t by Parallel
	part, lo, hi int
	wg           *sync.WaitGroup
}

var (
	poolMu  sync.Mutex
	current *workers
)

// SetThreads sets how many goroutines split each call (0 = one per core).
func SetThreads(n int) {
	if n <= 0 {
		n = runtime.NumCPU()
	}
	poolMu.Lock()
	defer poolMu.Unlock()
	if current != nil && current.n == n {
		return
	}
	w := &workers{n: n, jobs: make(chan job, n)}
	for range n {
		go func() {
			for j := range w.jobs {
				if j.x != nil {
					j.x.Run(j.part, j.lo, j.hi)
				} else {
					j.t.run(j.part, j.lo, j.hi)
				}
				j.wg.Done()
			}
		}()
	}
	if current != nil {
		close(current.jobs)
	}
	current = w
}

// Threads returns the number of goroutines calls are split over.
func Threads() int {
	poolMu.Lock()
	defer poolMu.Unlock()
	if current == nil {
		return runtime.NumCPU()
	}
	return current.n
}

func getWorkers() *workers {
	poolMu.Lock()
	w := current
	poolMu.Unlock()
	if w == nil {
		SetThreads(0)
		return getWorkers()
	}
	return w
}

// parallel runs t over [0, n) split into at most maxParts contiguous
// ranges of at least minPer, waiting for all. The caller runs the first
// range itself, so a call wakes one goroutine fewer and the caller does
// not sleep while the others work.
func parallel(n, minPer, maxParts int, wg *sync.WaitGroup, t task) {
	w := getWorkers()
	parts := min(w.n, maxParts, max(1, n/max(1, minPer)))
	if parts <= 1 {
		t.run(0, 0, n)
		return
	}
	wg.Add(parts - 1)
	for p := 1; p < parts; p++ {
		w.jobs <- job{t: t, part: p, lo: n * p / parts, hi: n * (p + 1) / parts, wg: wg}
	}
	t.run(0, 0, n/parts)
	wg.Wait()
}

// Task is work that Parallel splits into contiguous ranges; part numbers
// the range (0 .. Threads()-1), so a task can keep scratch per part.
type Task interface {
	Run(part, lo, hi int)
}

// Parallel runs t over [0, n) on the kernels' goroutines, in at most
// Threads() ranges of at least minPer items, and waits for them. The
// caller runs the first range itself. With a reused wg and a pointer t it
// allocates nothing.
func Parallel(n, minPer int, wg *sync.WaitGroup, t Task) {
	w := getWorkers()
	parts := min(w.n, max(1, n/max(1, minPer)))
	if parts <= 1 {
		t.Run(0, 0, n)
		return
	}
	wg.Add(parts - 1)
	for p := 1; p < parts; p++ {
		w.jobs <- job{x: t, part: p, lo: n * p / parts, hi: n * (p + 1) / parts, wg: wg}
	}
	t.Run(0, 0, n/parts)
	wg.Wait()
}
