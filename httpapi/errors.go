package httpapi

import (
	"errors"
	"net/http"

	"github.com/vkinfer/vkinfer/ipc"
)

// Codes this package adds to the protocol's, for failures only HTTP has.
const (
	codeUnauthorized = "unauthorized"
	codeNotFound     = "not_found"
	codeMethod       = "method_not_allowed"
)

// statusOf maps a protocol error code to its HTTP status.
func statusOf(code string) int {
	switch code {
	case ipc.CodeBadRequest, ipc.CodeMalformed, ipc.CodeWrongModel, ipc.CodeContextFull, ipc.CodeVersion:
		return http.StatusBadRequest
	case codeUnauthorized:
		return http.StatusUnauthorized
	case ipc.CodeUnknownModel, ipc.CodeUnknownOp, codeNotFound:
		return http.StatusNotFound
	case codeMethod:
		return http.StatusMethodNotAllowed
	case ipc.CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	case ipc.CodeBusy:
		return http.StatusTooManyRequests
	case ipc.CodeShutdown, ipc.CodeUnavailable, ipc.CodeNoMemory:
		return http.StatusServiceUnavailable
	case ipc.CodeTimeout:
		return http.StatusGatewayTimeout
	case ipc.CodeCanceled:
		return 499 // the client closed the request; nobody reads it
	}
	return http.StatusInternalServerError
}

// asError turns any error into an *ipc.Error, as the msgpack server does.
func asError(err error) *ipc.Error {
	var e *ipc.Error
	if errors.As(err, &e) {
		return e
	}
	return &ipc.Error{Code: ipc.CodeOf(err), Message: err.Error()}
}

func badRequest(format string, args ...any) *ipc.Error {
	return ipc.Errorf(ipc.CodeBadRequest, format, args...)
}
