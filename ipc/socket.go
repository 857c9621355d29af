package ipc

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// ErrAlreadyRunning is returned by Listen when a live daemon answers on
// the socket path.
var ErrAlreadyRunning = errors.New("ipc: a daemon is already listening")

// DefaultSocketPath is $XDG_RUNTIME_DIR/vkinfer/vkinferd.sock, or
// /tmp/vkinfer-UID/vkinferd.sock when XDG_RUNTIME_DIR is unset.
func DefaultSocketPath() string {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "vkinfer", "vkinferd.sock")
	}
	return filepath.Join(os.TempDir(), "vkinfer-"+strconv.Itoa(os.Getuid()), "vkinferd.sock")
}

// Listen creates the socket at path: its directory is created (or
// tightened) to 0700 and must belong to this user, the socket gets 0600.
// A socket file left by a dead daemon is replaced; a live daemon is not
// disturbed (ErrAlreadyRunning).
func Listen(path string) (*net.UnixListener, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("ipc: socket directory: %w", err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("ipc: socket directory: %w", err)
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && int(sys.Uid) != os.Getuid() {
		return nil, fmt.Errorf("ipc: socket directory %s belongs to uid %d, not %d", dir, sys.Uid, os.Getuid())
	}
	if st.Mode().Perm() != 0o700 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return nil, fmt.Errorf("ipc: socket directory: %w", err)
		}
	}
	if st, err := os.Lstat(path); err == nil {
		if st.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("ipc: %s exists and is not a socket", path)
		}
		c, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			c.Close()
			return nil, fmt.Errorf("%w at %s", ErrAlreadyRunning, path)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("ipc: %s exists and is not a dead socket: %w", path, err)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("ipc: removing stale socket: %w", err)
		}
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("ipc: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("ipc: %w", err)
	}
	return l, nil
}
