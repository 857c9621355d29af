package ipc

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

func pack(t *testing.T, v any) []byte {
	t.Helper()
	b, err := msgpack.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDecodeRequestRoundTrip: every field the client encodes decodes back,
// so the hand-written decoder and the struct tags agree.
func TestDecodeRequestRoundTrip(t *testing.T) {
	f, i, seed, stream := 0.5, 3, uint64(math.MaxUint64), false
	want := &Request{
		Op: OpGenerate, ID: math.MaxUint64, Version: "1.0", Client: "c", Model: "m", Prompt: "p",
		Messages:  []Message{{Role: "user", Content: "hi"}, {Role: "assistant", Content: ""}},
		Options:   &Options{Temperature: &f, TopK: &i, TopP: &f, MinP: &f, RepeatPenalty: &f, RepeatLastN: &i, PresencePenalty: &f, FrequencyPenalty: &f, Seed: &seed},
		MaxTokens: 7, Stop: []string{"a", "b"}, Stream: &stream, Input: []string{"x"}, Truncate: true, Dimensions: 9,
		Tools:      []JSON{JSON(`{"type":"function","function":{"name":"f","parameters":{"b":1,"a":[1.5,"x<&>",true,null,-3,1.0]}}}`)},
		ToolChoice: "auto", Tokens: []int32{1, -2, math.MaxInt32}, AddSpecial: &stream, ParseSpecial: &stream,
		Format: `{"type":"string"}`, Grammar: `root ::= "a"`, Logprobs: true, TopLogprobs: 4,
	}
	want.Messages = append(want.Messages,
		Message{Role: "assistant", ToolCalls: []ToolCall{{ID: "c1", Type: "function", Function: ToolFunction{Name: "f", Arguments: JSON(`{"z":{},"a":[]}`)}}}},
		Message{Role: "tool", Content: "42", ToolCallID: "c1", Name: "f"})
	b, err := Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeRequest(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decoded %+v\nwant %+v", got, want)
	}
}

// TestDecodeRequestTypes: values of the right type decode (nil as absent,
// integers where floats are due, seed -1 as no seed); a field of the wrong
// type or range is ErrBadRequest with the frame's id, or id 0 when the id
// is the bad field.
func TestDecodeRequestTypes(t *testing.T) {
	zero, seed := 0.0, uint64(math.MaxUint64)
	tests := []struct {
		name  string
		frame map[string]any
		want  *Request // with a nil error
		badID uint64   // want ErrBadRequest with this id, when want is nil
	}{
		{"nil is absent", map[string]any{"op": "generate", "id": 1, "model": nil, "options": nil, "stream": nil},
			&Request{Op: "generate", ID: 1}, 0},
		{"integer temperature", map[string]any{"op": "generate", "id": 1, "options": map[string]any{"temperature": 0}},
			&Request{Op: "generate", ID: 1, Options: &Options{Temperature: &zero}}, 0},
		{"seed -1 is random", map[string]any{"op": "generate", "id": 1, "options": map[string]any{"seed": -1}},
			&Request{Op: "generate", ID: 1, Options: &Options{}}, 0},
		{"largest seed", map[string]any{"op": "generate", "id": 1, "options": map[string]any{"seed": uint64(math.MaxUint64)}},
			&Request{Op: "generate", ID: 1, Options: &Options{Seed: &seed}}, 0},
		{"largest id", map[string]any{"op": "ping", "id": uint64(math.MaxUint64)},
			&Request{Op: "ping", ID: math.MaxUint64}, 0},
		{"id as a signed positive", map[string]any{"op": "ping", "id": int64(5)},
			&Request{Op: "ping", ID: 5}, 0},

		{"tool_choice naming a function", map[string]any{"op": "generate", "id": 1, "tool_choice": map[string]any{"type": "function", "function": map[string]any{"name": "f"}}},
			&Request{Op: "generate", ID: 1, ToolChoice: "function", ToolChoiceFunction: "f"}, 0},
		{"arguments as a JSON string", map[string]any{"op": "generate", "id": 1, "messages": []any{map[string]any{"role": "assistant",
			"tool_calls": []any{map[string]any{"function": map[string]any{"name": "f", "arguments": `{"a": 1}`}}}}}},
			&Request{Op: "generate", ID: 1, Messages: []Message{{Role: "assistant", ToolCalls: []ToolCall{{Function: ToolFunction{Name: "f", Arguments: JSON(`{"a": 1}`)}}}}}}, 0},

		{"arguments a string of no object", map[string]any{"op": "generate", "id": 3, "messages": []any{map[string]any{"role": "assistant",
			"tool_calls": []any{map[string]any{"function": map[string]any{"name": "f", "arguments": `[1]`}}}}}}, nil, 3},
		{"arguments an array", map[string]any{"op": "generate", "id": 3, "messages": []any{map[string]any{"role": "assistant",
			"tool_calls": []any{map[string]any{"function": map[string]any{"arguments": []any{1}}}}}}}, nil, 3},
		{"tool not a map", map[string]any{"op": "generate", "id": 3, "tools": []any{"f"}}, nil, 3},
		{"tool with NaN", map[string]any{"op": "generate", "id": 3, "tools": []any{map[string]any{"x": math.NaN()}}}, nil, 3},
		{"tool with binary", map[string]any{"op": "generate", "id": 3, "tools": []any{map[string]any{"x": []byte("b")}}}, nil, 3},
		{"token past int32", map[string]any{"op": "detokenize", "id": 3, "tokens": []any{1, int64(math.MaxInt32) + 1}}, nil, 3},
		{"token a string", map[string]any{"op": "detokenize", "id": 3, "tokens": []any{"1"}}, nil, 3},
		{"model 5", map[string]any{"op": "generate", "id": 3, "model": 5}, nil, 3},
		{"binary prompt", map[string]any{"op": "generate", "id": 3, "prompt": []byte("hi")}, nil, 3},
		{"seed -2", map[string]any{"op": "generate", "id": 3, "options": map[string]any{"seed": -2}}, nil, 3},
		{"string temperature", map[string]any{"op": "generate", "id": 3, "options": map[string]any{"temperature": "hot"}}, nil, 3},
		{"options not a map", map[string]any{"op": "generate", "id": 3, "options": 5}, nil, 3},
		{"stream 1", map[string]any{"op": "generate", "id": 3, "stream": 1}, nil, 3},
		{"stop with a number", map[string]any{"op": "generate", "id": 3, "stop": []any{"a", 5}}, nil, 3},
		{"stop with nil", map[string]any{"op": "generate", "id": 3, "stop": []any{nil}}, nil, 3},
		{"message role 5", map[string]any{"op": "generate", "id": 3, "messages": []any{map[string]any{"role": 5}}}, nil, 3},
		{"nil message", map[string]any{"op": "generate", "id": 3, "messages": []any{nil}}, nil, 3},
		{"max_tokens past int64", map[string]any{"op": "generate", "id": 3, "max_tokens": uint64(math.MaxUint64)}, nil, 3},
		{"binary input", map[string]any{"op": "embed", "id": 3, "input": []any{[]byte("x")}}, nil, 3},
		{"op 5", map[string]any{"op": 5, "id": 3}, nil, 3},
		{"id -1", map[string]any{"op": "ping", "id": -1}, nil, 0},
		{"id as a string", map[string]any{"op": "ping", "id": "7"}, nil, 0},
		{"id 1.5", map[string]any{"op": "ping", "id": 1.5}, nil, 0},
		{"tool_choice map without a name", map[string]any{"op": "generate", "id": 3, "tool_choice": map[string]any{"type": "function"}}, nil, 3},
	}
	for _, tc := range tests {
		got, err := DecodeRequest(pack(t, tc.frame))
		if tc.want != nil {
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%s: %+v, %v; want %+v", tc.name, got, err, tc.want)
			}
			continue
		}
		if !errors.Is(err, ErrBadRequest) || errors.Is(err, ErrMalformed) || got == nil || got.ID != tc.badID {
			t.Errorf("%s: %+v, %v; want ErrBadRequest with id %d", tc.name, got, err, tc.badID)
		}
	}
}

