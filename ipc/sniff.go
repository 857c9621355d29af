package ipc

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"time"
)

// A frame starts with its big-endian length, and DefaultMaxFrame (16 MiB)
// and any sane limit keep that first byte far below 'A'; an HTTP/1.x
// request starts with its method, upper-case ASCII. So one byte tells the
// protocols apart.
func isHTTPStart(b byte) bool { return b >= 'A' && b <= 'Z' }

// sniffedConn is a connection whose first bytes were read ahead to pick
// the protocol; Read returns them first.
type sniffedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *sniffedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// sniff reads ahead until the first byte (by the hello deadline) and
// returns a reader that replays it, and whether it starts HTTP. A client
// silent past the deadline gets the msgpack path, which answers it with
// the protocol's hello error. The deadline is cleared for HTTP only,
// whose server sets its own.
func sniff(nc net.Conn, by time.Time) (*bufio.Reader, bool, error) {
	br := bufio.NewReaderSize(nc, 4096)
	nc.SetReadDeadline(by)
	b, err := br.Peek(1)
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return br, false, nil
	case err != nil && !errors.Is(err, io.EOF):
		return nil, false, err
	case err != nil:
		return br, false, nil
	}
	if !isHTTPStart(b[0]) {
		return br, false, nil
	}
	nc.SetReadDeadline(time.Time{})
	return br, true, nil
}
