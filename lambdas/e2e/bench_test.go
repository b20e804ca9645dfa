//go:build linux

package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// benchOutEnv names the results file the numbers are merged into
// (bench/results.json: {"<name>": {"value", "unit", "goal"}}).
const benchOutEnv = "FLOTILLA_BENCH_OUT"

type benchResult struct {
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
	Goal  string  `json:"goal,omitempty"`
}

// mergeBench writes results into the JSON object at path, keeping its
// other keys; a relative path is from the module root.
func mergeBench(t *testing.T, path string, results map[string]benchResult) error {
	if !filepath.IsAbs(path) {
		root, err := moduleRoot()
		if err != nil {
			return err
		}
		path = filepath.Join(root, path)
	}
	all := map[string]any{}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return err
	default:
		if err := json.Unmarshal(b, &all); err != nil {
			return err
		}
	}
	for k, v := range results {
		all[k] = v
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false) // goals read "< 50", not "\u003c 50"
	enc.SetIndent("", "  ")
	if err := enc.Encode(all); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, out.Bytes(), 0o644)
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }
