package gguf

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/vkinfer/vkinfer/internal/testmodels"
)

// rss returns the process's resident bytes (/proc/self/statm).
func rss(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skipf("no /proc/self/statm: %v", err)
	}
	pages, err := strconv.ParseInt(strings.Fields(string(b))[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return pages * int64(os.Getpagesize())
}

// TestRelease: releasing a mapped tensor's bytes drops its pages from the
// process's memory, and reading it again gives the same bytes (from the
// file); on a File from Parse it leaves the bytes alone.
func TestRelease(t *testing.T) {
	path := testmodels.Model(t, "embed/all-MiniLM-L6-v2-Q4_K_M.gguf")
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var big *TensorInfo
	for i := range f.Tensors {
		if big == nil || f.Tensors[i].Size > big.Size {
			big = &f.Tensors[i]
		}
	}
	data := f.TensorData(big)
	want := bytes.Clone(data) // touches every page
	before := rss(t)
	if err := f.Release(data); err != nil {
		t.Fatal(err)
	}
	after := rss(t)
	if drop := before - after; drop < big.Size*8/10 {
		t.Errorf("releasing %q (%d bytes) dropped the RSS by %d bytes", big.Name, big.Size, drop)
	}
	if !bytes.Equal(data, want) {
		t.Errorf("%q reads back other bytes after Release", big.Name)
	}

	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse(path, src)
	if err != nil {
		t.Fatal(err)
	}
	pd := p.TensorData(&p.Tensors[0])
	if err := p.Release(pd); err != nil || !bytes.Equal(pd, f.TensorData(&f.Tensors[0])) {
		t.Errorf("Release on a parsed file: error %v, bytes changed %v", err, !bytes.Equal(pd, f.TensorData(&f.Tensors[0])))
	}
}
