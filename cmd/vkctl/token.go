package main

import (
	"fmt"

	"github.com/vkinfer/vkinfer/httpapi"
)

// runToken prints the bearer token of the daemon's TCP HTTP listener
// (--http), from the 0600 file beside the socket; it needs no daemon.
func runToken(e *env, args []string) error {
	if err := noArgs(e, "token", args); err != nil {
		return err
	}
	tok, err := httpapi.ReadToken(httpapi.TokenPath(e.socket))
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, tok)
	return nil
}
