package cpu

import (
	"slices"
	"testing"

	"github.com/vkinfer/vkinfer/compute"
)

// TestTileUnits: decode tokens' tiles span as many KV heads as keeps
// the cores busiest, and other tiles take a unit a KV head (in chunks of
// 16 query heads).
func TestTileUnits(t *testing.T) {
	decode := attnTile{tokens: 1}
	for _, c := range []struct {
		name           string
		heads, kvHeads int
		tiles          []attnTile
		threads        int
		want           []attnUnit
	}{
		{"one decode token, 6 heads, 2 cores", 6, 6, []attnTile{decode}, 2,
			[]attnUnit{{0, 0, 3, 0, 3}, {0, 3, 3, 3, 3}}},
		{"four decode tokens, 6 heads, 2 cores", 6, 6, []attnTile{decode, decode, decode, decode}, 2,
			[]attnUnit{{0, 0, 6, 0, 6}, {1, 0, 6, 0, 6}, {2, 0, 6, 0, 6}, {3, 0, 6, 0, 6}}},
		{"three decode tokens, 6 heads, 2 cores", 6, 6, []attnTile{decode, decode, decode}, 2,
			[]attnUnit{{0, 0, 3, 0, 3}, {0, 3, 3, 3, 3}, {1, 0, 3, 0, 3}, {1, 3, 3, 3, 3}, {2, 0, 3, 0, 3}, {2, 3, 3, 3, 3}}},
		{"GQA pairs, one decode token, 4 cores", 8, 4, []attnTile{decode}, 4,
			[]attnUnit{{0, 0, 2, 0, 1}, {0, 2, 2, 1, 1}, {0, 4, 2, 2, 1}, {0, 6, 2, 3, 1}}},
		{"GQA groups of 8 read widened: a unit a KV head", 16, 2, []attnTile{decode}, 1,
			[]attnUnit{{0, 0, 8, 0, 1}, {0, 8, 8, 1, 1}}},
		{"32 heads over one KV head: chunks of 16", 32, 1, []attnTile{decode}, 2,
			[]attnUnit{{0, 0, 16, 0, 1}, {0, 16, 16, 0, 1}}},
		{"three tokens of one sequence's positions, 6 heads: 15 queries a unit", 6, 6, []attnTile{{tokens: 3}}, 1,
			[]attnUnit{{0, 0, 5, 0, 5}, {0, 5, 1, 5, 1}}},
		{"a prompt tile beside a decode token", 2, 2, []attnTile{{tokens: 8}, decode}, 1,
			[]attnUnit{{0, 0, 1, 0, 1}, {0, 1, 1, 1, 1}, {1, 0, 2, 0, 2}}},
	} {
		at := &compute.Attention{Heads: c.heads, KVHeads: c.kvHeads, HeadDim: 8}
		if got := tileUnits(nil, c.tiles, at, c.threads); !slices.Equal(got, c.want) {
			t.Errorf("%s: units %v, want %v", c.name, got, c.want)
		}
	}
}
