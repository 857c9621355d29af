package ipc

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// TestDecodeFormat: format is a string, or a map turned into JSON text
// with its keys in wire order (the order of a schema's properties is the
// order of the output's); any other type is a bad request.
func TestDecodeFormat(t *testing.T) {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.EncodeMapLen(3)
	enc.EncodeString("op")
	enc.EncodeString("generate")
	enc.EncodeString("id")
	enc.EncodeUint(1)
	enc.EncodeString("format")
	// {"type":"object","properties":{"z":{"enum":[1,-2,2.5,true,null,"q\""]},"a":{}}}
	enc.EncodeMapLen(2)
	enc.EncodeString("type")
	enc.EncodeString("object")
	enc.EncodeString("properties")
	enc.EncodeMapLen(2)
	enc.EncodeString("z")
	enc.EncodeMapLen(1)
	enc.EncodeString("enum")
	enc.Encode([]any{1, -2, 2.5, true, nil, `q"`})
	enc.EncodeString("a")
	enc.EncodeMapLen(0)
	r, err := DecodeRequest(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	want := `{"type":"object","properties":{"z":{"enum":[1,-2,2.5,true,null,"q\""]},"a":{}}}`
	if r.Format != want {
		t.Errorf("format %s\nwant %s", r.Format, want)
	}
	for _, tc := range []struct {
		name  string
		frame map[string]any
		msg   string
	}{
		{"format 5", map[string]any{"op": "generate", "id": 3, "format": 5}, "ipc: bad request: format is an integer, want a string or a map"},
		{"binary in a schema", map[string]any{"op": "generate", "id": 3, "format": map[string]any{"x": []byte("b")}},
			"ipc: bad request: format.x is binary data, want a JSON value"},
		{"top_logprobs as a string", map[string]any{"op": "generate", "id": 3, "top_logprobs": "5"},
			"ipc: bad request: top_logprobs is a string, want an integer"},
		{"logprobs 1", map[string]any{"op": "generate", "id": 3, "logprobs": 1}, "ipc: bad request: logprobs is an integer, want a bool"},
	} {
		got, err := DecodeRequest(pack(t, tc.frame))
		if !errors.Is(err, ErrBadRequest) || err.Error() != tc.msg || got == nil || got.ID != 3 {
			t.Errorf("%s: %+v, %v; want %q", tc.name, got, err, tc.msg)
		}
	}
	got, err := DecodeRequest(pack(t, map[string]any{"op": "generate", "id": 3, "format": "json", "grammar": "root ::= x"}))
	if err != nil || got.Format != "json" || got.Grammar != "root ::= x" {
		t.Errorf("string format: %+v, %v", got, err)
	}
}

// withLogprobs emits one chunk carrying logprobs.
type withLogprobs struct{ scripted }

var sampleLogprobs = []TokenLogprob{{
	TopLogprob:  TopLogprob{ID: 7, Token: "\uFFFD", Bytes: []byte{0xe6}, Logprob: -0.5},
	TopLogprobs: []TopLogprob{{ID: 7, Token: "\uFFFD", Bytes: []byte{0xe6}, Logprob: -0.5}, {ID: 9, Token: " a", Bytes: []byte(" a"), Logprob: -1.25}},
}}

func (h *withLogprobs) Generate(ctx context.Context, req *Request, emit func(Chunk) error) (*Stats, error) {
	return &Stats{StopReason: "eog"}, emit(Chunk{Text: "", Tokens: []int32{7}, Logprobs: sampleLogprobs})
}

// TestChunkLogprobs: logprobs travel in chunk frames (and in the done
// frame of stream=false), with the documented keys, and the client
// decodes them back.
func TestChunkLogprobs(t *testing.T) {
	_, path := serve(t, &withLogprobs{})
	r := rawDial(t, path, true)
	r.send(&Request{Op: OpGenerate, ID: 1, Model: "m", Prompt: "p", Logprobs: true})
	chunk := r.recvMap()
	wantTop := func(id int32, token string, b []byte, lp float32) map[string]any {
		return map[string]any{"id": id, "token": token, "bytes": b, "logprob": lp}
	}
	want := wantTop(7, "\uFFFD", []byte{0xe6}, -0.5)
	want["top_logprobs"] = []any{wantTop(7, "\uFFFD", []byte{0xe6}, -0.5), wantTop(9, " a", []byte(" a"), -1.25)}
	if got := chunk["logprobs"]; !reflect.DeepEqual(got, []any{want}) {
		t.Errorf("chunk logprobs %#v\nwant %#v", got, []any{want})
	}
	r.recvMap() // done

	c := dial(t, path)
	f := false
	for _, stream := range []*bool{nil, &f} {
		s, err := c.Generate(context.Background(), &Request{Model: "m", Prompt: "p", Stream: stream})
		if err != nil {
			t.Fatal(err)
		}
		ch, err := s.Next()
		if err != nil || !reflect.DeepEqual(ch.Logprobs, sampleLogprobs) {
			t.Errorf("stream %v: client chunk %+v, %v", stream, ch, err)
		}
	}
}
