package ipc

import (
	"bufio"
	"context"
	"net"
	"testing"
	"time"
)

// TestSniff: with Server.HTTP set, a connection that opens with an HTTP
// method is handed over with its bytes intact, while msgpack clients, and
// a client silent past the hello timeout, are served as before.
func TestSniff(t *testing.T) {
	got := make(chan string, 1)
	_, path := serve(t, &scripted{chunks: 2}, func(s *Server) {
		s.HelloTimeout = 200 * time.Millisecond
		s.HTTP = func(c net.Conn) {
			defer c.Close()
			line, _ := bufio.NewReader(c).ReadString('\n')
			got <- line
			c.Write([]byte("HTTP/1.1 204 No Content\r\n\r\n"))
		}
	})
	nc, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.Write([]byte("GET /health HTTP/1.1\r\nHost: x\r\n\r\n"))
	select {
	case line := <-got:
		if line != "GET /health HTTP/1.1\r\n" {
			t.Errorf("HTTP got %q", line)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the HTTP connection was not handed over")
	}

	c := dial(t, path)
	s, err := c.Generate(context.Background(), &Request{Model: "m", Prompt: "p"})
	if err != nil {
		t.Fatal(err)
	}
	if text, stats := collect(t, s); text != " 0 1" || stats == nil {
		t.Errorf("msgpack beside HTTP: %q %+v", text, stats)
	}

	r := rawDial(t, path, false) // says nothing
	if resp := r.recv(); resp.Code != CodeBadRequest {
		t.Errorf("silent client: %+v, want the no-hello error", resp)
	}
}
