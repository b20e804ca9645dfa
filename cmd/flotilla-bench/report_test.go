package main

import (
	"strings"
	"testing"
	"time"
)

func TestMeetsGoal(t *testing.T) {
	for _, tc := range []struct {
		value     float64
		goal      string
		ok, known bool
	}{
		{12, "p99 < 20 ms", true, true},
		{20, "p99 < 20 ms", false, true},
		{10, "<= 10%", true, true},
		{1200, ">= 1000/s on 2 cores", true, true},
		{148, ">= 1,000/s", false, true},
		{2, "<= 1", false, true},
		{5, "", false, false},
		{5, "as fast as possible", false, false},
	} {
		ok, known := meetsGoal(tc.value, tc.goal)
		if ok != tc.ok || known != tc.known {
			t.Errorf("meetsGoal(%v, %q) = %v, %v; want %v, %v", tc.value, tc.goal, ok, known, tc.ok, tc.known)
		}
	}
}

func TestRenderReport(t *testing.T) {
	doc := renderReport(map[string]Result{
		"handoff_ms":           {Value: 12.5, Unit: "ms (p99)", Goal: "p99 < 100 ms"},
		"launches_per_s":       {Value: 148.1, Unit: "launches/s", Goal: ">= 1000/s on 2 cores", Note: "busy | machine"},
		"aws_requests_per_run": {Value: 9, Unit: "requests"},
	}, machine{CPUs: 2, CPUModel: "x", Memory: "8.0 GiB", Go: "go1.26", OS: "linux/amd64", Date: time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)}, "bench/results.json")
	for _, want := range []string{
		"| `handoff_ms` | 12.50 ms (p99) | p99 < 100 ms | yes |",
		"| `launches_per_s` | 148 launches/s | >= 1000/s on 2 cores | **no** | busy \\| machine |",
		"| `aws_requests_per_run` | 9 requests |  | — |",
		"1 figures meet their goal, 1 miss it, 1 have no goal.",
		"- CPUs: 2 (x)", "- memory: 8.0 GiB", "make bench",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("report lacks %q:\n%s", want, doc)
		}
	}
}
