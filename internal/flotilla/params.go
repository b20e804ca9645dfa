package flotilla

import (
	"bytes"
	"encoding/json"
)

// Limits on templates' parameters. With the definition's other limits they
// keep definition and run items far below DynamoDB's 400 KB.
const (
	// MaxParametersSchemaBytes bounds a definition's parameters_schema (compact JSON).
	MaxParametersSchemaBytes = 16 << 10
	// MaxParamsBytes bounds a launch's or schedule's params (compact JSON).
	MaxParamsBytes = 16 << 10
)

// Params are the values of a template's parameters, by name: each a string,
// a bool or a json.Number (numbers keep their JSON text, so an integer
// never passes through a float64). Package params validates them against a
// definition's ParametersSchema.
type Params map[string]any

// UnmarshalJSON reads numbers as json.Number.
func (p *Params) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return err
	}
	*p = m
	return nil
}

// compactJSON is b without insignificant space, nil for nothing or null: a
// schema sent twice with other spacing is the same revision.
func compactJSON(b json.RawMessage) json.RawMessage {
	t := bytes.TrimSpace(b)
	if len(t) == 0 || string(t) == "null" {
		return nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, t); err != nil {
		return b // not JSON: validation names it
	}
	return buf.Bytes()
}
