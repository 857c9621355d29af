package gguf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/vkinfer/vkinfer/internal/testmodels"
)

func sharedFiles(t testing.TB) []string {
	dir := testmodels.Path(t, "models")
	var paths []string
	for _, pattern := range []string{"llama/*.gguf", "embed/*.gguf", "vocab/*.gguf"} {
		m, _ := filepath.Glob(filepath.Join(dir, pattern))
		paths = append(paths, m...)
	}
	if len(paths) < 15 {
		t.Fatalf("found only %d shared GGUF files", len(paths))
	}
	return paths
}

// TestRoundTripShared: every shared model reads and writes back to the
// same bytes.
func TestRoundTripShared(t *testing.T) {
	for _, path := range sharedFiles(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			orig, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			f, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var buf bytes.Buffer
			if _, err := FromFile(f).WriteTo(&buf); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), orig) {
				n := 0
				for n < min(buf.Len(), len(orig)) && buf.Bytes()[n] == orig[n] {
					n++
				}
				t.Fatalf("written %d bytes, original %d; first difference at byte %d", buf.Len(), len(orig), n)
			}
		})
	}
}

// TestBuilderRoundTrip writes every value type, nested arrays and tensors,
// and reads them back equal.
func TestBuilderRoundTrip(t *testing.T) {
	b := NewBuilder()
	b.SetString("general.architecture", "llama")
	b.Set("u8", Value{ValueUint8, uint8(200)})
	b.Set("i8", Value{ValueInt8, int8(-5)})
	b.Set("u16", Value{ValueUint16, uint16(65000)})
	b.Set("i16", Value{ValueInt16, int16(-30000)})
	b.SetUint32("u32", 4000000000)
	b.Set("i32", Value{ValueInt32, int32(-2000000000)})
	b.SetFloat32("f32", 1.5)
	b.SetBool("b", true)
	b.Set("u64", Value{ValueUint64, uint64(1) << 60})
	b.Set("i64", Value{ValueInt64, int64(-1) << 60})
	b.Set("f64", Value{ValueFloat64, 2.25})
	b.SetArray("strings", Array{ValueString, []string{"a", "", "ünï"}})
	b.SetArray("floats", Array{ValueFloat32, []float32{1, -2, 3.5}})
	b.SetArray("bools", Array{ValueBool, []bool{true, false}})
	b.SetArray("empty", Array{ValueInt32, []int32{}})
	b.SetArray("nested", Array{ValueArray, []Array{{ValueUint8, []uint8{1, 2}}, {ValueString, []string{"x"}}}})
	b.SetUint32("general.alignment", 64)
	b.Alignment = 64
	if err := b.AddTensor("a", TypeF32, []uint64{3, 2}, make([]byte, 24)); err != nil {
		t.Fatal(err)
	}
	q := bytes.Repeat([]byte{7}, 34*2)
	if err := b.AddTensor("b", TypeQ8_0, []uint64{64}, q); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := b.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	f, err := Parse("built", buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f.KV, b.KV) {
		t.Errorf("metadata differs:\n got %#v\nwant %#v", f.KV, b.KV)
	}
	tb, _ := f.Tensor("b")
	if tb.Offset%64 != 0 || !bytes.Equal(f.TensorData(tb), q) {
		t.Errorf("tensor b at %d: data differs", tb.Offset)
	}
	if err := b.AddTensor("a", TypeF32, []uint64{1}, make([]byte, 4)); err == nil {
		t.Error("duplicate tensor accepted")
	}
	if err := b.AddTensor("c", TypeQ8_0, []uint64{33}, make([]byte, 34)); err == nil {
		t.Error("partial block accepted")
	}
	bad := NewBuilder()
	bad.Set("x", Value{ValueUint32, "not a number"})
	if _, err := bad.WriteTo(&bytes.Buffer{}); err == nil {
		t.Error("mistyped value written")
	}
}

// header builds a GGUF image by hand for the validation cases.
type header struct{ buf bytes.Buffer }

func (h *header) u32(v uint32) *header  { binary.Write(&h.buf, binary.LittleEndian, v); return h }
func (h *header) u64(v uint64) *header  { binary.Write(&h.buf, binary.LittleEndian, v); return h }
func (h *header) str(s string) *header  { h.u64(uint64(len(s))); h.buf.WriteString(s); return h }
func (h *header) raw(b ...byte) *header { h.buf.Write(b); return h }
func start(version uint32, tensors, kvs uint64) *header {
	h := &header{}
	return h.u32(magic).u32(version).u64(tensors).u64(kvs)
}

func tensorInfo(h *header, name string, dims []uint64, typ Type, off uint64) *header {
	h.str(name).u32(uint32(len(dims)))
	for _, d := range dims {
		h.u64(d)
	}
	return h.u32(uint32(typ)).u64(off)
}

