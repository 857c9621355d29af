// Package ipc is vkinfer's wire protocol over a Unix stream socket: frames
// of a 4-byte big-endian length and one msgpack map, a version hello each
// way, client-chosen request ids with many requests in flight per
// connection, streamed generation as chunk frames ended by exactly one done
// or error frame. docs/protocol.md is the full description.
//
// Server serves a Handler (the daemon's pools) and knows nothing of models;
// with Server.HTTP set, it hands connections that open with an HTTP
// request, rather than a frame, to an HTTP server (package httpapi);
// Client is the Go client library vkctl and apps use.
package ipc
