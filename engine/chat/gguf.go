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

// TokenTexter is what TokensOf needs of a tokenizer.
type TokenTexter interface {
	BOS() int32
	EOS() int32
	TokenText(id int32) (string, error)
}

// TokensOf returns the BOS and EOS token texts of tok ("" for one the
// vocabulary lacks), for templates that print them.
func TokensOf(tok TokenTexter) Tokens {
	text := func(id int32) string {
		if id < 0 {
			return ""
		}
		s, _ := tok.TokenText(id)
		return s
	}
	return Tokens{BOS: text(tok.BOS()), EOS: text(tok.EOS())}
}