func TestParseErrors(t *testing.T) {
	nested := start(3, 0, 1).str("deep").u32(uint32(ValueArray))
	for range 10 {
		nested.u32(uint32(ValueArray)).u64(1)
	}
	padTo := func(h *header, n int) *header { h.buf.Write(make([]byte, n)); return h }
	tests := []struct {
		name  string
		data  []byte
		is    error
		match string
	}{
		{"empty", nil, ErrFormat, "magic"},
		{"bad magic", []byte("GGML\x03\x00\x00\x00"), ErrFormat, "bad magic"},
		{"version 1", start(1, 0, 0).buf.Bytes(), ErrVersion, "version 1"},
		{"big endian", (&header{}).u32(magic).raw(0, 0, 0, 3).u64(0).u64(0).buf.Bytes(), ErrVersion, "big-endian"},
		{"huge tensor count", start(3, 1<<40, 0).buf.Bytes(), ErrFormat, "tensor count"},
		{"huge kv count", start(3, 0, 1<<40).buf.Bytes(), ErrFormat, "metadata count"},
		{"huge string", start(3, 0, 1).u64(1 << 50).raw(make([]byte, 16)...).buf.Bytes(), ErrFormat, "length"},
		{"unknown value type", start(3, 0, 1).str("k").u32(99).buf.Bytes(), ErrFormat, "unknown value type"},
		{"bad bool", start(3, 0, 1).str("k").u32(uint32(ValueBool)).raw(2).buf.Bytes(), ErrFormat, "bool"},
		{"huge array", start(3, 0, 1).str("k").u32(uint32(ValueArray)).u32(uint32(ValueUint32)).u64(1 << 40).buf.Bytes(), ErrFormat, "element count"},
		{"unknown array type", start(3, 0, 1).str("k").u32(uint32(ValueArray)).u32(77).u64(0).buf.Bytes(), ErrFormat, "element type"},
		{"nested too deep", nested.buf.Bytes(), ErrFormat, "nested deeper"},
		{"duplicate key", start(3, 0, 2).str("k").u32(uint32(ValueUint8)).raw(1).str("k").u32(uint32(ValueUint8)).raw(2).buf.Bytes(), ErrFormat, "duplicate metadata"},
		{"bad alignment", start(3, 0, 1).str("general.alignment").u32(uint32(ValueUint32)).u32(48).buf.Bytes(), ErrFormat, "alignment"},
		{"rank 0", tensorInfo(start(3, 1, 0), "t", nil, TypeF32, 0).buf.Bytes(), ErrFormat, "rank 0"},
		{"rank 5", tensorInfo(start(3, 1, 0), "t", []uint64{1, 1, 1, 1, 1}, TypeF32, 0).buf.Bytes(), ErrFormat, "rank 5"},
		{"unknown tensor type", tensorInfo(start(3, 1, 0), "t", []uint64{4}, 99, 0).buf.Bytes(), ErrUnknownType, `"t" has type 99`},
		{"element overflow", tensorInfo(start(3, 1, 0), "t", []uint64{1 << 40, 1 << 40}, TypeF32, 0).buf.Bytes(), ErrFormat, "overflows"},
		{"partial block", tensorInfo(start(3, 1, 0), "t", []uint64{33}, TypeQ8_0, 0).buf.Bytes(), ErrFormat, "whole number"},
		{"misaligned offset", padTo(tensorInfo(start(3, 1, 0), "t", []uint64{4}, TypeF32, 4), 64).buf.Bytes(), ErrFormat, "not aligned"},
		{"past end of file", tensorInfo(start(3, 1, 0), "t", []uint64{1024}, TypeF32, 0).buf.Bytes(), ErrFormat, "past the end"},
		{"duplicate tensor", padTo(tensorInfo(tensorInfo(start(3, 2, 0), "t", []uint64{4}, TypeF32, 0), "t", []uint64{4}, TypeF32, 32), 64).buf.Bytes(), ErrFormat, "duplicate tensor"},
	}
	for _, tc := range tests {
		_, err := Parse("case.gguf", tc.data)
		if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.match) || !strings.Contains(err.Error(), "case.gguf") {
			t.Errorf("%s: got %v, want %v containing %q and the file name", tc.name, err, tc.is, tc.match)
		}
	}
}

