package ipc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// ErrBadRequest is wrapped by DecodeRequest's errors for a well-formed
// frame with a field of the wrong msgpack type or out of range: only that
// request fails (bad_request), not the connection.
var ErrBadRequest = errors.New("ipc: bad request")

// DecodeRequest decodes a client frame's payload. A payload that is not
// one well-formed msgpack map with string keys within the limits gives an
// error wrapping ErrMalformed and no request. A field of the wrong type
// (nil counts as absent), a negative id or an integer out of its field's
// range gives an error wrapping ErrBadRequest together with the request as
// far as it decoded: its ID is the frame's id, or 0 when the id itself is
// unusable.
func DecodeRequest(p []byte) (*Request, error) {
	if len(p) == 0 || !isMap(p[0]) {
		return nil, fmt.Errorf("%w: frame does not hold a msgpack map", ErrMalformed)
	}
	if err := scan(p); err != nil {
		return nil, err
	}
	f := &fields{dec: msgpack.NewDecoder(bytes.NewReader(p))}
	var r Request
	f.mapOf("", r.decodeField)
	if f.fatal != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, f.fatal)
	}
	return &r, f.bad
}

// decodeField decodes the value of key, called name in messages; unknown
// keys are skipped, so that newer clients can add fields.
func (r *Request) decodeField(f *fields, key, name string) {
	switch key {
	case "op":
		f.str(name, &r.Op)
	case "id":
		f.uint(name, &r.ID)
	case "version":
		f.str(name, &r.Version)
	case "client":
		f.str(name, &r.Client)
	case "model":
		f.str(name, &r.Model)
	case "prompt":
		f.str(name, &r.Prompt)
	case "messages":
		f.arrayOf(name, func(name string) {
			var m Message
			if f.element(name, "a map") && f.mapOf(name, m.decodeField) {
				r.Messages = append(r.Messages, m)
			}
		})
	case "options":
		var o Options
		if f.mapOf(name, o.decodeField) {
			r.Options = &o
		}
	case "max_tokens":
		f.int(name, &r.MaxTokens)
	case "stop":
		f.strs(name, &r.Stop)
	case "stream":
		var b bool
		if f.bool(name, &b) {
			r.Stream = &b
		}
	case "tools":
		f.arrayOf(name, func(name string) {
			var j JSON
			if f.element(name, "a map") && f.jsonMap(name, &j) {
				r.Tools = append(r.Tools, j)
			}
		})
	case "tool_choice":
		if c, ok := f.next(); ok && isMap(c) {
			// OpenAI's {"type": "function", "function": {"name": ...}}.
			var j JSON
			var choice struct {
				Function struct {
					Name string `json:"name"`
				} `json:"function"`
			}
			if f.jsonMap(name, &j) {
				if json.Unmarshal(j, &choice) != nil || choice.Function.Name == "" {
					f.invalid("%s is a map without function.name", name)
					return
				}
				r.ToolChoice, r.ToolChoiceFunction = "function", choice.Function.Name
			}
		} else if ok {
			f.str(name, &r.ToolChoice)
		}
	case "tokens":
		f.arrayOf(name, func(name string) {
			var n int
			if f.element(name, "an integer") && f.int(name, &n) {
				if n < math.MinInt32 || n > math.MaxInt32 {
					f.invalid("%s %d is out of range", name, n)
					return
				}
				r.Tokens = append(r.Tokens, int32(n))
			}
		})
	case "add_special":
		var b bool
		if f.bool(name, &b) {
			r.AddSpecial = &b
		}
	case "parse_special":
		var b bool
		if f.bool(name, &b) {
			r.ParseSpecial = &b
		}
	case "format":
		if c, ok := f.next(); ok {
			var sb strings.Builder
			switch {
			case msgpcode.IsString(c):
				f.str(name, &r.Format)
			case isMap(c) && f.jsonValue(name, &sb):
				r.Format = sb.String()
			case !isMap(c):
				f.wrong(name, c, "a string or a map")
			}
		}
	case "grammar":
		f.str(name, &r.Grammar)
	case "logprobs":
		f.bool(name, &r.Logprobs)
	case "top_logprobs":
		f.int(name, &r.TopLogprobs)
	case "input":
		f.strs(name, &r.Input)
	case "truncate":
		f.bool(name, &r.Truncate)
	case "dimensions":
		f.int(name, &r.Dimensions)
	default:
		f.skip()
	}
}

