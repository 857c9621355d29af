package main

import (
	"slices"
	"testing"

	"github.com/vkinfer/vkinfer/model"
)

// TestArchCapabilities: the daemon's imports register gemma, gemma2, phi3
// and nomic-bert with what they serve.
func TestArchCapabilities(t *testing.T) {
	for arch, want := range map[string][]model.Capability{
		"gemma":      {model.Generate},
		"gemma2":     {model.Generate},
		"phi3":       {model.Generate},
		"nomic-bert": {model.Embed},
	} {
		if got := capabilities(arch); !slices.Equal(got, want) {
			t.Errorf("%s: capabilities %v, want %v", arch, got, want)
		}
	}
}
