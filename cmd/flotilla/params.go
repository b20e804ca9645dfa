package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/flotilla-run/flotilla/internal/client"
	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// parseParams turns --param NAME=VALUE flags into a params object, each
// value typed by the definition's parameters_schema: "3" is the integer 3
// for an integer parameter and the text "3" for a string one. A name the
// schema does not declare (or a definition without one) is sent as text,
// so the API, which checks everything, names the mistake.
func parseParams(ctx context.Context, c *client.Client, defRef string, kvs []string) (map[string]any, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	types := map[string]string{}
	if defRef != "" {
		var d flotilla.Definition
		if _, err := c.Do(ctx, "GET", "/v1/definitions/"+url.PathEscape(defRef), nil, nil, &d); err == nil && len(d.ParametersSchema) > 0 {
			var s struct {
				Properties map[string]struct {
					Type string `json:"type"`
				} `json:"properties"`
			}
			if err := json.Unmarshal(d.ParametersSchema, &s); err == nil {
				for name, p := range s.Properties {
					types[name] = p.Type
				}
			}
		}
	}
	out := map[string]any{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--param %q: want NAME=VALUE", kv)
		}
		switch types[k] {
		case "integer":
			if _, err := strconv.ParseInt(v, 10, 64); err != nil {
				return nil, fmt.Errorf("--param %s: %q is not an integer", k, v)
			}
			out[k] = json.Number(v)
		case "number":
			if _, err := strconv.ParseFloat(v, 64); err != nil || !json.Valid([]byte(v)) {
				return nil, fmt.Errorf("--param %s: %q is not a number", k, v)
			}
			out[k] = json.Number(v)
		case "boolean":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, fmt.Errorf("--param %s: %q is not true or false", k, v)
			}
			out[k] = b
		default:
			out[k] = v
		}
	}
	return out, nil
}

// paramsString shows params as NAME=VALUE pairs, sorted, values as JSON
// (so "3" and 3 differ).
func paramsString(p flotilla.Params) string {
	if len(p) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		b, _ := json.Marshal(p[k])
		parts[i] = k + "=" + string(b)
	}
	return strings.Join(parts, " ")
}

// schemaFlag reads --parameters-schema: JSON text, @FILE, or "null" to
// remove the schema on update.
func schemaFlag(v string) (json.RawMessage, error) {
	data := []byte(v)
	if name, ok := strings.CutPrefix(v, "@"); ok {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("--parameters-schema: %w", err)
		}
		data = b
	}
	if !json.Valid(data) {
		return nil, fmt.Errorf("--parameters-schema: not JSON (give the schema's JSON, @FILE, or null)")
	}
	return json.RawMessage(data), nil
}
