package engine

import (
	"context"
	"testing"
	"time"

	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/model/sampling"
)

// overhead measures raw Eval+Sample decoding against Engine.Generate on
// the same session, interleaving the two so that machine noise hits both,
// and reports the time per generated token of each and the difference.
func overhead(b *testing.B, sess model.Session, tok Tokenizer, prompt string, maxTokens int) {
	ids, err := tok.Encode(prompt, true, true)
	if err != nil {
		b.Fatal(err)
	}
	e := New(sess, tok, Options{})
	req := Request{Prompt: prompt, Params: sampling.Greedy(), MaxTokens: maxTokens}
	emit := func(Chunk) error { return nil }

	// raw is the loop the engine wraps: prefill, then sample and evaluate
	// until an end-of-generation token or maxTokens, decoding each token.
	raw := func() int {
		s, _ := sampling.New(req.Params)
		s.Accept(ids...)
		if err := sess.Eval(ids, 0); err != nil {
			b.Fatal(err)
		}
		dec := tok.NewDecoder()
		n := 0
		for pos := len(ids); n < maxTokens; pos++ {
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
			if err := sess.Eval([]int32{t}, pos); err != nil {
				b.Fatal(err)
			}
		}
		return n
	}
	viaEngine := func() int {
		e.Reset()
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
	if rawTokens != engTokens {
		b.Fatalf("raw loop made %d tokens, engine %d", rawTokens, engTokens)
	}
	rawPer := float64(rawTime.Nanoseconds()) / float64(rawTokens)
	engPer := float64(engTime.Nanoseconds()) / float64(engTokens)
	b.ReportMetric(rawPer, "raw-ns/token")
	b.ReportMetric(engPer, "engine-ns/token")
	b.ReportMetric(100*(engPer-rawPer)/rawPer, "overhead-%")
}

// BenchmarkOverheadScripted measures the engine's own cost per token
// against a session that does almost nothing.
func BenchmarkOverheadScripted(b *testing.B) {
	sess := &scriptSession{ctxSize: 1024, next: func(pos int) int32 { return byteBase + 'a' + int32(pos%26) }}
	overhead(b, sess, byteTokenizer{}, "Once upon a time", 256)
}
