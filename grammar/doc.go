// Package grammar constrains generation to a formal language: a GBNF-style
// grammar (Parse) or a JSON schema compiled to one (FromSchema), matched
// incrementally over code points by a pushdown matcher (Matcher), and
// turned into per-token masks through a trie of the vocabulary's byte
// strings (Vocab, Constraint).
//
// The matcher keeps the set of parse stacks that the text so far leaves
// open, as llama.cpp's grammar sampler does: each stack is the list of
// grammar positions still to match, innermost first. Stacks are
// hash-consed, so equal stacks are one node and a set of them is a small
// sorted slice of ids, which makes states comparable: they are interned,
// their byte transitions filled in as first taken (the grammar
// determinised lazily), and their masks cached. Left-recursive grammars
// are refused at compile time, since a stack machine would expand them
// forever; a grammar so ambiguous that one code point opens thousands of
// stacks refuses the text there rather than run without bound.
//
// A token is allowed when the matcher can consume all of its bytes; an
// end-of-generation token only when the text so far is a complete
// sentence. Bytes of a UTF-8 sequence split across tokens are held until
// the sequence is complete.
package grammar
