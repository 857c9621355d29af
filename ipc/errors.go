package ipc

import (
	"context"
	"errors"
	"fmt"
)

// Error codes carried by error frames. Clients branch on the code; the
// message is for people.
const (
	CodeBadRequest   = "bad_request"   // a field is missing or out of range
	CodeMalformed    = "malformed"     // the frame is not a msgpack map of the protocol
	CodeTooLarge     = "too_large"     // the frame exceeds the size limit
	CodeVersion      = "version"       // the hello's major version differs
	CodeUnknownOp    = "unknown_op"    // the op is not one this server knows
	CodeUnknownModel = "unknown_model" // no model of that name
	CodeWrongModel   = "wrong_model"   // the model lacks the capability asked for
	CodeBusy         = "busy"          // the model's queue is full
	CodeNoMemory     = "no_memory"     // the model does not fit the memory budget
	CodeUnavailable  = "unavailable"   // the model failed to load (repeatedly)
	CodeTimeout      = "timeout"       // the request timed out
	CodeCanceled     = "canceled"      // cancelled by the client
	CodeContextFull  = "context_full"  // the prompt does not fit the context
	CodeShutdown     = "shutting_down" // the daemon is stopping
	CodeInternal     = "internal"      // anything else
)

// ErrMalformed is wrapped by decoding errors of frames and messages.
var ErrMalformed = errors.New("ipc: malformed message")

// Error is an error with a protocol code. Handlers return it (or wrap it)
// to choose the code of the error frame; clients receive it.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// Errorf returns an *Error with code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// CodeOf returns the protocol code of err.
func CodeOf(err error) string {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e.Code
	case errors.Is(err, context.Canceled):
		return CodeCanceled
	case errors.Is(err, context.DeadlineExceeded):
		return CodeTimeout
	}
	return CodeInternal
}

// toError turns any error into the *Error an error frame carries.
func toError(err error) *Error {
	if e, ok := err.(*Error); ok {
		return e
	}
	return &Error{Code: CodeOf(err), Message: err.Error()}
}
