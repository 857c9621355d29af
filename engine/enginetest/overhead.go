package enginetest

import (
	"context"
	"testing"
	"time"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/sampling"
)

// Overhead benchmarks engine.Generate against the raw loop it wraps on the
// same session: prefill, then sample, decode and evaluate token by token
// until an end-of-generation token or maxTokens, greedy. The two alternate
// within each iteration so that machine noise hits both alike. It reports
// the time per generated token of each (raw-ns/token, engine-ns/token) and
// the engine's extra cost (overhead-%).
func Overhead(b *testing.B, sess model.Session, tok engine.Tokenizer, prompt string, maxTokens int) {
	ids, err := tok.Encode(prompt, true, true)
	if err != nil {
		b.Fatal(err)
	}
	e := engine.New(sess, tok, engine.Options{})
	req := engine.Request{Prompt: prompt, Params: sampling.Greedy(), MaxTokens: maxTokens}
	emit := func(engine.Chunk) error { return nil }
	one := make([]int32, 1)

	raw := func() int {
		s, err := sampling.New(req.Params)
		if err != nil {
			b.Fatal(err)
		}
		s.Accept(ids...)
		if err := sess.Eval(ids, 0); err != nil {
			b.Fatal(err)
		}
		dec := tok.NewDecoder()
		n := 0
		for pos := len(ids); ; pos++ {
			t, err := sess.Sample(s)
			if err != nil {
				b.Fatal(err)
			}
			if tok.IsEOG(t) {
				break
			}
			n++
			dec.Decode(t)
			if n == maxTokens {
				break
			}
			one[0] = t
			if err := sess.Eval(one, pos); err != nil {
				b.Fatal(err)
			}
		}
		return n
	}
	viaEngine := func() int {
		e.Reset() // the same work as raw: no prompt reuse
		res, err := e.Generate(context.Background(), req, emit)
		if err != nil {
			b.Fatal(err)
		}
		return res.GeneratedTokens
	}

	var rawTime, engTime time.Duration
	var rawTokens, engTokens int
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		rawTokens += raw()
		t1 := time.Now()
		engTokens += viaEngine()
		rawTime += t1.Sub(t0)
		engTime += time.Since(t1)
	}
	if rawTokens != engTokens || rawTokens == 0 {
		b.Fatalf("raw loop made %d tokens, engine %d", rawTokens, engTokens)
	}
	rawPer := float64(rawTime.Nanoseconds()) / float64(rawTokens)
	engPer := float64(engTime.Nanoseconds()) / float64(engTokens)
	b.ReportMetric(rawPer, "raw-ns/token")
	b.ReportMetric(engPer, "engine-ns/token")
	b.ReportMetric(100*(engPer-rawPer)/rawPer, "overhead-%")
}
