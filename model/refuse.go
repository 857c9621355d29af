package model

import (
	"fmt"
	"slices"
	"strings"

	"github.com/vkinfer/vkinfer/gguf"
)

// An architecture lists what it reads. Anything else a file carries under
// the architecture's metadata prefix, or as a tensor, may change the math
// (a soft-cap, a sliding window, experts, a bias), so running without it
// would give plausible wrong text: such a file is refused by name instead.

// CheckKeys returns an ErrUnsupported error naming the first metadata key
// of f under "arch." that is not in known (names without the prefix).
// Keys outside the prefix (general.*, tokenizer.*) describe the file, not
// the math, and are not checked.
func CheckKeys(f *gguf.File, arch string, known []string) error {
	prefix := arch + "."
	for _, kv := range f.KV {
		name, ok := strings.CutPrefix(kv.Key, prefix)
		if ok && !slices.Contains(known, name) {
			return fmt.Errorf("%w: metadata key %s (= %s) is not implemented for %s", ErrUnsupported, kv.Key, describe(kv.Value), arch)
		}
	}
	return nil
}

// CheckTensors returns an ErrUnsupported error naming the first tensor of
// f that read does not hold: the architecture does not use it.
func CheckTensors(f *gguf.File, arch string, read map[string]bool) error {
	for _, t := range f.Tensors {
		if !read[t.Name] {
			return fmt.Errorf("%w: tensor %q is not implemented for %s", ErrUnsupported, t.Name, arch)
		}
	}
	return nil
}

// describe shortens a metadata value for an error message.
func describe(v any) string {
	s := fmt.Sprint(v)
	if len(s) > 40 {
		s = s[:37] + "..."
	}
	return s
}
