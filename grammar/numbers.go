package grammar

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// maxBound bounds the magnitude of minimum and maximum: json-integer has
// at most 16 digits.
const maxBound = 1e15

// intBounds reads minimum, maximum, exclusiveMinimum and exclusiveMaximum
// as the integer range [lo, hi] they allow; an absent side is nil.
func intBounds(s *jval, path string) (lo, hi *int64, err error) {
	read := func(key string, exclusive, upper bool) error {
		v := s.get(key)
		if v == nil {
			return nil
		}
		f, err := v.num.Float64()
		if v.kind != 'n' || err != nil || math.Abs(f) > maxBound {
			return invalid(path, "%s must be a number of magnitude at most %g", key, float64(maxBound))
		}
		var n int64
		switch {
		case upper && exclusive:
			n = int64(math.Ceil(f)) - 1
		case upper:
			n = int64(math.Floor(f))
		case exclusive:
			n = int64(math.Floor(f)) + 1
		default:
			n = int64(math.Ceil(f))
		}
		dst := &lo
		if upper {
			dst = &hi
			if *dst != nil && **dst <= n {
				return nil
			}
		} else if *dst != nil && **dst >= n {
			return nil
		}
		*dst = &n
		return nil
	}
	for _, k := range []struct {
		key              string
		exclusive, upper bool
	}{{"minimum", false, false}, {"exclusiveMinimum", true, false}, {"maximum", false, true}, {"exclusiveMaximum", true, true}} {
		if err := read(k.key, k.exclusive, k.upper); err != nil {
			return nil, nil, err
		}
	}
	if lo != nil && hi != nil && *lo > *hi {
		return nil, nil, invalid(path, "the bounds allow no integer")
	}
	return lo, hi, nil
}

// integerRange returns a GBNF expression of the JSON integers in [lo, hi]
// (nil: unbounded), without leading zeros, of at most 16 digits.
func integerRange(lo, hi *int64) string {
	var alts []string
	// Negative numbers: "-" and a magnitude in [max(1, -hi), -lo].
	if lo == nil || *lo < 0 {
		mlo := int64(1)
		if hi != nil && *hi < 0 {
			mlo = -*hi
		}
		var mhi *int64
		if lo != nil {
			v := -*lo
			mhi = &v
		}
		alts = append(alts, `"-" `+naturals(mlo, mhi))
	}
	if (lo == nil || *lo <= 0) && (hi == nil || *hi >= 0) {
		alts = append(alts, `"0"`)
	}
	if hi == nil || *hi > 0 {
		plo := int64(1)
		if lo != nil && *lo > 1 {
			plo = *lo
		}
		alts = append(alts, naturals(plo, hi))
	}
	return "( " + strings.Join(alts, " | ") + " )"
}

// naturals is the numbers in [lo, hi] (lo >= 1; hi nil: up to 16 digits).
func naturals(lo int64, hi *int64) string {
	a := strconv.FormatInt(lo, 10)
	b := strings.Repeat("9", 16)
	if hi != nil {
		b = strconv.FormatInt(*hi, 10)
	}
	var alts []string
	for n := len(a); n <= len(b); n++ {
		from, to := "1"+strings.Repeat("0", n-1), strings.Repeat("9", n)
		if n == len(a) {
			from = a
		}
		if n == len(b) {
			to = b
		}
		if hi == nil && n > len(a) {
			// Every number of the remaining lengths.
			alts = append(alts, fmt.Sprintf("[1-9] [0-9]{%d,15}", n-1))
			break
		}
		alts = append(alts, digitRange(from, to))
	}
	return "( " + strings.Join(alts, " | ") + " )"
}

// digitRange is the digit strings of one length from a to b, a <= b.
func digitRange(a, b string) string {
	if a == b {
		return literal(a)
	}
	if len(a) == 1 {
		return fmt.Sprintf("[%c-%c]", a[0], b[0])
	}
	if a[0] == b[0] {
		return literal(a[:1]) + " " + digitRange(a[1:], b[1:])
	}
	rest := len(a) - 1
	alts := []string{literal(a[:1]) + " " + digitRange(a[1:], strings.Repeat("9", rest))}
	if a[0]+1 <= b[0]-1 {
		alts = append(alts, fmt.Sprintf("[%c-%c] [0-9]{%d}", a[0]+1, b[0]-1, rest))
	}
	alts = append(alts, literal(b[:1])+" "+digitRange(strings.Repeat("0", rest), b[1:]))
	return "( " + strings.Join(alts, " | ") + " )"
}
