package ipc

import (
	"bytes"
	"context"
	"io"
	"reflect"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// toolsHandler answers generate with a tool call on the done frame and
// implements TokenHandler over a vocabulary of one token per byte.
type toolsHandler struct{ scripted }

func (h *toolsHandler) Generate(ctx context.Context, req *Request, emit func(Chunk) error) (*Stats, error) {
	if err := emit(Chunk{Text: `<tool_call>{"name": "f"}</tool_call>`, Tokens: []int32{1}}); err != nil {
		return nil, err
	}
	return &Stats{StopReason: "eog", ToolCalls: []ToolCall{{ID: "c1", Type: "function",
		Function: ToolFunction{Name: "f", Arguments: JSON(`{"b":[1,2.5],"a":"x"}`)}}}, Content: "ok"}, nil
}

func (h *toolsHandler) Tokenize(ctx context.Context, req *Request) ([]int32, error) {
	var ids []int32
	for _, b := range []byte(req.Prompt) {
		ids = append(ids, int32(b))
	}
	return ids, nil
}

func (h *toolsHandler) Detokenize(ctx context.Context, req *Request) (string, error) {
	var b []byte
	for _, id := range req.Tokens {
		b = append(b, byte(id))
	}
	return string(b), nil
}

// TestToolCallsOnDone: the done frame carries the handler's tool calls
// (arguments a msgpack map, keys in order) and content, for streamed and
// whole replies; tokenize and detokenize reach a TokenHandler.
func TestToolCallsOnDone(t *testing.T) {
	_, path := serve(t, &toolsHandler{})
	c := dial(t, path)
	ctx := context.Background()
	want := []ToolCall{{ID: "c1", Type: "function", Function: ToolFunction{Name: "f", Arguments: JSON(`{"b":[1,2.5],"a":"x"}`)}}}
	for _, stream := range []bool{true, false} {
		s, err := c.Generate(ctx, &Request{Model: "m", Prompt: "p", Stream: &stream})
		if err != nil {
			t.Fatal(err)
		}
		for {
			if _, err = s.Next(); err != nil {
				break
			}
		}
		if err != io.EOF {
			t.Fatal(err)
		}
		if st := s.Stats(); !reflect.DeepEqual(st.ToolCalls, want) || st.Content != "ok" {
			t.Errorf("stream=%v: tool calls %+v content %q, want %+v", stream, st.ToolCalls, st.Content, want)
		}
	}
	ids, err := c.Tokenize(ctx, &Request{Model: "m", Prompt: "hi"})
	if err != nil || !reflect.DeepEqual(ids, []int32{'h', 'i'}) {
		t.Errorf("tokenize: %v, %v", ids, err)
	}
	if text, err := c.Detokenize(ctx, "m", ids); err != nil || text != "hi" {
		t.Errorf("detokenize: %q, %v", text, err)
	}
	if _, err := c.Tokenize(ctx, &Request{Prompt: "hi"}); CodeOf(err) != CodeBadRequest {
		t.Errorf("tokenize without a model: %v", err)
	}
	// A handler without TokenHandler answers unknown_op.
	_, plain := serve(t, &scripted{})
	if _, err := dial(t, plain).Tokenize(ctx, &Request{Model: "m", Prompt: "hi"}); CodeOf(err) != CodeUnknownOp {
		t.Errorf("tokenize on a plain handler: %v, want unknown_op", err)
	}
}

// TestJSONMsgpack: JSON travels as the equivalent msgpack value with keys
// in order, integers and floats kept apart, and comes back the same.
func TestJSONMsgpack(t *testing.T) {
	for _, tc := range []struct{ in, back string }{
		{`{"z":1,"a":{"y":[true,false,null]},"m":-2.5e-7,"n":3.0,"s":"\u00e9<&>\n"}`, `{"z":1,"a":{"y":[true,false,null]},"m":-2.5e-07,"n":3.0,"s":"é<&>\n"}`},
		{`[]`, `[]`},
		{` {"big": 18446744073709551615} `, `{"big":1.8446744073709552e+19}`},
	} {
		var buf bytes.Buffer
		if err := msgpack.NewEncoder(&buf).Encode(JSON(tc.in)); err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		var back JSON
		if err := msgpack.NewDecoder(&buf).Decode(&back); err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		if string(back) != tc.back {
			t.Errorf("%s came back as %s, want %s", tc.in, back, tc.back)
		}
	}
	if err := msgpack.NewEncoder(io.Discard).Encode(JSON(`{"a":1} x`)); err == nil {
		t.Error("JSON with trailing data encoded")
	}
}
