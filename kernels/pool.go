package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// workers runs row ranges of one call in parallel. Its goroutines live for
// the life of the process, so a call allocates nothing.
//
// Decode makes a few hundred calls a token, each a few hundred
// microseconds long with a few microseconds of other work between them.
// A worker that slept on a channel between calls took tens of
// microseconds to wake, and its caller as long to learn it was done, so a
// fifth of a decode step went to waiting; so both sides spin a short while
// (spinFor) before they sleep.
type workers struct {
	n     int
	busy  sync.Mutex // held by the call that has the workers
	slots []*slot    // one per goroutine: parts 1 .. n-1

	// The call in progress: how many parts are still running, and
	// whether its caller sleeps on done waiting for them.
	pending atomic.Int32
	waiting atomic.Bool
	done    chan struct{}
}

// slot hands one goroutine its part of each call.
type slot struct {
	posted atomic.Uint64 // calls posted to this slot so far
	job    job           // the last posted, written before posted moves
	parked atomic.Bool   // the goroutine sleeps on wake
	wake   chan struct{}
}

// task is work split by row ranges; part numbers the range, so a task can
// keep scratch per part.
type task interface {
	run(part, lo, hi int)
}

// job is one part of a call; a job with neither t nor x stops the goroutine.
type job struct {
	t            task
	x            Task // set instead of t by Parallel
	part, lo, hi int
}

func (j *job) runPart() {
	if j.x != nil {
		j.x.Run(j.part, j.lo, j.hi)
	} else {
		j.t.run(j.part, j.lo, j.hi)
	}
}

// spinFor is how long a worker polls for its next part, and a caller for
// its parts' end, before sleeping.
const spinFor = 100 * time.Microsecond

// spin polls cond until it holds or spinFor has passed, and reports
// whether it held.
func spin(cond func() bool) bool {
	var start time.Time
	for i := 0; ; i++ {
		if cond() {
			return true
		}
		if i&255 == 255 {
			if start.IsZero() {
				start = time.Now()
			} else if time.Since(start) > spinFor {
				return false
			}
		}
	}
}

func (w *workers) loop(s *slot) {
	var seen uint64
	for {
		for !spin(func() bool { return s.posted.Load() != seen }) {
			// Park, then look again: a post between the spin and the
			// park finds parked set and sends a wake, or is seen here.
			s.parked.Store(true)
			if s.posted.Load() == seen {
				<-s.wake
			}
			s.parked.Store(false)
		}
		seen = s.posted.Load()
		j := s.job
		if j.t == nil && j.x == nil {
			return
		}
		j.runPart()
		if w.pending.Add(-1) == 0 && w.waiting.Load() {
			select {
			case w.done <- struct{}{}:
			default:
			}
		}
	}
}

// post hands j to the slot's goroutine, waking it if it sleeps.
func (s *slot) post(j job) {
	s.job = j
	s.posted.Add(1)
	if s.parked.Load() {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// wait returns once every part posted has ended.
func (w *workers) wait() {
	if spin(func() bool { return w.pending.Load() == 0 }) {
		return
	}
	w.waiting.Store(true)
	// A stale wake from an earlier call may be waiting in done: look
	// again after each.
	for w.pending.Load() != 0 {
		<-w.done
	}
	w.waiting.Store(false)
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
	w := &workers{n: n, done: make(chan struct{}, 1)}
	for range n - 1 {
		s := &slot{wake: make(chan struct{}, 1)}
		w.slots = append(w.slots, s)
		go w.loop(s)
	}
	if old := current; old != nil {
		// Stop its goroutines once no call holds them.
		go func() {
			old.busy.Lock()
			for _, s := range old.slots {
				s.post(job{})
			}
		}()
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

// split runs j's range [0, n) in parts ranges (at most the workers'
// count), the first on the caller, and waits for all. A caller that finds
// the workers held by another call (another model's executor, say) runs
// its whole range itself rather than wait: the cores are busy anyway.
func split(n, parts int, j job) {
	w := getWorkers()
	parts = min(parts, w.n)
	if parts <= 1 || !w.busy.TryLock() {
		j.lo, j.hi = 0, n
		j.runPart()
		return
	}
	defer w.busy.Unlock()
	w.pending.Store(int32(parts - 1))
	for p := 1; p < parts; p++ {
		j.part, j.lo, j.hi = p, n*p/parts, n*(p+1)/parts
		w.slots[p-1].post(j)
	}
	j.part, j.lo, j.hi = 0, 0, n/parts
	j.runPart()
	w.wait()
}

// parallel runs t over [0, n) split into at most maxParts contiguous
// ranges of at least minPer, waiting for all. The caller runs the first
// range itself, so a call wakes one goroutine fewer and the caller does
// not sleep while the others work.
func parallel(n, minPer, maxParts int, t task) {
	split(n, min(maxParts, max(1, n/max(1, minPer))), job{t: t})
}

// Task is work that Parallel splits into contiguous ranges; part numbers
// the range (0 .. Threads()-1), so a task can keep scratch per part.
type Task interface {
	Run(part, lo, hi int)
}

// Parallel runs t over [0, n) on the kernels' goroutines, in at most
// Threads() ranges of at least minPer items, and waits for them. The
// caller runs the first range itself. With a pointer t it allocates
// nothing.
func Parallel(n, minPer int, t Task) {
	split(n, max(1, n/max(1, minPer)), job{x: t})
}
