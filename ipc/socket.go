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

// Listen creates the socket at path, mode 0600. A missing directory is
// created 0700. An existing one keeps its mode: it must belong to this
// user, or be a shared directory with the sticky bit (such as /tmp), where
// no other user can replace the socket; a directory others may write to
// without the sticky bit is refused. The peer check of Server keeps other
// users out either way. A socket file left by a dead daemon is replaced; a
// live daemon is not disturbed (ErrAlreadyRunning).
func Listen(path string) (*net.UnixListener, error) {
	dir := filepath.Dir(path)
	if err := socketDir(dir); err != nil {
		return nil, err
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

// socketDir makes sure dir can hold the socket safely (see Listen).
func socketDir(dir string) error {
	st, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("ipc: socket directory: %w", err)
		}
		// MkdirAll's mode is filtered by the umask; the new directory gets
		// exactly 0700.
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("ipc: socket directory: %w", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("ipc: socket directory: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("ipc: socket directory %s is not a directory", dir)
	}
	shared := st.Mode()&os.ModeSticky != 0
	if st.Mode().Perm()&0o022 != 0 && !shared {
		return fmt.Errorf("ipc: socket directory %s (mode %v) is writable by other users without the sticky bit; use a private directory", dir, st.Mode().Perm())
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && int(sys.Uid) != os.Getuid() && !shared {
		return fmt.Errorf("ipc: socket directory %s belongs to uid %d, not %d", dir, sys.Uid, os.Getuid())
	}
	return nil
}
