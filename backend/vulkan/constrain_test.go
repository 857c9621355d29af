package vulkan

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/vkinfer/vkinfer/grammar"
	"github.com/vkinfer/vkinfer/internal/opstest"
	"github.com/vkinfer/vkinfer/internal/vktest"
	"github.com/vkinfer/vkinfer/model/tokenizer"
	"github.com/vkinfer/vkinfer/sampling"
	"github.com/vkinfer/vkinfer/vk/ops"
)

// TestConstrainedOneSubmitPerStep: a draw under a grammar mask runs with
// the forward pass in one submit per step: the device sampler applies the
// uploaded mask, or, with logprobs, the session reads the logits back in
// that submit and samples on the host. The tokens (and logprobs) equal a
// host sampler's over the same step's logits, and the output follows the
// grammar.
func TestConstrainedOneSubmitPerStep(t *testing.T) {
	staging := ops.New(vktest.StagingDevice(t))
	t.Cleanup(staging.Close)
	m := loadModel(t, "llama/llama-2-tiny-random.gguf")
	tok, err := tokenizer.FromGGUF(m.File)
	if err != nil {
		t.Fatal(err)
	}
	pieces := make([][]byte, tok.VocabSize())
	eog := make([]bool, tok.VocabSize())
	for id := range pieces {
		pieces[id], eog[id] = tok.Piece(int32(id), false), tok.IsEOG(int32(id))
	}
	vocab, err := grammar.NewVocab(pieces, eog)
	if err != nil {
		t.Fatal(err)
	}
	g, err := grammar.FromSchema([]byte(`{"type":"array","items":{"enum":["cat","dog",7]},"minItems":2,"maxItems":3}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, dev := range []struct {
		name string
		k    *ops.Kernels
	}{{"mapped", opstest.Kernels(t)}, {"staging", staging}} {
		for _, logprobs := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/logprobs=%v", dev.name, logprobs), func(t *testing.T) {
				d := dev.k.Dev
				s := session(t, dev.k, m, 64)
				p := sampling.Params{Temperature: 1, TopK: 40, TopP: 0.95, RepeatPenalty: 1.1, RepeatLastN: 16, Seed: 3}
				sampler := func() *sampling.Sampler {
					smp, _ := sampling.New(p)
					smp.Constrain(grammar.NewConstraint(g, vocab))
					if logprobs {
						if err := smp.WantLogprobs(4); err != nil {
							t.Fatal(err)
						}
					}
					return smp
				}
				onDev, onCPU := sampler(), sampler()
				check := grammar.NewMatcher(g)
				tokens := []int32{1, 403, 407}
				for i := 0; !onDev.Done(); i++ {
					if i == 40 {
						t.Fatalf("no end after %d tokens", i)
					}
					pos := len(tokens) - 1
					if i == 0 {
						pos = 0
					}
					if err := s.Eval(tokens[pos:], pos); err != nil {
						t.Fatal(err)
					}
					logits, err := s.Logits()
					if err != nil {
						t.Fatal(err)
					}
					want := onCPU.Sample(logits)
					wantLP := onCPU.Logprob()
					wantLP.Top = append([]sampling.Logprob(nil), wantLP.Top...)
					before := d.Submits()
					if err := s.Eval(tokens[pos:], pos); err != nil {
						t.Fatal(err)
					}
					got, err := s.Sample(onDev)
					if err != nil {
						t.Fatal(err)
					}
					if n := d.Submits() - before; n != 1 {
						t.Fatalf("draw %d: %d submits, want 1", i, n)
					}
					if got != want || !reflect.DeepEqual(onDev.Logprob(), wantLP) {
						t.Fatalf("draw %d: device %d %+v, host %d %+v", i, got, onDev.Logprob(), want, wantLP)
					}
					if !check.Advance(tok.Piece(got, false)) {
						t.Fatalf("draw %d: token %d leaves the grammar", i, got)
					}
					tokens = append(tokens, got)
				}
				if !check.Done() {
					t.Error("the sampler is done but the output is not")
				}
			})
		}
	}
}
