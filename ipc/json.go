package ipc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// JSON is a JSON value (tool definitions, tool call arguments) that
// travels as the equivalent msgpack value: maps, arrays, strings,
// numbers, booleans and nil, map keys in the order given. Integers stay
// integers and floats stay floats, so a template prints them as the
// client wrote them.
type JSON json.RawMessage

// EncodeMsgpack writes j as msgpack.
func (j JSON) EncodeMsgpack(enc *msgpack.Encoder) error {
	if len(j) == 0 {
		return enc.EncodeNil()
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	if err := jsonToMsgpack(dec, enc); err != nil {
		return fmt.Errorf("ipc: encoding JSON as msgpack: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("ipc: encoding JSON as msgpack: trailing data")
	}
	return nil
}

// DecodeMsgpack reads one msgpack value as JSON.
func (j *JSON) DecodeMsgpack(dec *msgpack.Decoder) error {
	var b bytes.Buffer
	if err := msgpackToJSON(dec, &b); err != nil {
		return err
	}
	*j = b.Bytes()
	return nil
}

func jsonToMsgpack(dec *json.Decoder, enc *msgpack.Encoder) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch t := tok.(type) {
	case json.Delim:
		// Collect the elements first: msgpack needs the length up front.
		var items []any
		n := 0
		for dec.More() {
			if t == '{' {
				k, err := dec.Token()
				if err != nil {
					return err
				}
				items = append(items, k)
			}
			var sub bytes.Buffer
			if err := jsonToMsgpack(dec, msgpack.NewEncoder(&sub)); err != nil {
				return err
			}
			items = append(items, msgpack.RawMessage(sub.Bytes()))
			n++
		}
		if _, err := dec.Token(); err != nil {
			return err
		}
		if t == '{' {
			err = enc.EncodeMapLen(n)
		} else {
			err = enc.EncodeArrayLen(n)
		}
		for _, it := range items {
			if err != nil {
				return err
			}
			err = enc.Encode(it)
		}
		return err
	case json.Number:
		if i, err := strconv.ParseInt(string(t), 10, 64); err == nil {
			return enc.EncodeInt(i)
		}
		f, err := t.Float64()
		if err != nil {
			return err
		}
		return enc.EncodeFloat64(f)
	case nil:
		return enc.EncodeNil()
	default: // string, bool
		return enc.Encode(t)
	}
}

// msgpackToJSON converts one msgpack value to JSON; scan has bounded its
// nesting and made map keys strings.
func msgpackToJSON(dec *msgpack.Decoder, b *bytes.Buffer) error {
	c, err := dec.PeekCode()
	if err != nil {
		return err
	}
	switch {
	case c == msgpcode.Nil:
		b.WriteString("null")
		return dec.DecodeNil()
	case c == msgpcode.True || c == msgpcode.False:
		v, err := dec.DecodeBool()
		b.WriteString(strconv.FormatBool(v))
		return err
	case isInt(c):
		if c >= msgpcode.NegFixedNumLow || c >= msgpcode.Int8 && c <= msgpcode.Int64 {
			v, err := dec.DecodeInt64()
			b.WriteString(strconv.FormatInt(v, 10))
			return err
		}
		v, err := dec.DecodeUint64()
		b.WriteString(strconv.FormatUint(v, 10))
		return err
	case c == msgpcode.Float || c == msgpcode.Double:
		v, err := dec.DecodeFloat64()
		if err != nil {
			return err
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%w: %v has no JSON form", ErrBadRequest, v)
		}
		s := strconv.FormatFloat(v, 'g', -1, 64)
		if !bytes.ContainsAny([]byte(s), ".eE") {
			s += ".0" // keep it a float
		}
		b.WriteString(s)
		return nil
	case msgpcode.IsString(c):
		s, err := dec.DecodeString()
		if err != nil {
			return err
		}
		enc := json.NewEncoder(b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			return err
		}
		b.Truncate(b.Len() - 1) // Encode's newline
		return nil
	case msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32:
		n, err := dec.DecodeArrayLen()
		if err != nil {
			return err
		}
		b.WriteByte('[')
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := msgpackToJSON(dec, b); err != nil {
				return err
			}
		}
		b.WriteByte(']')
		return nil
	case isMap(c):
		n, err := dec.DecodeMapLen()
		if err != nil {
			return err
		}
		b.WriteByte('{')
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := msgpackToJSON(dec, b); err != nil {
				return err
			}
			b.WriteByte(':')
			if err := msgpackToJSON(dec, b); err != nil {
				return err
			}
		}
		b.WriteByte('}')
		return nil
	}
	return fmt.Errorf("%w: %s has no JSON form", ErrBadRequest, typeName(c))
}
