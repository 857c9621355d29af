package vecdiff

import (
	"math"
	"testing"
)

func TestVecdiff(t *testing.T) {
	tests := []struct {
		name           string
		got, want      []float32
		relRMS, cosine float64
	}{
		{"equal", []float32{1, 2, 3}, []float32{1, 2, 3}, 0, 1},
		{"scaled", []float32{2, 4, 6}, []float32{1, 2, 3}, 1, 1},
		{"orthogonal", []float32{0, 1}, []float32{1, 0}, math.Sqrt2, 0},
		{"opposite", []float32{-3, 4}, []float32{3, -4}, 2, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if r := RelRMS(tc.got, tc.want); math.Abs(r-tc.relRMS) > 1e-15 {
				t.Errorf("RelRMS = %v, want %v", r, tc.relRMS)
			}
			if c := Cosine(tc.got, tc.want); math.Abs(c-tc.cosine) > 1e-15 {
				t.Errorf("Cosine = %v, want %v", c, tc.cosine)
			}
		})
	}
}
