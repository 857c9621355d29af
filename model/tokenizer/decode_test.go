package tokenizer

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/vkinfer/vkinfer/internal/testmodels"
)

// TestSPMRoundTrip: decoding SentencePiece ids gives the text back, with
// the space SentencePiece puts in front.
func TestSPMRoundTrip(t *testing.T) {
	tok := load(t, testmodels.Model(t, "vocab/ggml-vocab-llama-spm.gguf"))
	inputs, _ := readVectors(t, testmodels.Model(t, "vocab/ggml-vocab-llama-spm.gguf"))
	for _, in := range inputs {
		ids, err := tok.Encode(in, false, false)
		if err != nil {
			t.Fatal(err)
		}
		want := in
		if in != "" {
			want = " " + in
		}
		if got := tok.Decode(ids); got != want {
			t.Errorf("Decode(Encode(%q)) = %q", in, got)
		}
	}
}

// TestStreamDecoderHoldsSplitUTF8: an emoji encoded as four byte tokens
// comes out whole, and only once complete.
func TestStreamDecoderHoldsSplitUTF8(t *testing.T) {
	tok := load(t, testmodels.Model(t, "llama/stories260K.gguf"))
	ids, err := tok.Encode("hi 🙂 ok", false, false)
	if err != nil {
		t.Fatal(err)
	}
	d := tok.NewStreamDecoder()
	var chunks []string
	for _, id := range ids {
		s := d.Decode(id)
		if !utf8.ValidString(s) {
			t.Fatalf("chunk %q is not valid UTF-8", s)
		}
		chunks = append(chunks, s)
	}
	chunks = append(chunks, d.Flush())
	if got := strings.Join(chunks, ""); got != " hi 🙂 ok" {
		t.Errorf("decoded %q", got)
	}
	// The emoji's first three byte tokens must have produced nothing.
	var empty int
	for _, c := range chunks {
		if c == "" {
			empty++
		}
	}
	if empty < 3 {
		t.Errorf("split emoji was not held back: chunks %q", chunks)
	}
}

func TestStreamDecoderInvalidBytes(t *testing.T) {
	tok := load(t, testmodels.Model(t, "llama/stories260K.gguf"))
	b0, _ := tok.ID("<0xF0>")
	b1, _ := tok.ID("<0x9F>")
	a, _ := tok.ID("a")
	d := tok.NewStreamDecoder()
	out := d.Decode(b0) + d.Decode(b1) + d.Decode(a) + d.Flush()
	if out != "\uFFFD\uFFFDa" {
		t.Errorf("got %q, want two replacement characters then a", out)
	}
	if tail := tok.NewStreamDecoder(); tail.Decode(b0) != "" || tail.Flush() != "\uFFFD" {
		t.Error("an incomplete sequence at the end should flush as U+FFFD")
	}
}

func TestSpecialTokens(t *testing.T) {
	tok := load(t, testmodels.Model(t, "vocab/ggml-vocab-gpt-2.gguf"))
	eot, ok := tok.ID("<|endoftext|>")
	if !ok || !tok.IsEOG(eot) {
		t.Fatalf("<|endoftext|> = %d (found %v), EOG %v", eot, ok, tok.IsEOG(eot))
	}
	parsed, _ := tok.Encode("a<|endoftext|>b", false, true)
	if len(parsed) != 3 || parsed[1] != eot {
		t.Errorf("parseSpecial: %v", parsed)
	}
	plain, _ := tok.Encode("a<|endoftext|>b", false, false)
	for _, id := range plain {
		if id == eot {
			t.Errorf("special text parsed without parseSpecial: %v", plain)
		}
	}
	if got := string(tok.Piece(eot, false)); got != "" {
		t.Errorf("control token piece %q, want empty", got)
	}
	if _, err := tok.TokenText(int32(tok.VocabSize())); err == nil {
		t.Error("TokenText past the vocabulary succeeded")
	}
}

func BenchmarkEncode(b *testing.B) {
	inputs, _ := readVectors(b, testmodels.Model(b, "vocab/ggml-vocab-llama-spm.gguf"))
	text := strings.Repeat(strings.Join(inputs, "\n"), 20)
	for _, tc := range []struct{ name, path string }{
		{"spm", "vocab/ggml-vocab-llama-spm.gguf"},
		{"bpe-gpt2", "vocab/ggml-vocab-gpt-2.gguf"},
		{"wordpiece", "vocab/ggml-vocab-bert-bge.gguf"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			tok := load(b, testmodels.Model(b, tc.path))
			ids, _ := tok.Encode(text, false, false)
			b.SetBytes(int64(len(text)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := tok.Encode(text, false, false); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(ids)*b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}
