//go:build linux

package e2e

import (
	"math"
	"testing"

	"github.com/flotilla-run/flotilla/internal/benchout"
)

// benchOutEnv names the results file the numbers are merged into
// (bench/results.json: {"<name>": {"value", "unit", "goal"}}).
const benchOutEnv = "FLOTILLA_BENCH_OUT"

type benchResult struct {
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
	Goal  string  `json:"goal,omitempty"`
}

// mergeBench writes results into bench/results.json (benchout.Merge).
func mergeBench(t *testing.T, path string, results map[string]benchResult) error {
	return benchout.Merge(path, results)
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }
