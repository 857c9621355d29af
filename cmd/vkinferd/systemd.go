package main

import (
	"fmt"
	"net"

	"github.com/coreos/go-systemd/v22/activation"
	"github.com/coreos/go-systemd/v22/daemon"
)

// activatedListener returns the listening socket systemd handed over
// (LISTEN_FDS/LISTEN_PID), or nil when the daemon was not socket-activated.
func activatedListener() (net.Listener, error) {
	ls, err := activation.Listeners()
	if err != nil {
		return nil, fmt.Errorf("systemd socket activation: %w", err)
	}
	var found []net.Listener
	for _, l := range ls {
		if l != nil {
			found = append(found, l)
		}
	}
	switch len(found) {
	case 0:
		return nil, nil
	case 1:
		if _, ok := found[0].(*net.UnixListener); !ok {
			return nil, fmt.Errorf("systemd socket activation: want a Unix stream socket, got %s", found[0].Addr().Network())
		}
		return found[0], nil
	}
	return nil, fmt.Errorf("systemd socket activation: want 1 socket, got %d", len(found))
}

// notify tells systemd about a state change (READY=1, RELOADING=1,
// STOPPING=1). Outside systemd it does nothing.
func notify(state string) error {
	_, err := daemon.SdNotify(false, state)
	return err
}