// TestTruncated cuts a real file at many points: every cut must fail
// cleanly.
func TestTruncated(t *testing.T) {
	data, err := os.ReadFile(testmodels.Model(t, "llama/stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse("full", data)
	if err != nil {
		t.Fatal(err)
	}
	cuts := 0
	for n := 0; n < len(data); n += 1 + n/8 {
		if n >= f.headerSize && n < len(data)-1 && n%97 != 0 {
			continue // past the header, check a sample of data cuts
		}
		if _, err := Parse("cut", data[:n]); err == nil {
			t.Fatalf("file cut at %d of %d parsed", n, len(data))
		}
		cuts++
	}
	for n := 0; n < f.headerSize; n++ {
		if _, err := Parse("cut", data[:n]); err == nil {
			t.Fatalf("header cut at %d parsed", n)
		}
	}
	if cuts < 10 {
		t.Fatalf("only %d cuts tried", cuts)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(filepath.Join(dir, "missing.gguf")); err == nil {
		t.Error("missing file opened")
	}
	if _, err := Open(dir); !errors.Is(err, ErrFormat) {
		t.Errorf("directory: %v", err)
	}
	empty := filepath.Join(dir, "empty.gguf")
	os.WriteFile(empty, nil, 0o644)
	if _, err := Open(empty); !errors.Is(err, ErrFormat) {
		t.Errorf("empty file: %v", err)
	}
}

func TestAccessors(t *testing.T) {
	f, err := Open(testmodels.Model(t, "llama/stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if s, err := f.String("general.architecture"); err != nil || s != "llama" {
		t.Errorf("architecture %q, %v", s, err)
	}
	if n, err := f.Uint("llama.block_count"); err != nil || n != 5 {
		t.Errorf("block_count %d, %v", n, err)
	}
	if x, err := f.Float("llama.attention.layer_norm_rms_epsilon"); err != nil || float32(x) != 1e-5 {
		t.Errorf("eps %v, %v", x, err)
	}
	if _, err := f.String("llama.block_count"); !errors.Is(err, ErrValueType) {
		t.Errorf("String of a uint32: %v", err)
	}
	if _, err := f.Uint("no.such.key"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing key: %v", err)
	}
	toks, err := ArrayOf[string](f, "tokenizer.ggml.tokens")
	if err != nil || len(toks) != 512 {
		t.Errorf("tokens: %d, %v", len(toks), err)
	}
	if _, err := ArrayOf[int32](f, "tokenizer.ggml.tokens"); !errors.Is(err, ErrValueType) {
		t.Errorf("tokens as int32: %v", err)
	}
	ti, err := f.Tensor("output.weight")
	if err != nil || ti.Elements() != 64*512 || len(f.TensorData(ti)) != 64*512*4 {
		t.Errorf("output.weight: %+v, %v", ti, err)
	}
}

// FuzzParse feeds arbitrary bytes to the reader: it must never panic, and
// whatever parses must write and parse again to the same structure.
func FuzzParse(f *testing.F) {
	for _, path := range sharedFiles(f) {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		file, err := Parse(path, data)
		if err != nil {
			f.Fatal(err)
		}
		// Seed with the header plus a little data, keeping seeds small.
		if file.headerSize < 64<<10 {
			f.Add(data[:min(len(data), file.DataOffset+256)])
		}
	}
	f.Add(start(3, 0, 1).str("k").u32(uint32(ValueArray)).u32(uint32(ValueArray)).u64(1).u32(uint32(ValueString)).u64(1).str("x").buf.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse("fuzz", data)
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if _, err := FromFile(file).WriteTo(&buf); err != nil {
			t.Fatalf("parsed file does not write: %v", err)
		}
		again, err := Parse("again", buf.Bytes())
		if err != nil {
			t.Fatalf("written file does not parse: %v", err)
		}
		if !reflect.DeepEqual(again.KV, file.KV) || len(again.Tensors) != len(file.Tensors) {
			t.Fatal("round trip changed the metadata or tensors")
		}
		for i := range file.Tensors {
			if !bytes.Equal(again.TensorData(&again.Tensors[i]), file.TensorData(&file.Tensors[i])) {
				t.Fatalf("tensor %q data changed", file.Tensors[i].Name)
			}
		}
	})
}

// TestStale: a mapped file is stale once the file at its path is modified
// in place or replaced, and not before; a removed one is not (its mapping
// stays whole).
func TestStale(t *testing.T) {
	src, err := os.ReadFile(testmodels.Model(t, "llama/stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		change func(path string) error
		stale  bool
	}{
		{"modified in place", func(p string) error {
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.Write([]byte{0})
			return err
		}, true},
		{"replaced", func(p string) error {
			if err := os.WriteFile(p+".new", src, 0o644); err != nil {
				return err
			}
			return os.Rename(p+".new", p)
		}, true},
		{"removed", os.Remove, false},
	} {
		path := filepath.Join(t.TempDir(), "m.gguf")
		if err := os.WriteFile(path, src, 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Stale(); err != nil {
			t.Errorf("%s: fresh file stale: %v", tc.name, err)
		}
		if err := tc.change(path); err != nil {
			t.Fatal(err)
		}
		if err := f.Stale(); errors.Is(err, ErrStale) != tc.stale {
			t.Errorf("%s: Stale() = %v, want stale %v", tc.name, err, tc.stale)
		}
		f.Close()
	}
}
