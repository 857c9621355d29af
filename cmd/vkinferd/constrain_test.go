package main

import (
	"context"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/vkinfer/vkinfer/internal/vktest"
	"github.com/vkinfer/vkinfer/ipc"
)

const daemonSchema = `{"type":"object","properties":{"name":{"type":"string","maxLength":10},
	"size":{"enum":["small","large"]},"n":{"type":"integer"},"tags":{"type":"array","items":{"type":"string","pattern":"^[a-z]{1,4}$"},"maxItems":2}},
	"required":["name","size","tags"],"additionalProperties":false}`

// TestConstrainedOverSocket: schema-constrained, tempered generation with
// logprobs through the daemon, on the CPU and on the Vulkan device: every
// seed's output validates, every token has its logprobs, and an
// unsupported schema feature or a bad grammar is bad_request naming it.
func TestConstrainedOverSocket(t *testing.T) {
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(daemonSchema))
	if err != nil {
		t.Fatal(err)
	}
	comp := jsonschema.NewCompiler()
	if err := comp.AddResource("mem://daemon.json", doc); err != nil {
		t.Fatal(err)
	}
	val, err := comp.Compile("mem://daemon.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, device := range []string{"cpu", "vulkan"} {
		t.Run(device, func(t *testing.T) {
			if device == "vulkan" {
				vktest.Device(t)
			}
			d := startDaemon(t, modelsDir(t), socketPath(t), "--device", device)
			c := d.client()
			one := 1.0
			for seed := range uint64(6) {
				req := &ipc.Request{Model: "llama-2-tiny-random", Prompt: "Once upon a time", MaxTokens: 300,
					Options: &ipc.Options{Temperature: &one, Seed: &seed}, Format: daemonSchema, Logprobs: true, TopLogprobs: 3}
				s, err := c.Generate(context.Background(), req)
				if err != nil {
					t.Fatal(err)
				}
				var text strings.Builder
				for {
					ch, err := s.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatalf("seed %d: %v", seed, err)
					}
					text.WriteString(ch.Text)
					if len(ch.Logprobs) != len(ch.Tokens) {
						t.Fatalf("seed %d: chunk of %d tokens has %d logprobs", seed, len(ch.Tokens), len(ch.Logprobs))
					}
					for i, lp := range ch.Logprobs {
						// Fewer than 3 alternatives where the grammar allows fewer.
						n := len(lp.TopLogprobs)
						if lp.ID != ch.Tokens[i] || n == 0 || n > 3 || lp.Logprob > 0 || math.IsInf(float64(lp.Logprob), 0) ||
							lp.TopLogprobs[0].Logprob < lp.Logprob {
							t.Fatalf("seed %d: logprob %+v for token %d", seed, lp, ch.Tokens[i])
						}
					}
				}
				if st := s.Stats(); st.StopReason != "eog" {
					t.Fatalf("seed %d: stop %s after %q", seed, st.StopReason, text.String())
				}
				inst, err := jsonschema.UnmarshalJSON(strings.NewReader(text.String()))
				if err == nil {
					err = val.Validate(inst)
				}
				if err != nil {
					t.Fatalf("seed %d: %q: %v", seed, text.String(), err)
				}
			}
			for _, tc := range []struct {
				name string
				req  *ipc.Request
				msg  string
			}{
				{"multipleOf", &ipc.Request{Format: `{"type":"integer","multipleOf":2}`}, `keyword "multipleOf"`},
				{"grammar", &ipc.Request{Grammar: `root ::= item`}, `rule "item" is used but not defined`},
				{"top_logprobs", &ipc.Request{Logprobs: true, TopLogprobs: 50}, `top_logprobs 50 must be in [0, 20]`},
			} {
				tc.req.Model, tc.req.Prompt = "stories260K", "x"
				s, err := c.Generate(context.Background(), tc.req)
				if err == nil {
					_, _, _, err = drain(s)
				}
				if ipc.CodeOf(err) != ipc.CodeBadRequest || !strings.Contains(err.Error(), tc.msg) {
					t.Errorf("%s: %v, want bad_request naming %q", tc.name, err, tc.msg)
				}
			}
		})
	}
}
