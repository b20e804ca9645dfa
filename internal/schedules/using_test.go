package schedules_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-run/flotilla/internal/schedules"
)

// TestDeletingAScheduledDefinitionIsRefused: a definition that a schedule
// launches cannot be deleted (the schedule would fire into errors); the
// 409 names the schedule, and once it is gone the delete works.
func TestDeletingAScheduledDefinitionIsRefused(t *testing.T) {
	t.Parallel()
	b := setup(t, time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC))
	sch := b.create(schedules.CreateRequest{Name: "nightly", Expression: "rate(1 hour)"})
	url := b.server()
	del := func(path string) (int, map[string]any) {
		req, _ := http.NewRequest("DELETE", url+path, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var p map[string]any
		json.NewDecoder(res.Body).Decode(&p)
		return res.StatusCode, p
	}
	code, p := del("/v1/definitions/hello")
	errs, _ := p["errors"].([]any)
	if code != 409 || len(errs) != 1 || !strings.Contains(p["detail"].(string), sch.ID) || !strings.Contains(p["detail"].(string), "nightly") ||
		errs[0].(map[string]any)["field"] != "definition" {
		t.Fatalf("DELETE a scheduled definition: %d %v", code, p)
	}
	if _, err := b.runs.Store.GetDefinition(t.Context(), "hello"); err != nil {
		t.Fatalf("the definition went anyway: %v", err)
	}
	if code, p := del("/v1/schedules/" + sch.ID); code != 204 {
		t.Fatalf("DELETE schedule: %d %v", code, p)
	}
	if code, p := del("/v1/definitions/hello"); code != 204 {
		t.Fatalf("DELETE the definition after its schedule: %d %v", code, p)
	}
}
