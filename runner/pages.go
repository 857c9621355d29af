package runner

import "github.com/vkinfer/vkinfer/compute"

// pages is the page pool of a Batcher's KV cache: which pages sequences
// hold (by reference count) and which full pages are indexed by the
// tokens they hold, so a later prompt with the same prefix maps them
// rather than evaluating it again.
//
// An indexed page is never written again: a sequence that would write
// into one takes a fresh page and evaluates that page's positions anew.
// Sharing is therefore copy-on-write without the copy.
type pages struct {
	refs   []int32    // per page: sequences holding it
	key    []*pageKey // per page: its index key, nil when not indexed
	free   []int32    // pages nobody holds and nothing indexes
	idle   []int32    // indexed pages nobody holds, least recently released first
	index  map[pageKey]indexed
	serial uint64 // of the last page indexed
}

// pageKey names a full page by its tokens and the page before it (by
// serial, 0 for the first page of a sequence): a chain of keys is a
// prefix. A page taken back from the index gets a new serial when it is
// indexed again, so keys naming its old serial match nothing.
type pageKey struct {
	parent uint64
	tokens [compute.PageCells]int32
}

type indexed struct {
	page   int32
	serial uint64
}

func newPages(n int) *pages {
	p := &pages{refs: make([]int32, n), key: make([]*pageKey, n), index: map[pageKey]indexed{}}
	for i := n - 1; i >= 0; i-- {
		p.free = append(p.free, int32(i))
	}
	return p
}

// grow adds free pages up to n in all.
func (p *pages) grow(n int) {
	for i := len(p.refs); i < n; i++ {
		p.free = append(p.free, int32(i))
	}
	p.refs = append(p.refs, make([]int32, n-len(p.refs))...)
	p.key = append(p.key, make([]*pageKey, n-len(p.key))...)
}

// take returns a page for a sequence to write, taking back the least
// recently released indexed page when none is free; ok is false when
// every page is held.
func (p *pages) take() (page int32, ok bool) {
	if n := len(p.free); n > 0 {
		page = p.free[n-1]
		p.free = p.free[:n-1]
	} else if len(p.idle) > 0 {
		page = p.idle[0]
		p.idle = p.idle[1:]
		p.unindex(page)
	} else {
		return 0, false
	}
	p.refs[page] = 1
	return page, true
}

// hold adds a holder to an indexed page found by lookup.
func (p *pages) hold(page int32) {
	if p.refs[page] == 0 {
		p.dropIdle(page)
	}
	p.refs[page]++
}

// release drops a holder of each page; a page nobody holds is kept in
// the index (idle) when indexed, else freed.
func (p *pages) release(pgs []int32) {
	for _, pg := range pgs {
		p.refs[pg]--
		if p.refs[pg] > 0 {
			continue
		}
		if p.key[pg] != nil {
			p.idle = append(p.idle, pg)
		} else {
			p.free = append(p.free, pg)
		}
	}
}

// shared reports whether a sequence holding page may not write into it.
func (p *pages) shared(page int32) bool { return p.refs[page] > 1 || p.key[page] != nil }

// add indexes a full page holding tokens after the page of serial
// parent, and returns its serial. A page whose tokens are indexed already
// (another sequence evaluated the same prefix) is left out: the serial
// returned is the indexed one, which names the same prefix.
func (p *pages) add(page int32, parent uint64, tokens []int32) uint64 {
	k := pageKey{parent: parent}
	copy(k.tokens[:], tokens)
	if e, ok := p.index[k]; ok {
		return e.serial
	}
	p.serial++
	p.index[k] = indexed{page: page, serial: p.serial}
	p.key[page] = &k
	return p.serial
}

// lookup returns the indexed pages holding a prefix of tokens, whole
// pages only, in order.
func (p *pages) lookup(tokens []int32) []indexed {
	var found []indexed
	var k pageKey
	for len(tokens) >= compute.PageCells {
		copy(k.tokens[:], tokens[:compute.PageCells])
		e, ok := p.index[k]
		if !ok {
			break
		}
		found = append(found, e)
		k.parent = e.serial
		tokens = tokens[compute.PageCells:]
	}
	return found
}

func (p *pages) unindex(page int32) {
	delete(p.index, *p.key[page])
	p.key[page] = nil
}

func (p *pages) dropIdle(page int32) {
	for i, pg := range p.idle {
		if pg == page {
			p.idle = append(p.idle[:i], p.idle[i+1:]...)
			return
		}
	}
}

// counts returns the pages held, indexed but idle, and free.
func (p *pages) counts() (held, idle, free int) {
	return len(p.refs) - len(p.idle) - len(p.free), len(p.idle), len(p.free)
}