func (m *Message) decodeField(f *fields, key, name string) {
	switch key {
	case "role":
		f.str(name, &m.Role)
	case "content":
		f.str(name, &m.Content)
	case "tool_calls":
		f.arrayOf(name, func(name string) {
			var c ToolCall
			if f.element(name, "a map") && f.mapOf(name, c.decodeField) {
				m.ToolCalls = append(m.ToolCalls, c)
			}
		})
	case "tool_call_id":
		f.str(name, &m.ToolCallID)
	case "name":
		f.str(name, &m.Name)
	default:
		f.skip()
	}
}

func (c *ToolCall) decodeField(f *fields, key, name string) {
	switch key {
	case "id":
		f.str(name, &c.ID)
	case "type":
		f.str(name, &c.Type)
	case "function":
		f.mapOf(name, c.Function.decodeField)
	default:
		f.skip()
	}
}

func (fn *ToolFunction) decodeField(f *fields, key, name string) {
	switch key {
	case "name":
		f.str(name, &fn.Name)
	case "arguments":
		// A map, or OpenAI's JSON string holding one.
		if c, ok := f.next(); ok && msgpcode.IsString(c) {
			var s string
			if f.str(name, &s) {
				var obj map[string]json.RawMessage
				if json.Unmarshal([]byte(s), &obj) != nil {
					f.invalid("%s is a string that does not hold a JSON object", name)
					return
				}
				fn.Arguments = JSON(s)
			}
		} else if ok {
			f.jsonMap(name, &fn.Arguments)
		}
	default:
		f.skip()
	}
}

// jsonMap decodes a map (tools, tool call arguments) as JSON; the value
// must have been peeked as non-nil.
func (f *fields) jsonMap(name string, dst *JSON) bool {
	c, err := f.dec.PeekCode()
	if !f.check(err) {
		return false
	}
	if !isMap(c) {
		f.wrong(name, c, "a map")
		return false
	}
	raw, err := f.dec.DecodeRaw()
	if !f.check(err) {
		return false
	}
	// Converted from its own copy, so that a value without a JSON form
	// (a NaN, binary data) fails the request, not the frame.
	var b bytes.Buffer
	if err := msgpackToJSON(msgpack.NewDecoder(bytes.NewReader(raw)), &b); err != nil {
		f.invalid("%s: %v", name, err)
		return false
	}
	*dst = b.Bytes()
	return true
}

func (o *Options) decodeField(f *fields, key, name string) {
	float := func(dst **float64) {
		var v float64
		if f.float(name, &v) {
			*dst = &v
		}
	}
	integer := func(dst **int) {
		var v int
		if f.int(name, &v) {
			*dst = &v
		}
	}
	switch key {
	case "temperature":
		float(&o.Temperature)
	case "top_k":
		integer(&o.TopK)
	case "top_p":
		float(&o.TopP)
	case "min_p":
		float(&o.MinP)
	case "repeat_penalty":
		float(&o.RepeatPenalty)
	case "repeat_last_n":
		integer(&o.RepeatLastN)
	case "presence_penalty":
		float(&o.PresencePenalty)
	case "frequency_penalty":
		float(&o.FrequencyPenalty)
	case "context_size":
		integer(&o.ContextSize)
	case "seed":
		// -1 asks for a random seed, as in llama.cpp and Ollama: the same
		// as no seed.
		n, ok := f.integer(name)
		switch {
		case !ok || n.signed && n.s == -1:
		case n.signed && n.s < -1:
			f.invalid("%s %d must be -1 (random) or >= 0", name, n.s)
		case n.signed:
			v := uint64(n.s)
			o.Seed = &v
		default:
			o.Seed = &n.u
		}
	default:
		f.skip()
	}
}

// fields decodes a frame that scan has checked, strictly by type. The
// first bad field is kept in bad and its value skipped, so that the rest,
// the id above all, still decodes. fatal is a failure of the msgpack
// itself, which scan leaves no room for.
type fields struct {
	dec   *msgpack.Decoder
	bad   error
	fatal error
}

func (f *fields) check(err error) bool {
	if err != nil && f.fatal == nil {
		f.fatal = err
	}
	return f.fatal == nil
}

