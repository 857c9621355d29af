package engine

import "strings"

// stopper holds back output that might be the start of a stop string, so
// that a partial match never reaches the client. Text that was released
// never ends with a proper prefix of a stop string, so any match lies
// wholly within the held text.
type stopper struct {
	stops   []string
	pending string
}

// push adds text and returns what may be released now. When a stop string
// matches, it returns the text before the earliest match and the string.
func (s *stopper) push(text string) (out, matched string) {
	if len(s.stops) == 0 {
		return text, ""
	}
	s.pending += text
	first := -1
	for _, st := range s.stops {
		if i := strings.Index(s.pending, st); i >= 0 && (first < 0 || i < first) {
			first, matched = i, st
		}
	}
	if first >= 0 {
		out = s.pending[:first]
		s.pending = ""
		return out, matched
	}
	keep := 0
	for _, st := range s.stops {
		for k := min(len(st)-1, len(s.pending)); k > keep; k-- {
			if strings.HasSuffix(s.pending, st[:k]) {
				keep = k
				break
			}
		}
	}
	out = s.pending[:len(s.pending)-keep]
	s.pending = s.pending[len(s.pending)-keep:]
	return out, ""
}

// flush releases the held text at the end of generation.
func (s *stopper) flush() string {
	out := s.pending
	s.pending = ""
	return out
}
