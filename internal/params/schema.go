package params

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// The JSON types a parameter may have.
const (
	TypeString  = "string"
	TypeNumber  = "number"
	TypeInteger = "integer"
	TypeBoolean = "boolean"
)

// Draft202012 is the only $schema a parameters_schema may name.
const Draft202012 = "https://json-schema.org/draft/2020-12/schema"

// MaxParameters bounds the properties of a schema: a form, not a database.
const MaxParameters = 50

// maxTextBytes bounds a title or a description.
const maxTextBytes = 1000

// namePattern keeps a parameter usable as {{ .params.NAME }} (a Go
// template field name) and as a form field id.
var namePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// The keywords a schema and its properties may use, beyond which a form
// could not be drawn nor a value rendered as one shell word.
var (
	topKeywords    = []string{"$schema", "type", "title", "description", "properties", "required", "additionalProperties"}
	commonKeywords = []string{"type", "title", "description", "default", "enum"}
	typeKeywords   = map[string][]string{
		TypeString:  {"minLength", "maxLength", "pattern", "format"},
		TypeNumber:  {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"},
		TypeInteger: {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"},
		TypeBoolean: {},
	}
	// formats are the string formats the library asserts (format is
	// asserted: a "date" parameter refuses "2026-13-01").
	formats = []string{"date", "date-time", "time", "duration", "email", "hostname", "ipv4", "ipv6", "uri", "uuid"}
)

// Schema is a checked parameters_schema, compiled.
type Schema struct {
	// Order is the parameter names in the order the schema lists them.
	Order []string
	// Types maps each parameter to its JSON type.
	Types    map[string]string
	defaults map[string]any
	required map[string]bool
	compiled *jsonschema.Schema
}

// CheckSchema checks a definition's parameters_schema (nil: none), naming
// the first wrong place in each property as parameters_schema.…
func CheckSchema(raw json.RawMessage) error {
	if len(raw) == 0 {
		return nil
	}
	_, err := compile(raw)
	return err
}

var cache struct {
	sync.Mutex
	m map[string]*Schema
}

// Parse checks and compiles raw (see CheckSchema); nil for no schema.
// Compiled schemas are cached: a definition's schema is compiled once, not
// once per launch.
func Parse(raw json.RawMessage) (*Schema, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	key := string(raw)
	cache.Lock()
	s, ok := cache.m[key]
	cache.Unlock()
	if ok {
		return s, nil
	}
	s, err := compile(raw)
	if err != nil {
		return nil, err
	}
	cache.Lock()
	if cache.m == nil || len(cache.m) >= 512 {
		cache.m = map[string]*Schema{}
	}
	cache.m[key] = s
	cache.Unlock()
	return s, nil
}

const field = "parameters_schema"

func compile(raw json.RawMessage) (*Schema, error) {
	v := &flotilla.ValidationError{}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, flotilla.Invalid(field, "must be a JSON object: %v", err)
	}
	top, ok := doc.(map[string]any)
	if !ok {
		return nil, flotilla.Invalid(field, "must be a JSON Schema object with \"type\": \"object\"")
	}
	for _, k := range sortedKeys(top) {
		if !slices.Contains(topKeywords, k) {
			v.Add(field+"."+k, "is not supported (a parameters schema may use %s)", strings.Join(topKeywords, ", "))
		}
	}
	if s, ok := top["$schema"]; ok && s != Draft202012 {
		v.Add(field+".$schema", "must be %q (draft 2020-12) when given", Draft202012)
	}
	if top["type"] != "object" {
		v.Add(field+".type", "must be \"object\"")
	}
	checkText(v, field, top)
	if ap, ok := top["additionalProperties"]; ok && ap != false {
		v.Add(field+".additionalProperties", "may only be false (a parameter not in properties is always refused)")
	}
	props, _ := top["properties"].(map[string]any)
	if p, ok := top["properties"]; ok && props == nil {
		v.Add(field+".properties", "must be an object of parameters, not %s", jsonType(p))
	}
	s := &Schema{Types: map[string]string{}, defaults: map[string]any{}, required: map[string]bool{}}
	if len(props) > MaxParameters {
		v.Add(field+".properties", "must have at most %d parameters", MaxParameters)
		return nil, v.Err()
	}
	s.Order = propertyOrder(raw, props)
	for _, name := range s.Order {
		checkProperty(v, s, name, props[name])
	}
	if req, ok := top["required"]; ok {
		list, isList := req.([]any)
		if !isList {
			v.Add(field+".required", "must be a list of parameter names")
		}
		for _, r := range list {
			name, _ := r.(string)
			if _, declared := props[name]; !declared {
				v.Add(field+".required", "names %v, which is not in properties", r)
			}
			s.required[name] = true
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	// Compiled with additionalProperties false whatever the author wrote:
	// an unknown parameter is a mistake to report, not a value to carry.
	top["additionalProperties"] = false
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource("flotilla:parameters_schema", top); err != nil {
		return nil, flotilla.Invalid(field, "is not a valid JSON Schema: %v", err)
	}
	compiled, err := c.Compile("flotilla:parameters_schema")
	if err != nil {
		return nil, flotilla.Invalid(field, "is not a valid JSON Schema: %v", oneLine(err))
	}
	s.compiled = compiled
	// Each default must be a valid value of its parameter.
	if len(s.defaults) > 0 {
		for name, msg := range s.errors(s.defaults) {
			if _, has := s.defaults[name]; has { // not "required", which defaults need not meet
				v.Add(field+".properties."+name+".default", "%s", msg)
			}
		}
	}
	return s, v.Err()
}

// checkProperty checks one parameter's schema and records its type and default.
func checkProperty(v *flotilla.ValidationError, s *Schema, name string, p any) {
	f := field + ".properties." + name
	if !namePattern.MatchString(name) {
		v.Add(f, "a parameter name must be 1-64 letters, digits or _, not starting with a digit (it is used as {{ .params.%s }})", name)
		return
	}
	m, ok := p.(map[string]any)
	if !ok {
		v.Add(f, "must be an object such as {\"type\": \"string\"}, not %s", jsonType(p))
		return
	}
	typ, _ := m["type"].(string)
	allowed, known := typeKeywords[typ]
	if !known {
		v.Add(f+".type", "must be one of string, number, integer, boolean")
		return
	}
	s.Types[name] = typ
	for _, k := range sortedKeys(m) {
		if !slices.Contains(commonKeywords, k) && !slices.Contains(allowed, k) {
			v.Add(f+"."+k, "is not supported for a %s parameter (allowed: %s)", typ, strings.Join(append(slices.Clone(commonKeywords), allowed...), ", "))
		}
	}
	checkText(v, f, m)
	if e, ok := m["enum"]; ok {
		list, isList := e.([]any)
		switch {
		case !isList || len(list) == 0:
			v.Add(f+".enum", "must be a non-empty list of %s values", typ)
		default:
			for _, x := range list {
				if !ofType(x, typ) {
					v.Add(f+".enum", "has %s, which is not a %s", jsonType(x), typ)
					break
				}
			}
		}
	}
	for _, k := range []string{"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minLength", "maxLength"} {
		if x, ok := m[k]; ok {
			if n, isNum := x.(json.Number); !isNum || !finite(n) {
				v.Add(f+"."+k, "must be a number")
			}
		}
	}
	if pt, ok := m["pattern"]; ok {
		if str, isText := pt.(string); !isText {
			v.Add(f+".pattern", "must be a regular expression")
		} else if _, err := regexp.Compile(str); err != nil {
			v.Add(f+".pattern", "is not a regular expression: %v", err)
		}
	}
	if fm, ok := m["format"]; ok && !slices.Contains(formats, fmt.Sprint(fm)) {
		v.Add(f+".format", "must be one of %s", strings.Join(formats, ", "))
	}
	if d, ok := m["default"]; ok {
		if !ofType(d, typ) {
			v.Add(f+".default", "must be a %s, not %s", typ, jsonType(d))
		} else {
			s.defaults[name] = d
		}
	}
}

func checkText(v *flotilla.ValidationError, f string, m map[string]any) {
	for _, k := range []string{"title", "description"} {
		x, ok := m[k]
		if !ok {
			continue
		}
		if t, isText := x.(string); !isText || len(t) > maxTextBytes {
			v.Add(f+"."+k, "must be text of at most %d bytes", maxTextBytes)
		}
	}
}

// ofType reports whether a decoded JSON value x (json.Number for numbers)
// has the parameter type typ.
func ofType(x any, typ string) bool {
	switch x := x.(type) {
	case string:
		return typ == TypeString
	case bool:
		return typ == TypeBoolean
	case json.Number:
		if typ == TypeNumber {
			return finite(x)
		}
		_, ok := integer(x)
		return typ == TypeInteger && ok
	}
	return false
}

// finite reports whether n is a number a float64 holds. Larger ones
// (1e400, or a million-digit exponent) are refused before anything does
// arithmetic on them: exact big-number arithmetic on them is slow.
func finite(n json.Number) bool {
	_, err := strconv.ParseFloat(string(n), 64)
	return err == nil
}

// integer is n's integer text ("3" for 3.0 or 3e0), ok false when n is not
// a whole number. JSON Schema counts 3.0 as an integer; the command gets 3.
func integer(n json.Number) (string, bool) {
	// Integers are 64-bit: bounded before the exact conversion.
	if f, err := strconv.ParseFloat(string(n), 64); err != nil || math.Abs(f) > 1e19 {
		return "", false
	}
	f, _, err := big.ParseFloat(string(n), 10, 1024, big.ToNearestEven)
	if err != nil || !f.IsInt() {
		return "", false
	}
	i, _ := f.Int(nil)
	if !i.IsInt64() {
		return "", false
	}
	return i.String(), true
}

func jsonType(x any) string {
	switch x.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number, float64:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", x)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// propertyOrder lists props' names in the order the schema text has them,
// so a form shows them as the author wrote them.
func propertyOrder(raw json.RawMessage, props map[string]any) []string {
	var top map[string]json.RawMessage
	var order []string
	if json.Unmarshal(raw, &top) == nil {
		dec := json.NewDecoder(bytes.NewReader(top["properties"]))
		if t, err := dec.Token(); err == nil && t == json.Delim('{') {
			for dec.More() {
				t, err := dec.Token()
				if err != nil {
					break
				}
				name, _ := t.(string)
				var skip json.RawMessage
				if dec.Decode(&skip) != nil {
					break
				}
				if _, ok := props[name]; ok && !slices.Contains(order, name) {
					order = append(order, name)
				}
			}
		}
	}
	if len(order) != len(props) {
		return sortedKeys(props)
	}
	return order
}

// errors validates a params object with the library and returns one
// message per parameter name ("" for the object as a whole).
func (s *Schema) errors(obj map[string]any) map[string]string {
	out := map[string]string{}
	err := s.compiled.Validate(obj)
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		if err != nil {
			out[""] = err.Error()
		}
		return out
	}
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		add := func(name, msg string) {
			if _, seen := out[name]; !seen {
				out[name] = msg
			}
		}
		switch k := e.ErrorKind.(type) {
		case *kind.Required:
			for _, m := range k.Missing {
				add(m, "is required")
			}
		case *kind.AdditionalProperties:
			for _, p := range k.Properties {
				add(p, "is not a parameter of this definition (its parameters: "+strings.Join(s.Order, ", ")+")")
			}
		default:
			name := ""
			if len(e.InstanceLocation) > 0 {
				name = e.InstanceLocation[0]
			}
			add(name, e.ErrorKind.LocalizedString(english))
		}
	}
	walk(ve)
	return out
}

// english prints the library's messages (the API's language).
var english = message.NewPrinter(language.English)

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// Resolve checks a launch's params against the definition's schema (nil:
// none, and then params must be empty), fills in defaults, and returns the
// params the run records. Each bad parameter is a field error params.NAME.
func Resolve(schemaRaw json.RawMessage, given flotilla.Params) (flotilla.Params, error) {
	s, err := Parse(schemaRaw)
	if err != nil {
		return nil, fmt.Errorf("the definition's parameters_schema: %w", err)
	}
	if s == nil {
		if len(given) > 0 {
			return nil, flotilla.Invalid("params", "this definition takes no parameters (it has no parameters_schema)")
		}
		return nil, nil
	}
	out := flotilla.Params{}
	for k, x := range s.defaults {
		out[k] = x
	}
	for k, x := range given {
		if f, isFloat := x.(float64); isFloat { // from a caller that decoded without UseNumber
			x = json.Number(fmt.Sprint(f))
		}
		out[k] = x
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, flotilla.Invalid("params", "must be a JSON object of parameter values")
	}
	if len(b) > flotilla.MaxParamsBytes {
		return nil, flotilla.Invalid("params", "is %d bytes of JSON; at most %d are allowed", len(b), flotilla.MaxParamsBytes)
	}
	v := &flotilla.ValidationError{}
	for name, x := range out {
		if n, ok := x.(json.Number); ok && !ofType(n, s.Types[name]) && (s.Types[name] == TypeNumber || s.Types[name] == TypeInteger) {
			if s.Types[name] == TypeInteger {
				v.Add("params."+name, "must be an integer of at most 64 bits")
			} else {
				v.Add("params."+name, "must be a number that fits a float64")
			}
			delete(out, name) // checked: the library need not see it
		}
	}
	msgs := s.errors(out)
	for _, name := range sortedStrings(msgs) {
		if name == "" {
			v.Add("params", "%s", msgs[name])
			continue
		}
		v.Add("params."+name, "%s", msgs[name])
	}
	for name, x := range out {
		if str, ok := x.(string); ok && (strings.ContainsRune(str, 0) || !utf8.ValidString(str)) {
			v.Add("params."+name, "must be UTF-8 text without NUL characters")
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	for name, x := range out {
		if n, ok := x.(json.Number); ok && s.Types[name] == TypeInteger {
			if i, ok := integer(n); ok {
				out[name] = json.Number(i)
			}
		}
	}
	return out, nil
}

func sortedStrings(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
