package bert

import (
	"testing"
)

func TestTensorRows(t *testing.T) {
	m := newSynth(10).load(t)
	s := newSynth(10)
	up := &m.Layers[1].FFNUp
	if up.Cols() != synthEmbd || up.Rows() != synthFFN || up.RowBytes() != synthEmbd*4 {
		t.Fatalf("ffn_up: cols %d rows %d row bytes %d", up.Cols(), up.Rows(), up.RowBytes())
	}
	row := make([]float32, synthEmbd)
	for _, r := range []int{0, 5, synthFFN - 1} {
		if err := up.Row(r, row); err != nil {
			t.Fatal(err)
		}
		want := s.tensors["blk.1.ffn_up.weight"].data[r*synthEmbd : (r+1)*synthEmbd]
		for i := range row {
			if row[i] != want[i] {
				t.Fatalf("row %d element %d = %g, want %g", r, i, row[i], want[i])
			}
		}
	}
	bad := []struct {
		name string
		row  int
		dst  []float32
	}{
		{"negative row", -1, row},
		{"row past end", synthFFN, row},
		{"short destination", 0, row[:3]},
	}
	for _, tc := range bad {
		if err := up.Row(tc.row, tc.dst); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
	var zero Tensor
	if zero.Cols() != 0 || zero.Rows() != 0 || zero.RowBytes() != 0 || zero.Row(0, nil) == nil {
		t.Error("zero Tensor: want empty shape and an error from Row")
	}
	all, err := m.PosEmbd.Float32()
	if err != nil || len(all) != synthEmbd*synthCtx || all[17] != s.tensors["position_embd.weight"].data[17] {
		t.Errorf("Float32: %d values, err %v", len(all), err)
	}
}
