package ipc

import (
	"errors"
	"fmt"
	"net"
	"syscall"
)

// ErrPermission is returned for a peer of another user.
var ErrPermission = errors.New("ipc: peer not allowed")

// CheckPeer allows only a peer running as uid (root may always connect to
// its own daemon only when uid is 0).
func CheckPeer(cred *syscall.Ucred, uid int) error {
	if cred == nil {
		return fmt.Errorf("%w: no peer credentials", ErrPermission)
	}
	if int(cred.Uid) != uid {
		return fmt.Errorf("%w: peer uid %d (pid %d) is not the daemon's uid %d", ErrPermission, cred.Uid, cred.Pid, uid)
	}
	return nil
}

// peerCred reads SO_PEERCRED of a Unix connection.
func peerCred(c net.Conn) (*syscall.Ucred, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return nil, fmt.Errorf("%w: not a Unix socket", ErrPermission)
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *syscall.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return nil, err
	}
	return cred, credErr
}
