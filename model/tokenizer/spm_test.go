package tokenizer

import (
	"bytes"
	"fmt"
	"slices"
	"testing"

	"github.com/vkinfer/vkinfer/gguf"
)

// gemmaVocab writes a GGUF laid out like gemma's SentencePiece vocabulary
// (pad, eos, bos, unk first; user-defined pieces; all 256 byte pieces) and
// loads its tokenizer. Byte b is id 15+b.
func gemmaVocab(t *testing.T, addSpacePrefix bool) *Tokenizer {
	t.Helper()
	tokens := []string{"<pad>", "<eos>", "<bos>", "<unk>", "<c>", "<h1>", "\n\n", "ab", "bcd", "\u2581", "a", "b", "c", "d", "\u2581a"}
	types := []int32{3, 3, 3, 2, 3, 4, 4, 4, 4, 1, 1, 1, 1, 1, 1}
	scores := []float32{0, 0, 0, 0, 0, 0, 0, 0, 0, -10, -10, -10, -10, -10, -1}
	for b := range 256 {
		tokens = append(tokens, fmt.Sprintf("<0x%02X>", b))
		types = append(types, int32(TypeByte))
		scores = append(scores, 0)
	}
	bld := gguf.NewBuilder()
	bld.SetString("tokenizer.ggml.model", "llama")
	bld.SetArray("tokenizer.ggml.tokens", gguf.Array{Elem: gguf.ValueString, Data: tokens})
	bld.SetArray("tokenizer.ggml.scores", gguf.Array{Elem: gguf.ValueFloat32, Data: scores})
	bld.SetArray("tokenizer.ggml.token_type", gguf.Array{Elem: gguf.ValueInt32, Data: types})
	for key, id := range map[string]uint32{"bos_token_id": 2, "eos_token_id": 1, "unknown_token_id": 3, "padding_token_id": 0} {
		bld.SetUint32("tokenizer.ggml."+key, id)
	}
	bld.SetBool("tokenizer.ggml.add_bos_token", true)
	bld.SetBool("tokenizer.ggml.add_eos_token", false)
	bld.SetBool("tokenizer.ggml.add_space_prefix", addSpacePrefix)
	var buf bytes.Buffer
	if _, err := bld.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Parse("gemma-vocab", buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	tok, err := FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestSPMUserDefined checks gemma-style SPM as llama.cpp tokenizes it:
// user-defined pieces (type 4) are cut out of the raw text before
// SentencePiece runs, whether or not special text is parsed, the longest
// piece first over the whole text (so "bcd" wins over "ab" in "abcd", as
// llama.cpp's partition does, not the leftmost match); control pieces only
// with parseSpecial; characters with no piece fall back to <0xXX> bytes;
// the space prefix, when the vocabulary asks for it, goes before text that
// starts the input or follows a special piece.
func TestSPMUserDefined(t *testing.T) {
	for _, tc := range []struct {
		spacePrefix, addSpecial, parseSpecial bool
		text                                  string
		want                                  []int32
	}{
		{false, false, false, "<h1>a", []int32{5, 10}},
		{false, false, false, "abcd", []int32{10, 8}},
		{false, false, false, "ab\n\nab", []int32{7, 6, 7}},
		{false, false, false, "\n\n\n", []int32{6, 15 + '\n'}},
		{false, false, false, "a\nb", []int32{10, 15 + '\n', 11}},
		{false, false, false, "é", []int32{15 + 0xC3, 15 + 0xA9}},
		{false, false, false, " a", []int32{14}},
		{false, false, false, "<c>a", []int32{15 + '<', 12, 15 + '>', 10}},
		{false, false, true, "<c>a", []int32{4, 10}},
		{false, true, false, "a", []int32{2, 10}},
		{true, false, false, "a<h1>a", []int32{14, 5, 14}},
		{true, false, false, "<h1>", []int32{5}},
		{true, true, false, "ab", []int32{2, 7}},
	} {
		tok := gemmaVocab(t, tc.spacePrefix)
		got, err := tok.Encode(tc.text, tc.addSpecial, tc.parseSpecial)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%q (space prefix %v, special %v, parse %v):\n got %v\nwant %v", tc.text, tc.spacePrefix, tc.addSpecial, tc.parseSpecial, got, tc.want)
		}
		// Decoding gives the text back unless a space was added or a
		// control piece (which decodes to nothing) was parsed.
		if dec := tok.Decode(got); !tc.spacePrefix && !tc.parseSpecial && dec != tc.text {
			t.Errorf("Decode(%v) = %q, want %q", got, dec, tc.text)
		}
	}
}
