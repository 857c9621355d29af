package grammar

import (
	"testing"
)

// BenchmarkMask is the cost of one allowed-token set computed from scratch (a state
// the cache has not seen) on llama-2-tiny-random's 32000 tokens: inside
// a JSON string, where nearly every token is allowed and the trie walk
// visits most of the trie, and between an object's members, where the
// walk prunes at the first byte.
func BenchmarkMask(b *testing.B) {
	for _, tc := range []struct {
		name, prefix string
	}{
		{"in-string", `{"name": "ab`},
		{"after-member", `{"name": "ab", "age": 1`},
	} {
		b.Run(tc.name, func(b *testing.B) {
			v := benchVocab(b)
			g, err := FromSchema([]byte(`{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"}}}`))
			if err != nil {
				b.Fatal(err)
			}
			for i := 0; i < b.N; i++ {
				c := NewConstraint(g, v)
				if !c.m.Advance([]byte(tc.prefix)) {
					b.Fatal("prefix refused")
				}
				c.Allowed()
			}
		})
	}
}
