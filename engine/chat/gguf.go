package chat

import "github.com/vkinfer/vkinfer/gguf"

// MetadataKey is the GGUF metadata key holding the chat template source.
const MetadataKey = "tokenizer.chat_template"

// SourceOf returns the chat template source stored in f, or "" when f has
// none (or holds something other than a string there).
func SourceOf(f *gguf.File) string {
	s, err := f.String(MetadataKey)
	if err != nil {
		return ""
	}
	return s
}