// invalid records a field whose value is out of range.
func (f *fields) invalid(format string, args ...any) {
	if f.bad == nil {
		f.bad = fmt.Errorf("%w: %s", ErrBadRequest, fmt.Sprintf(format, args...))
	}
}

// wrong records, and skips, a value of type c where want was due.
func (f *fields) wrong(name string, c byte, want string) {
	f.invalid("%s is %s, want %s", name, typeName(c), want)
	f.skip()
}

func (f *fields) skip() { f.check(f.dec.Skip()) }

// next returns the type of the next value. ok is false at a nil, which it
// consumes (an absent field), and after a fatal error.
func (f *fields) next() (c byte, ok bool) {
	if f.fatal != nil {
		return 0, false
	}
	c, err := f.dec.PeekCode()
	if !f.check(err) {
		return 0, false
	}
	if c == msgpcode.Nil {
		f.check(f.dec.DecodeNil())
		return c, false
	}
	return c, true
}

// element checks that an array element, which cannot be absent, is not
// nil; it leaves a non-nil element to be decoded.
func (f *fields) element(name, want string) bool {
	_, ok := f.next()
	if !ok && f.fatal == nil {
		f.invalid("%s is nil, want %s", name, want)
	}
	return ok
}

func (f *fields) str(name string, dst *string) bool {
	c, ok := f.next()
	if !ok {
		return false
	}
	if !msgpcode.IsString(c) {
		f.wrong(name, c, "a string")
		return false
	}
	s, err := f.dec.DecodeString()
	*dst = s
	return f.check(err)
}

func (f *fields) bool(name string, dst *bool) bool {
	c, ok := f.next()
	if !ok {
		return false
	}
	if c != msgpcode.True && c != msgpcode.False {
		f.wrong(name, c, "a bool")
		return false
	}
	b, err := f.dec.DecodeBool()
	*dst = b
	return f.check(err)
}

// wireInt is a msgpack integer: s when signed (an int-family code or a
// negative fixint), else u, so that neither -1 nor 2^64-1 wraps.
type wireInt struct {
	signed bool
	s      int64
	u      uint64
}

func isInt(c byte) bool {
	return msgpcode.IsFixedNum(c) || c >= msgpcode.Uint8 && c <= msgpcode.Int64
}

func (f *fields) integer(name string) (n wireInt, ok bool) {
	c, ok := f.next()
	if !ok {
		return n, false
	}
	if !isInt(c) {
		f.wrong(name, c, "an integer")
		return n, false
	}
	var err error
	if c >= msgpcode.NegFixedNumLow || c >= msgpcode.Int8 && c <= msgpcode.Int64 {
		n.signed = true
		n.s, err = f.dec.DecodeInt64()
	} else {
		n.u, err = f.dec.DecodeUint64()
	}
	return n, f.check(err)
}

func (f *fields) uint(name string, dst *uint64) bool {
	n, ok := f.integer(name)
	switch {
	case !ok:
		return false
	case n.signed && n.s < 0:
		f.invalid("%s %d must be >= 0", name, n.s)
		return false
	case n.signed:
		*dst = uint64(n.s)
	default:
		*dst = n.u
	}
	return true
}

func (f *fields) int(name string, dst *int) bool {
	n, ok := f.integer(name)
	switch {
	case !ok:
		return false
	case !n.signed && n.u > math.MaxInt, n.signed && (n.s > math.MaxInt || n.s < math.MinInt):
		f.invalid("%s is out of range", name)
		return false
	case n.signed:
		*dst = int(n.s)
	default:
		*dst = int(n.u)
	}
	return true
}

// float takes a float32, a float64 or an integer: many msgpack libraries
// write a whole number as an integer.
func (f *fields) float(name string, dst *float64) bool {
	c, ok := f.next()
	if !ok {
		return false
	}
	if isInt(c) {
		n, ok := f.integer(name)
		if n.signed {
			*dst = float64(n.s)
		} else {
			*dst = float64(n.u)
		}
		return ok
	}
	if c != msgpcode.Float && c != msgpcode.Double {
		f.wrong(name, c, "a number")
		return false
	}
	v, err := f.dec.DecodeFloat64()
	*dst = v
	return f.check(err)
}

