package engine

import (
	"context"
	"testing"

	"github.com/vkinfer/vkinfer/sampling"
)

// BenchmarkGenerateScripted measures the engine's own cost per token: a
// scripted session does next to no work, so the time is the engine's
// (plus greedy sampling over 259 logits and the fake decoder).
func BenchmarkGenerateScripted(b *testing.B) {
	sess := &scriptSession{ctxSize: 1024, next: func(pos int) int32 { return byteBase + 'a' + int32(pos%26) }}
	e := New(sess, byteTokenizer{}, Options{})
	req := Request{Prompt: "Once upon a time", Params: sampling.Greedy(), MaxTokens: 256}
	emit := func(Chunk) error { return nil }
	tokens := 0
	for i := 0; i < b.N; i++ {
		sess.evals = sess.evals[:0]
		e.Reset()
		res, err := e.Generate(context.Background(), req, emit)
		if err != nil {
			b.Fatal(err)
		}
		tokens += res.GeneratedTokens
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(tokens), "ns/token")
}
