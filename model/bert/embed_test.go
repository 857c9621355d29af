package bert

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// wordTokenizer maps space-separated words to ids for the synthetic model
// and records the flags it was called with.
type wordTokenizer struct {
	ids                      map[string]int32
	addSpecial, parseSpecial bool
}

var errUnknownWord = errors.New("unknown word")

func (w *wordTokenizer) Encode(text string, addSpecial, parseSpecial bool) ([]int32, error) {
	w.addSpecial, w.parseSpecial = addSpecial, parseSpecial
	var out []int32
	if addSpecial {
		out = append(out, 1)
	}
	for _, word := range strings.Fields(text) {
		id, ok := w.ids[word]
		if !ok {
			return nil, fmt.Errorf("%w %q", errUnknownWord, word)
		}
		out = append(out, id)
	}
	if addSpecial {
		out = append(out, synthSep)
	}
	return out, nil
}

func TestEmbedTexts(t *testing.T) {
	m := newSynth(9).load(t)
	tok := &wordTokenizer{ids: map[string]int32{"red": 5, "green": 9, "blue": 13}}
	got, err := m.EmbedTexts(tok, []string{"red green", "blue"}, Options{ParseSpecial: true, Dimensions: 4})
	if err != nil {
		t.Fatal(err)
	}
	if !tok.addSpecial || !tok.parseSpecial {
		t.Errorf("tokenizer called with addSpecial=%v parseSpecial=%v, want true, true", tok.addSpecial, tok.parseSpecial)
	}
	want, err := m.Embed([][]int32{{1, 5, 9, synthSep}, {1, 13, synthSep}}, Options{Dimensions: 4})
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if d := maxAbsDiff(t, got[i], want[i]); d != 0 {
			t.Errorf("text %d: differs from Embed of its ids by %.3g", i, d)
		}
	}

	if _, err := m.EmbedTexts(tok, nil, Options{}); !errors.Is(err, ErrEmptyInput) {
		t.Errorf("no texts: error %v, want ErrEmptyInput", err)
	}
	_, err = m.EmbedTexts(tok, []string{"red", "purple"}, Options{})
	if !errors.Is(err, errUnknownWord) || !strings.Contains(err.Error(), "text 1") {
		t.Errorf("tokenizer failure: error %v, want errUnknownWord naming text 1", err)
	}
	long := strings.Repeat("red ", synthCtx)
	if _, err := m.EmbedTexts(tok, []string{long}, Options{}); !errors.Is(err, ErrTooLong) {
		t.Errorf("long text: error %v, want ErrTooLong", err)
	}
	if _, err := m.EmbedTexts(tok, []string{long}, Options{Truncate: true}); err != nil {
		t.Errorf("long text with Truncate: %v", err)
	}
}
