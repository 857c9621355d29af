package main

import (
	"os"
	"strings"

	"github.com/vkinfer/vkinfer/ipc"
)

// setConstraint fills req's format and grammar from the --format and
// --grammar flags: format is "json", inline JSON (starting with "{") or
// the path of a JSON schema file; grammar is the path of a GBNF file.
// The daemon checks what they hold.
func setConstraint(req *ipc.Request, format, grammarFile string) error {
	switch {
	case format != "" && grammarFile != "":
		return usagef("--format and --grammar are exclusive")
	case format == "json" || strings.HasPrefix(strings.TrimSpace(format), "{"):
		req.Format = format
	case format != "":
		b, err := os.ReadFile(format)
		if err != nil {
			return usagef("--format: %v", err)
		}
		req.Format = string(b)
	case grammarFile != "":
		b, err := os.ReadFile(grammarFile)
		if err != nil {
			return usagef("--grammar: %v", err)
		}
		req.Grammar = string(b)
	}
	return nil
}
