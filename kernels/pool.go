package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// workers run the parts of a call beside its caller. Their goroutines
// live for the life of the process, so a call allocates nothing.
type workers struct {
	n    int // parts a call splits into: the caller and n-1 goroutines
	jobs chan job
}

// task is work split by ranges of items; part numbers the goroutine
// running a range (0 .. Threads()-1), so a task can keep scratch per part.
type task interface {
	run(part, lo, hi int)
}

// job is one worker's share of a call: the chunks it claims from s.
type job struct {
	s    *Split
	part int
}

// Split is the state of one parallel call: the chunks left to claim and
// the workers it waits for. Its zero value is ready; a caller keeps one
// and reuses it (one call at a time), so a call allocates nothing.
//
// The items go in chunks that the caller and the workers claim in turn,
// not in one fixed range each: a worker woken late, or a core slowed by
// another tenant, then costs the call at most a chunk, not the
// difference between two halves.
type Split struct {
	next atomic.Int64 // the next chunk to claim
	wg   sync.WaitGroup
	left atomic.Int32 // workers still running, for the caller's poll

	t        task
	x        Task // set instead of t by Parallel
	n, chunk int
}

// chunksPerPart is how many chunks a call's items go in per part: enough
// that a late start costs little, few enough that each chunk is a long
// sequential read of weights (the hardware prefetcher's stream).
const chunksPerPart = 4

// work claims and runs chunks until none is left.
func (s *Split) work(part int) {
	for {
		c := int(s.next.Add(1) - 1)
		lo := c * s.chunk
		if lo >= s.n {
			return
		}
		hi := min(lo+s.chunk, s.n)
		if s.x != nil {
			s.x.Run(part, lo, hi)
		} else {
			s.t.run(part, lo, hi)
		}
	}
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
	for range n - 1 {
		go func() {
			for {
				j, ok := w.next()
				if !ok {
					return
				}
				j.s.work(j.part)
				j.s.left.Add(-1)
				j.s.wg.Done()
			}
		}()
	}
	if current != nil {
		close(current.jobs)
	}
	current = w
}

// spin is how long a worker polls for its next job, and a caller for
// its workers, before it sleeps: a decode step's calls follow each other
// by microseconds, and the steps of a batch of eight sequences by about a
// hundred (their chunks go out between them); waking a sleeping thread
// costs more than that on a virtual machine. (At 30 µs, bench-15m's eight
// streams through the daemon ran about 10% slower.) The poll yields its
// core at every turn (Gosched), so the goroutines that run between steps
// (sampling, the socket) are not kept waiting; a poll that held the core
// cost one bench-15m stream through the daemon about a third of its rate.
const spin = 100 * time.Microsecond

// poll calls done, yielding between calls, until it is true or spin has
// passed, and returns its last answer.
func poll(done func() bool) bool {
	t0 := time.Now()
	for i := 1; ; i++ {
		if done() {
			return true
		}
		if i%8 == 0 && time.Since(t0) > spin {
			return false
		}
		runtime.Gosched()
	}
}

// next returns the next job, polling for spin before it blocks.
func (w *workers) next() (job, bool) {
	var j job
	ok := true
	got := poll(func() bool {
		select {
		case j, ok = <-w.jobs:
			return true
		default:
			return false
		}
	})
	if !got {
		j, ok = <-w.jobs
	}
	return j, ok
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

// start runs s's call over [0, n): on the caller alone when it is too
// small to split, else in chunks of at least minPer items, perPart of
// them a part at most, over at most maxParts parts, the caller one of
// them, and waits for all.
func (s *Split) start(n, minPer, maxParts, perPart int) {
	w := getWorkers()
	most := max(1, n/max(1, minPer)) // chunks of at least minPer
	parts := min(w.n, maxParts, most)
	chunks := 1 // the caller alone runs the call as one range
	if parts > 1 {
		chunks = min(parts*perPart, most)
	}
	s.n, s.chunk = n, (n+chunks-1)/chunks
	s.next.Store(0)
	s.wg.Add(parts - 1)
	s.left.Store(int32(parts - 1))
	for p := 1; p < parts; p++ {
		w.jobs <- job{s: s, part: p}
	}
	s.work(0)
	if parts > 1 {
		poll(s.finished)
	}
	s.wg.Wait()
	s.t, s.x = nil, nil // hold no caller memory
}

func (s *Split) finished() bool { return s.left.Load() == 0 }

// parallel runs t over [0, n) in chunks of at least minPer items over at
// most maxParts parts, and waits for all (Split).
func parallel(n, minPer, maxParts int, s *Split, t task) {
	s.t = t
	s.start(n, minPer, maxParts, chunksPerPart)
}

// Task is work that Parallel splits into ranges of items; part numbers
// the goroutine running a range (0 .. Threads()-1), so a task can keep
// scratch per part. A part may run several ranges of one call.
type Task interface {
	Run(part, lo, hi int)
}

// Parallel runs t over [0, n) on the kernels' goroutines, in chunks of
// at least minPer items that the caller and up to Threads()-1 goroutines
// claim in turn (Split), and waits for them. With a reused s and a
// pointer t it allocates nothing.
func Parallel(n, minPer int, s *Split, t Task) {
	s.x = t
	s.start(n, minPer, maxParts, chunksPerPart)
}

// ParallelEach is Parallel with each item its own chunk, claimed in turn:
// for a few items of uneven cost, which chunks of several would leave
// to one core.
func ParallelEach(n int, s *Split, t Task) {
	s.x = t
	s.start(n, 1, maxParts, n)
}