// mapOf decodes a map, calling field with each key, its name in messages
// (name.key; the key alone in the top-level map, whose name is "") and the
// decoder at its value, which field consumes. scan has made sure keys are
// strings.
func (f *fields) mapOf(name string, field func(f *fields, key, name string)) bool {
	c, ok := f.next()
	if !ok {
		return false
	}
	if !isMap(c) {
		f.wrong(name, c, "a map")
		return false
	}
	n, err := f.dec.DecodeMapLen()
	for i := 0; i < n && f.check(err); i++ {
		var key string
		if key, err = f.dec.DecodeString(); f.check(err) {
			qualified := key
			if name != "" {
				qualified = name + "." + key
			}
			field(f, key, qualified)
		}
	}
	return f.check(err)
}

// arrayOf decodes an array, calling elem with each element's name.
func (f *fields) arrayOf(name string, elem func(name string)) bool {
	c, ok := f.next()
	if !ok {
		return false
	}
	if !msgpcode.IsFixedArray(c) && c != msgpcode.Array16 && c != msgpcode.Array32 {
		f.wrong(name, c, "an array")
		return false
	}
	n, err := f.dec.DecodeArrayLen()
	for i := 0; i < n && f.check(err); i++ {
		elem(fmt.Sprintf("%s[%d]", name, i))
	}
	return f.check(err)
}

// strs decodes an array of strings; a nil element is of the wrong type.
func (f *fields) strs(name string, dst *[]string) bool {
	return f.arrayOf(name, func(name string) {
		var s string
		if f.element(name, "a string") && f.str(name, &s) {
			*dst = append(*dst, s)
		}
	})
}

// jsonValue decodes any value as JSON text into sb, map keys in their
// order (a schema's properties order its output).
func (f *fields) jsonValue(name string, sb *strings.Builder) bool {
	c, err := f.dec.PeekCode()
	if !f.check(err) {
		return false
	}
	switch {
	case c == msgpcode.Nil:
		sb.WriteString("null")
		return f.check(f.dec.DecodeNil())
	case c == msgpcode.True || c == msgpcode.False:
		var b bool
		f.bool(name, &b)
		sb.WriteString(strconv.FormatBool(b))
	case isInt(c):
		n, _ := f.integer(name)
		if n.signed {
			sb.WriteString(strconv.FormatInt(n.s, 10))
		} else {
			sb.WriteString(strconv.FormatUint(n.u, 10))
		}
	case c == msgpcode.Float || c == msgpcode.Double:
		var v float64
		f.float(name, &v)
		if math.IsNaN(v) || math.IsInf(v, 0) {
			f.invalid("%s holds %v, which JSON cannot", name, v)
			return false
		}
		sb.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
	case msgpcode.IsString(c):
		var s string
		f.str(name, &s)
		q, _ := json.Marshal(s) // a string always marshals
		sb.Write(q)
	case msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32:
		sb.WriteByte('[')
		i := 0
		f.arrayOf(name, func(name string) {
			if i > 0 {
				sb.WriteByte(',')
			}
			i++
			f.jsonValue(name, sb)
		})
		sb.WriteByte(']')
	case isMap(c):
		n, err := f.dec.DecodeMapLen()
		sb.WriteByte('{')
		for i := 0; i < n && f.check(err); i++ {
			var key string
			if key, err = f.dec.DecodeString(); f.check(err) {
				if i > 0 {
					sb.WriteByte(',')
				}
				q, _ := json.Marshal(key)
				sb.Write(q)
				sb.WriteByte(':')
				f.jsonValue(name+"."+key, sb)
			}
		}
		sb.WriteByte('}')
	default:
		f.wrong(name, c, "a JSON value")
	}
	return f.fatal == nil && f.bad == nil
}

// typeName names the msgpack type that code c starts, for messages.
func typeName(c byte) string {
	switch {
	case isInt(c):
		return "an integer"
	case c == msgpcode.Float || c == msgpcode.Double:
		return "a float"
	case msgpcode.IsString(c):
		return "a string"
	case msgpcode.IsBin(c):
		return "binary data"
	case c == msgpcode.True || c == msgpcode.False:
		return "a bool"
	case c == msgpcode.Nil:
		return "nil"
	case msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32:
		return "an array"
	case isMap(c):
		return "a map"
	case msgpcode.IsExt(c):
		return "an extension"
	}
	return fmt.Sprintf("type %#02x", c)
}
