package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// Piece returns the bytes token id stands for in generated text: spaces
// unescaped, byte tokens as their byte, byte-level BPE mapped back to
// bytes. Control tokens give nothing unless special is set.
func (t *Tokenizer) Piece(id int32, special bool) []byte {
	if id < 0 || int(id) >= len(t.spec.Tokens) {
		return nil
	}
	text := t.spec.Tokens[id]
	switch t.spec.Types[id] {
	case TypeControl:
		if !special {
			return nil
		}
		return []byte(text)
	case TypeUserDefined:
		return []byte(text)
	case TypeUnknown:
		return []byte("\u2585")
	case TypeByte:
		if t.spec.Model == ModelSPM && len(text) == 6 && strings.HasPrefix(text, "<0x") {
			var b byte
			for _, c := range text[3:5] {
				b = b<<4 | hexVal(c)
			}
			return []byte{b}
		}
	}
	if t.spec.Model == ModelBPE {
		out := make([]byte, 0, len(text))
		for _, r := range text {
			if b, ok := runeToByte[r]; ok {
				out = append(out, b)
			} else {
				out = utf8.AppendRune(out, r)
			}
		}
		return out
	}
	return []byte(strings.ReplaceAll(text, "\u2581", " "))
}

func hexVal(c rune) byte {
	switch {
	case c >= '0' && c <= '9':
		return byte(c - '0')
	case c >= 'A' && c <= 'F':
		return byte(c-'A') + 10
	case c >= 'a' && c <= 'f':
		return byte(c-'a') + 10
	}
	return 0
}

// Decode returns the text of ids (control tokens left out), with any
// invalid UTF-8 replaced by U+FFFD.
func (t *Tokenizer) Decode(ids []int32) string {
	d := t.NewStreamDecoder()
	var sb strings.Builder
	for _, id := range ids {
		sb.WriteString(d.Decode(id))
	}
	sb.WriteString(d.Flush())
	return sb.String()
}

// StreamDecoder turns ids into text one at a time, holding back the bytes
// of a UTF-8 sequence split across tokens until it is complete, so that
// every string it returns is valid UTF-8.
type StreamDecoder struct {
	t       *Tokenizer
	pending []byte
}

// NewStreamDecoder returns a decoder for one stream of ids.
func (t *Tokenizer) NewStreamDecoder() *StreamDecoder { return &StreamDecoder{t: t} }

// Decode takes the next id and returns the text now complete.
func (d *StreamDecoder) Decode(id int32) string {
	d.pending = append(d.pending, d.t.Piece(id, false)...)
	return d.drain(false)
}

// Flush returns what is held back; an incomplete sequence becomes U+FFFD.
func (d *StreamDecoder) Flush() string { return d.drain(true) }

func (d *StreamDecoder) drain(final bool) string {
	var sb strings.Builder
	b := d.pending
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n <= 1 {
			if !final && !utf8.FullRune(b) {
				break // an incomplete sequence: wait for more bytes
			}
			sb.WriteRune(utf8.RuneError)
			b = b[1:]
			continue
		}
		sb.Write(b[:n])
		b = b[n:]
	}
	d.pending = append(d.pending[:0], b...)
	return sb.String()
}
