package grammar

import (
	"fmt"
	"strconv"
	"testing"
)

// Integer bounds accept exactly the integers in range: every integer of
// a window around the bounds, and numbers of every length up to 16
// digits.
func TestIntegerBounds(t *testing.T) {
	const inf = 1 << 62
	tests := []struct {
		bounds string
		lo, hi int64 // inf: unbounded
	}{
		{`"minimum":0`, 0, inf},
		{`"minimum":1`, 1, inf},
		{`"minimum":5,"maximum":123`, 5, 123},
		{`"minimum":-50,"maximum":7`, -50, 7},
		{`"minimum":-7,"maximum":-3`, -7, -3},
		{`"maximum":-10`, -inf, -10},
		{`"minimum":99,"maximum":1000`, 99, 1000},
		{`"minimum":0,"maximum":0`, 0, 0},
		{`"exclusiveMinimum":2.5,"exclusiveMaximum":10`, 3, 9},
		{`"minimum":-2.5,"maximum":3.7`, -2, 3},
		{`"minimum":1200,"maximum":1299`, 1200, 1299},
		{`"minimum":10,"exclusiveMinimum":20`, 21, inf},
	}
	for _, tc := range tests {
		t.Run(tc.bounds, func(t *testing.T) {
			g, err := FromSchema([]byte(`{"type":"integer",` + tc.bounds + `}`))
			if err != nil {
				t.Fatal(err)
			}
			var texts []string
			for n := -2000; n <= 2000; n++ {
				texts = append(texts, strconv.Itoa(n))
			}
			for d := 1; d <= 17; d++ {
				big := "9"
				for range d - 1 {
					big += "0"
				}
				texts = append(texts, big, "-"+big)
			}
			for _, text := range texts {
				n, _ := strconv.ParseInt(text, 10, 64)
				want := len(text) <= 16+boolInt(n < 0) && (tc.lo == -inf || n >= tc.lo) && (tc.hi == inf || n <= tc.hi)
				m := NewMatcher(g)
				if got := m.Advance([]byte(text)) && m.Accepting(); got != want {
					t.Fatalf("%s: accepted %v, want %v", text, got, want)
				}
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestNumberBounds(t *testing.T) {
	g, err := FromSchema([]byte(`{"type":"number","minimum":0}`))
	if err != nil {
		t.Fatal(err)
	}
	for text, want := range map[string]bool{"0": true, "0.5": true, "12e-3": true, "-1": false, "-0.5": false, "01": false} {
		m := NewMatcher(g)
		if got := m.Advance([]byte(text)) && m.Accepting(); got != want {
			t.Errorf("%s: accepted %v, want %v", text, got, want)
		}
	}
	for _, bad := range []string{`"minimum":1`, `"maximum":3`, `"exclusiveMinimum":0`} {
		if _, err := FromSchema([]byte(fmt.Sprintf(`{"type":"number",%s}`, bad))); err == nil {
			t.Errorf("number with %s: no error", bad)
		}
	}
	if _, err := FromSchema([]byte(`{"type":"integer","minimum":5,"maximum":4}`)); err == nil {
		t.Error("empty range: no error")
	}
}