// nest returns {"op": "ping", "id": 1, "x": v} with v depth-1 arrays
// nested in each other: depth containers in all.
func nest(depth int) []byte {
	b := []byte{0x83, 0xa2, 'o', 'p', 0xa4, 'p', 'i', 'n', 'g', 0xa2, 'i', 'd', 0x01, 0xa1, 'x'}
	b = append(b, bytes.Repeat([]byte{0x91}, depth-1)...)
	return append(b, 0x01)
}

// TestDecodeRequestMalformed: frames that are not one msgpack map with
// string keys within MaxDepth are ErrMalformed; the top-level map counts
// as the first of the MaxDepth containers, empty containers count too.
func TestDecodeRequestMalformed(t *testing.T) {
	// The innermost 1 replaced by an empty array: one container more.
	emptyInside := func(depth int) []byte {
		b := nest(depth - 1)
		b[len(b)-1] = 0x90
		return b
	}
	for _, tc := range []struct {
		name  string
		frame []byte
		ok    bool
	}{
		{"nesting at the limit", nest(MaxDepth), true},
		{"empty array at the limit", emptyInside(MaxDepth), true},
		{"nesting one past the limit", nest(MaxDepth + 1), false},
		{"empty array one past the limit", emptyInside(MaxDepth + 1), false},
		{"binary key", []byte{0x82, 0xa2, 'o', 'p', 0xa4, 'p', 'i', 'n', 'g', 0xc4, 2, 'i', 'd', 0x01}, false},
		{"integer key", []byte{0x82, 0xa2, 'o', 'p', 0xa4, 'p', 'i', 'n', 'g', 0x05, 0x01}, false},
		{"binary key in options", []byte{0x83, 0xa2, 'o', 'p', 0xa4, 'p', 'i', 'n', 'g', 0xa2, 'i', 'd', 0x01,
			0xa7, 'o', 'p', 't', 'i', 'o', 'n', 's', 0x81, 0xc4, 1, 'x', 0x01}, false},
		{"binary value of an unknown field", []byte{0x83, 0xa2, 'o', 'p', 0xa4, 'p', 'i', 'n', 'g', 0xa2, 'i', 'd', 0x01, 0xa1, 'x', 0xc4, 1, 'y'}, true},
	} {
		r, err := DecodeRequest(tc.frame)
		if tc.ok {
			if err != nil || r.Op != OpPing || r.ID != 1 {
				t.Errorf("%s: %+v, %v", tc.name, r, err)
			}
		} else if !errors.Is(err, ErrMalformed) || r != nil {
			t.Errorf("%s: %+v, %v; want ErrMalformed", tc.name, r, err)
		}
	}
}
