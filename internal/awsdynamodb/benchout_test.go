package awsdynamodb_test

import (
	"maps"
	"slices"

	"github.com/flotilla-run/flotilla/internal/benchout"
)

// benchResult is one entry of bench/results.json.
type benchResult struct {
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
	Goal  string  `json:"goal,omitempty"`
}

// mergeBench writes results into bench/results.json (benchout.Merge).
func mergeBench(path string, results map[string]benchResult) error {
	return benchout.Merge(path, results)
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
