package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"

	"github.com/vkinfer/vkinfer/ipc"
)

// readJSON decodes r's body, at most maxBody bytes, into v. Unknown fields
// are ignored, as both dialects' clients send fields of newer API
// versions; a known field of the wrong type, malformed JSON, trailing
// data and a body past the cap (declared or chunked) are each a clear
// error.
func readJSON(w http.ResponseWriter, r *http.Request, maxBody int64, v any) error {
	if r.ContentLength > maxBody {
		return ipc.Errorf(ipc.CodeTooLarge, "the body is %d bytes, over the %d-byte limit", r.ContentLength, maxBody)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return ipc.Errorf(ipc.CodeTooLarge, "the body is over the %d-byte limit", maxBody)
	case err != nil:
		return ipc.Errorf(ipc.CodeBadRequest, "reading the body: %v", err)
	}
	return decodeJSON(body, v)
}

// decodeJSON decodes one JSON value from body into v, with errors that
// name the offending field.
func decodeJSON(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return ipc.Errorf(ipc.CodeBadRequest, "the body is empty; a JSON object is expected")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return ipc.Errorf(ipc.CodeMalformed, "malformed JSON: data after the object at byte %d", dec.InputOffset())
	}
	return nil
}

// jsonError explains a decoding error.
func jsonError(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return ipc.Errorf(ipc.CodeMalformed, "malformed JSON at byte %d: %v", syntax.Offset, err)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return ipc.Errorf(ipc.CodeBadRequest, "the body must be a JSON object, not %s", typ.Value)
		}
		return ipc.Errorf(ipc.CodeBadRequest, "field %q: want %s, got %s", embedded.Replace(field), typeName(typ.Type), typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return ipc.Errorf(ipc.CodeMalformed, "malformed JSON: the body ends inside a value")
	}
	var e *ipc.Error
	if errors.As(err, &e) {
		return e
	}
	return ipc.Errorf(ipc.CodeBadRequest, "%v", err)
}

// embedded drops the Go names of embedded structs from a field path
// (encoding/json includes them).
var embedded = strings.NewReplacer("openAISampling.", "", "ollamaCommon.", "")

// typeName says a Go type in JSON's words.
func typeName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return "an object"
}

// writeJSON sends v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = fmt.Appendf(nil, `{"error":{"message":%q,"type":"server_error","code":"internal"}}`, "encoding the reply: "+err.Error())
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
