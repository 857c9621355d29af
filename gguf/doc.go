// Package gguf reads and writes GGUF model files (versions 2 and 3).
//
// Open maps a file into memory and validates its header, metadata and
// tensor table; tensor data is exposed as views into the mapping, never
// copied. Create writes the same structures back, so a file read and
// written again is identical byte for byte.
package gguf
