package gguf

import "errors"

// Sentinel errors callers branch on. Errors returned by this package wrap
// one of these with the file name and what was wrong.
var (
	ErrFormat      = errors.New("gguf: malformed file")
	ErrVersion     = errors.New("gguf: unsupported version")
	ErrUnknownType = errors.New("gguf: unknown tensor type")
	ErrNotFound    = errors.New("gguf: not found")
	ErrValueType   = errors.New("gguf: wrong value type")
	// ErrStale: the file on disk is no longer the one that was mapped.
	ErrStale = errors.New("gguf: file changed on disk")
)
