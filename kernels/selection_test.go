package kernels

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestArgmax holds every kernel set to the first index of the largest
// value, NaNs skipped, exactly: named cases, then the largest value
// placed (twice) at every offset of vectors whose lengths cover the
// vector loops and their tails.
func TestArgmax(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	negZero := float32(math.Copysign(0, -1))
	spread := func(n, at int, v float32) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(i%7) - 10
		}
		x[at] = v
		return x
	}
	cases := []struct {
		name string
		x    []float32
		want int
	}{
		{"one value", []float32{3}, 0},
		{"ties keep the first", []float32{1, 5, 2, 5}, 1},
		{"NaN first", []float32{nan, -1, -2}, 1},
		{"every value NaN", []float32{nan, nan, nan}, 0},
		{"NaNs beside the largest", []float32{1, nan, 7, nan, 7}, 2},
		{"only -Inf and NaN", []float32{nan, -inf, -inf}, 1},
		{"+Inf in the vector loop", spread(70, 40, inf), 40},
		{"largest in the tail", spread(70, 69, 100), 69},
		{"signed zeros are equal", []float32{-1, negZero, 0}, 1},
		{"a vocabulary", spread(32000, 31007, 3), 31007},
	}
	rng := rand.New(rand.NewPCG(71, 72))
	forEachISA(t, func(t *testing.T, v isa) {
		for _, tc := range cases {
			if got := Argmax(tc.x, false); got != tc.want {
				t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
			}
		}
		for n := 1; n <= 80; n++ {
			for at := range n {
				x := make([]float32, n)
				for i := range x {
					x[i] = float32(rng.NormFloat64())
					if rng.IntN(9) == 0 {
						x[i] = nan
					}
				}
				x[at] = 9
				if later := at + 1 + rng.IntN(n-at); later < n {
					x[later] = 9
				}
				if got := Argmax(x, false); got != at {
					t.Fatalf("length %d, largest at %d: %d", n, at, got)
				}
			}
		}
	})
}

// TestAbove holds every kernel set to the indices above a floor, in
// order, exactly: NaNs on either side select nothing, and lengths cover
// the vector loop and its tail.
func TestAbove(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	rng := rand.New(rand.NewPCG(75, 76))
	forEachISA(t, func(t *testing.T, v isa) {
		for _, tc := range []struct {
			name  string
			x     []float32
			floor float32
			want  []int32
		}{
			{"strictly above", []float32{1, 2, 3, 2, 5}, 2, []int32{2, 4}},
			{"NaN values", []float32{nan, 3, nan, 4}, 0, []int32{1, 3}},
			{"NaN floor", []float32{1, 2, 3}, nan, nil},
			{"-Inf floor keeps every number", []float32{-inf, nan, -1, inf}, -inf, []int32{2, 3}},
			{"appends", []float32{0, 9}, 1, []int32{7, 1}},
		} {
			var ids []int32
			if tc.name == "appends" {
				ids = []int32{7}
			}
			if got := Above(tc.x, tc.floor, ids, false); !slices.Equal(got, tc.want) {
				t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
			}
		}
		for n := 1; n <= 80; n++ {
			x := make([]float32, n)
			var want []int32
			for i := range x {
				x[i] = float32(rng.NormFloat64())
				if rng.IntN(9) == 0 {
					x[i] = nan
				}
				if x[i] > 0.5 {
					want = append(want, int32(i))
				}
			}
			if got := Above(x, 0.5, make([]int32, 0, 1), false); !slices.Equal(got, want) {
				t.Fatalf("length %d: %v, want %v", n, got, want)
			}
		}
	})
}

func BenchmarkArgmax(b *testing.B) {
	rng := rand.New(rand.NewPCG(73, 74))
	x := make([]float32, 32000)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	for _, portable := range []bool{true, false} {
		b.Run(map[bool]string{true: "go", false: "simd"}[portable], func(b *testing.B) {
			for b.Loop() {
				Argmax(x, portable)
			}
		})
	}
}
