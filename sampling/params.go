package sampling

import (
	"errors"
	"fmt"
	"math"
)

// ErrInvalid is wrapped by every parameter validation error.
var ErrInvalid = errors.New("sampling: invalid parameter")

// Params are the sampling parameters of one request.
type Params struct {
	Temperature      float32 // 0 = greedy
	TopK             int     // 0 = keep all
	TopP             float32 // 1 = off
	MinP             float32 // 0 = off
	RepeatPenalty    float32 // 1 = off
	RepeatLastN      int     // history window for penalties; 0 = none, -1 = all accepted tokens
	PresencePenalty  float32 // 0 = off
	FrequencyPenalty float32 // 0 = off
	Seed             uint64
}

// Greedy returns parameters that always pick the most likely token.
func Greedy() Params {
	return Params{Temperature: 0, TopP: 1, RepeatPenalty: 1}
}

// Defaults returns the parameters a request gets when it sets none. Every
// penalty is off, as in llama.cpp since it dropped its repeat penalty of
// 1.1: temperature 0 with the other defaults is then llama.cpp's greedy,
// the argmax of the raw logits, and only penalties a request sets apply.
func Defaults() Params {
	return Params{Temperature: 0.8, TopK: 40, TopP: 0.9, MinP: 0.05, RepeatPenalty: 1, RepeatLastN: 64}
}

func finite(x float32) bool { return !math.IsNaN(float64(x)) && !math.IsInf(float64(x), 0) }

// Validate reports the first parameter out of range.
func (p Params) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
	switch {
	case !finite(p.Temperature) || p.Temperature < 0:
		return bad("temperature %v must be a finite number >= 0", p.Temperature)
	case p.TopK < 0:
		return bad("top_k %d must be >= 0", p.TopK)
	case !finite(p.TopP) || p.TopP <= 0 || p.TopP > 1:
		return bad("top_p %v must be in (0, 1]", p.TopP)
	case !finite(p.MinP) || p.MinP < 0 || p.MinP > 1:
		return bad("min_p %v must be in [0, 1]", p.MinP)
	case !finite(p.RepeatPenalty) || p.RepeatPenalty <= 0:
		return bad("repeat_penalty %v must be a finite number > 0", p.RepeatPenalty)
	case p.RepeatLastN < -1:
		return bad("repeat_last_n %d must be >= -1", p.RepeatLastN)
	case !finite(p.PresencePenalty):
		return bad("presence_penalty %v must be finite", p.PresencePenalty)
	case !finite(p.FrequencyPenalty):
		return bad("frequency_penalty %v must be finite", p.FrequencyPenalty)
	}
	return nil
}

// penalised reports whether any penalty changes logits.
func (p Params) penalised() bool {
	return p.RepeatLastN != 0 && (p.RepeatPenalty != 1 || p.PresencePenalty != 0 || p.FrequencyPenalty != 0)
}
