package sampling

import (
	"fmt"
	"math"

	"github.com/vkinfer/vkinfer/kernels"
)

// MaxTopLogprobs bounds the alternatives reported per token, as OpenAI's
// top_logprobs does.
const MaxTopLogprobs = 20

// Logprob is a token's natural-log probability.
type Logprob struct {
	ID      int32
	Logprob float32
}

// TokenLogprob is a drawn token's log-probability and the most likely
// tokens of the same draw, most likely first (ties by id). Both come from
// the logits the chain starts from: after penalties and a constraint's
// mask, before temperature, top-k, top-p and min-p, as OpenAI defines
// logprobs.
type TokenLogprob struct {
	Logprob
	Top []Logprob
}

// WantLogprobs makes every later draw record its TokenLogprob with top
// alternatives (0 records only the drawn token's); top < 0 stops
// recording.
func (s *Sampler) WantLogprobs(top int) error {
	if top > MaxTopLogprobs {
		return fmt.Errorf("%w: top_logprobs %d must be <= %d", ErrInvalid, top, MaxTopLogprobs)
	}
	s.logprobs = max(top, -1)
	return nil
}

// Logprob returns the last draw's log-probabilities when WantLogprobs
// asked for them. Top is the sampler's scratch, valid until the next draw.
func (s *Sampler) Logprob() TokenLogprob { return s.last }

// recordLogprobs fills s.last for token id drawn from logits l.
func (s *Sampler) recordLogprobs(l []float32, id int32) {
	top := l[kernels.Argmax(l, false)]
	var z float64
	for _, x := range l {
		if x > float32(math.Inf(-1)) {
			z += math.Exp(float64(x - top))
		}
	}
	logZ := float64(top) + math.Log(z)
	lp := func(id int32) Logprob { return Logprob{ID: id, Logprob: float32(float64(l[id]) - logZ)} }
	s.last = TokenLogprob{Logprob: lp(id), Top: s.last.Top[:0]}
	if s.logprobs == 0 {
		return
	}
	// Insertion into the best logprobs seen so far, kept sorted.
	best := s.last.Top
	for i, x := range l {
		if x == float32(math.Inf(-1)) || x != x {
			continue
		}
		c := Candidate{ID: int32(i), Logit: x}
		if len(best) == s.logprobs && byLogitThenID(c, Candidate{ID: best[len(best)-1].ID, Logit: l[best[len(best)-1].ID]}) > 0 {
			continue
		}
		j := len(best)
		if j < s.logprobs {
			best = append(best, Logprob{})
		} else {
			j--
		}
		for j > 0 && byLogitThenID(c, Candidate{ID: best[j-1].ID, Logit: l[best[j-1].ID]}) < 0 {
			best[j] = best[j-1]
			j--
		}
		best[j] = Logprob{ID: int32(i)}
	}
	for i := range best {
		best[i] = lp(best[i].ID)
	}
	s.last.Top = best
}
