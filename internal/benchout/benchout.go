// Package benchout writes benchmark figures into bench/results.json, the
// one file every producer of `make bench` (the Go tests that measure, the
// flotilla-bench command, the browser journeys) adds its keys to.
package benchout

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
)

// Merge writes figures into the JSON object at path, keeping the keys
// other producers wrote, one key a line in sorted order (so a re-run shows
// as a small diff) and without HTML escaping (goals read "< 60", not
// "\u003c 60"). A relative path is taken from the module root: go test runs
// in the package's folder.
func Merge[F any](path string, figures map[string]F) error {
	if !filepath.IsAbs(path) {
		root, err := moduleRoot()
		if err != nil {
			return err
		}
		path = filepath.Join(root, path)
	}
	all := map[string]json.RawMessage{}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return err
	case len(bytes.TrimSpace(b)) > 0:
		if err := json.Unmarshal(b, &all); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	for k, v := range figures {
		var one bytes.Buffer
		enc := json.NewEncoder(&one)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return fmt.Errorf("figure %s: %w", k, err)
		}
		all[k] = bytes.TrimSpace(one.Bytes())
	}
	var out bytes.Buffer
	out.WriteString("{\n")
	keys := slices.Sorted(maps.Keys(all))
	for i, k := range keys {
		kb, _ := json.Marshal(k)
		fmt.Fprintf(&out, "  %s: %s", kb, all[k])
		if i < len(keys)-1 {
			out.WriteString(",")
		}
		out.WriteString("\n")
	}
	out.WriteString("}\n")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, out.Bytes(), 0o644)
}

// moduleRoot is the nearest folder at or above the working directory that
// holds go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}
