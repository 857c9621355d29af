package main

import (
	"testing"

	"github.com/vkinfer/vkinfer/ipc"
	"github.com/vkinfer/vkinfer/sampling"
)

// TestEngineRequestParams: the sampling parameters a generate request
// becomes. Temperature 0 alone is greedy with no penalty; penalties the
// request sets apply at temperature 0 too.
func TestEngineRequestParams(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	i := func(v int) *int { return &v }
	seed := uint64(42)
	defaults := sampling.Params{Temperature: 0.8, TopK: 40, TopP: 0.9, MinP: 0.05, RepeatPenalty: 1, RepeatLastN: 64}
	greedy := defaults
	greedy.Temperature = 0
	penalised := greedy
	penalised.RepeatPenalty, penalised.RepeatLastN, penalised.PresencePenalty, penalised.FrequencyPenalty = 1.5, 8, 0.25, 0.5
	seeded := defaults
	seeded.Seed = 42
	for _, tc := range []struct {
		name string
		opts *ipc.Options
		want sampling.Params
		// seeded: the request's seed is kept; otherwise a fresh one is drawn.
		seeded bool
	}{
		{"no options", nil, defaults, false},
		{"empty options", &ipc.Options{}, defaults, false},
		{"temperature 0", &ipc.Options{Temperature: f(0)}, greedy, false},
		{"temperature 0 with penalties", &ipc.Options{Temperature: f(0), RepeatPenalty: f(1.5), RepeatLastN: i(8), PresencePenalty: f(0.25), FrequencyPenalty: f(0.5)}, penalised, false},
		{"seed", &ipc.Options{Seed: &seed}, seeded, true},
	} {
		got := engineRequest(&ipc.Request{Prompt: "x", Options: tc.opts}).Params
		if !tc.seeded {
			if got.Seed == 0 {
				t.Errorf("%s: no seed drawn", tc.name)
			}
			got.Seed = 0
		}
		if got != tc.want {
			t.Errorf("%s: params %+v, want %+v", tc.name, got, tc.want)
		}
	}
}
