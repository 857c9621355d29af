package llama

import (
	"fmt"

	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/sampling"
)

// Greedy evaluates prompt at position 0 and then generates n tokens, each
// the most likely next one, evaluating each in turn. Backends are compared
// with it.
func Greedy(s model.Session, prompt []int32, n int) ([]int32, error) {
	smp, err := sampling.New(sampling.Greedy())
	if err != nil {
		return nil, err
	}
	if err := s.Eval(prompt, 0); err != nil {
		return nil, fmt.Errorf("llama: prompt: %w", err)
	}
	out := make([]int32, 0, n)
	for pos := len(prompt); len(out) < n; pos++ {
		tok, err := s.Sample(smp)
		if err != nil {
			return out, err
		}
		out = append(out, tok)
		if len(out) == n {
			break
		}
		if err := s.Eval([]int32{tok}, pos); err != nil {
			return out, fmt.Errorf("llama: token %d: %w", len(out), err)
		}
	}
	return out, nil
}
