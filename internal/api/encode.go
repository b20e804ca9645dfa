package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// MaxBodyBytes bounds request bodies.
const MaxBodyBytes = 1 << 20

func encode(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// decode reads one JSON object into T, rejecting unknown fields, trailing
// data and bodies over MaxBodyBytes, with errors that name the field.
func decode[T any](w http.ResponseWriter, r *http.Request) (T, error) {
	return decodeUpTo[T](w, r, MaxBodyBytes)
}

// MaxLaunchBodyBytes bounds a launch's body, which may list an array's
// 10,000 items: under Lambda's 6 MB for a synchronous invocation's
// request (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html),
// which API Gateway's proxy integration passes the body within.
const MaxLaunchBodyBytes = 5 << 20

// decodeUpTo is decode with another limit on the body.
func decodeUpTo[T any](w http.ResponseWriter, r *http.Request, limit int64) (T, error) {
	var v T
	// Read whole first: encoding/json would silently turn bytes that are
	// not UTF-8 into U+FFFD, storing something the caller did not send.
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		return v, decodeError(err)
	}
	if !utf8.Valid(body) {
		at := len(body)
		for i := 0; i < len(body); {
			c, n := utf8.DecodeRune(body[i:])
			if c == utf8.RuneError && n == 1 {
				at = i
				break
			}
			i += n
		}
		return v, flotilla.Invalid("body", "must be UTF-8 text; byte %d is not", at)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return v, decodeError(err)
	}
	if err := dec.Decode(new(json.RawMessage)); !errors.Is(err, io.EOF) {
		if err != nil {
			if de := decodeError(err); errors.Is(de, errTooLarge) {
				return v, de
			}
		}
		return v, flotilla.Invalid("body", "must hold one JSON object and nothing after it")
	}
	return v, nil
}

func decodeError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return &fieldError{fmt.Errorf("the body is over %d bytes: %w", tooBig.Limit, errTooLarge),
			flotilla.FieldError{Field: "body", Message: fmt.Sprintf("must be at most %d bytes", tooBig.Limit)}}
	case errors.Is(err, io.EOF):
		return flotilla.Invalid("body", "is empty; send a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return flotilla.Invalid("body", "is not valid JSON: it ends too early")
	case errors.As(err, &syn):
		return flotilla.Invalid("body", "is not valid JSON: %s at byte %d", syn.Error(), syn.Offset)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "body"
		}
		want := jsonType(typ.Type.Kind().String())
		if want == "a number" && strings.HasPrefix(typ.Value, "number") {
			// 256.5, 1e400 or -1 for an unsigned field.
			if got := strings.TrimSpace(strings.TrimPrefix(typ.Value, "number")); got != "" {
				return flotilla.Invalid(field, "must be a whole number (in range), not %s", got)
			}
			return flotilla.Invalid(field, "must be a whole number (in range)")
		}
		return flotilla.Invalid(field, "must be %s, not %s", want, typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return flotilla.Invalid(name, "is not a known field")
	}
	return flotilla.Invalid("body", "could not be read: %v", err)
}

func jsonType(kind string) string {
	switch kind {
	case "int", "int64", "int32", "float64", "uint", "uint64":
		return "a number"
	case "string":
		return "a string"
	case "map", "struct":
		return "an object"
	case "slice", "array":
		return "an array"
	case "bool":
		return "true or false"
	case "ptr":
		return "a value of the documented type"
	}
	return kind
}
