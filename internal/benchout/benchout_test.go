package benchout_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/flotilla-run/flotilla/internal/benchout"
)

type figure struct {
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
	Goal  string  `json:"goal,omitempty"`
}

// Merge replaces its own keys, keeps the others, and writes goals as typed.
func TestMerge(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "results.json")
	os.WriteFile(path, []byte(`{"other": {"value": 1, "unit": "ms"}, "dynamodb_wcu_per_run": {"value": 99, "unit": "old"}}`), 0o644)
	if err := benchout.Merge(path, map[string]figure{"dynamodb_wcu_per_run": {15, "WRU", "<= 12"}}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	var got map[string]figure
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	want := map[string]figure{"other": {1, "ms", ""}, "dynamodb_wcu_per_run": {15, "WRU", "<= 12"}}
	if !reflect.DeepEqual(got, want) || !strings.Contains(string(b), `"<= 12"`) {
		t.Errorf("merged:\n%s", b)
	}
	// A file that is not JSON is refused, not overwritten.
	os.WriteFile(path, []byte("not json"), 0o644)
	if err := benchout.Merge(path, map[string]figure{"x": {1, "ms", ""}}); err == nil {
		t.Error("merged into a file that is not JSON")
	}
}
