// Package httpapi serves the HTTP dialects local tools already speak,
// OpenAI's (/v1/...) and Ollama's (/api/...), plus /health and /metrics,
// over the same ipc.Handler the msgpack server calls: every endpoint
// translates its JSON into an ipc.Request (request.go, the one place that
// does) and makes exactly the Handler call the matching msgpack op makes,
// so there is one request path below the protocol.
//
// Connections come from the daemon's Unix socket, where ipc.Server has
// already checked the peer's uid and hands over those that open with an
// HTTP method (ServeConn), or from an opt-in TCP listener (Serve), where
// every request must carry the bearer token. docs/http.md describes the
// endpoints, the auth rule and the mapping to the msgpack ops.
package httpapi
