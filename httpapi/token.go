package httpapi

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// ErrNoToken is returned by ReadToken when the daemon made no token (it
// runs without --http).
var ErrNoToken = errors.New("httpapi: no HTTP token")

// TokenPath is the bearer token's file, beside the daemon's socket in its
// runtime directory.
func TokenPath(socket string) string { return filepath.Join(filepath.Dir(socket), "http-token") }

// EnsureToken returns the token in path, making a new random one (mode
// 0600) when the file is absent. An existing file must be a regular file
// of this user that no one else can read.
func EnsureToken(path string) (string, error) {
	tok, err := ReadToken(path)
	if !errors.Is(err, ErrNoToken) {
		return tok, err
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("httpapi: token: %w", err)
	}
	tok = hex.EncodeToString(b[:])
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("httpapi: writing the token: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("httpapi: writing the token: %w", err)
	}
	return tok, nil
}

// ReadToken reads the token in path, refusing a file others could read or
// replace.
func ReadToken(path string) (string, error) {
	st, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("%w at %s (the daemon makes it when started with --http)", ErrNoToken, path)
	}
	if err != nil {
		return "", fmt.Errorf("httpapi: token: %w", err)
	}
	if !st.Mode().IsRegular() || st.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("httpapi: token file %s must be a regular file of mode 0600, is %v", path, st.Mode())
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && int(sys.Uid) != os.Getuid() {
		return "", fmt.Errorf("httpapi: token file %s belongs to uid %d, not %d", path, sys.Uid, os.Getuid())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("httpapi: token: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("httpapi: token file %s is empty", path)
	}
	return tok, nil
}

// ErrRemote is returned by CheckAddr for an address other hosts can reach.
var ErrRemote = errors.New("httpapi: a non-loopback HTTP address needs --http-allow-remote")

// CheckAddr checks a TCP listen address: it must parse, and be loopback
// (127.0.0.0/8, ::1, localhost) unless remote is allowed. An empty host
// (":11435") listens on every interface and so is remote.
func CheckAddr(addr string, allowRemote bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("http address %q: %w", addr, err)
	}
	if allowRemote || host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%w: %q is not a loopback address", ErrRemote, addr)
}
