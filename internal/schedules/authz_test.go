package schedules_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/flotilla-run/flotilla/internal/schedules"
)

// Only a schedule's owner and the admins may change or delete it; an
// admin's change keeps the owner, so the schedule still fires as them.
func TestScheduleAccessByRole(t *testing.T) {
	t.Parallel()
	b := setup(t, now)
	base := b.server()
	send := func(caller string, admin bool, method, path, body string) (int, string) {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("X-Test-Caller", caller)
		if admin {
			req.Header.Set("X-Test-Admin", "1")
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		out, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(out)
	}
	sch := b.create(schedules.CreateRequest{Expression: "rate(1 hour)"})
	path := "/v1/schedules/" + sch.ID

	if code, body := send("bob", false, "PATCH", path, `{"expression":"rate(5 minutes)"}`); code != 403 ||
		!strings.Contains(body, "only the schedule's owner ("+owner+") or a member of flotilla-admins may change it") {
		t.Errorf("another member changed it: %d %s", code, body)
	}
	if code, body := send("bob", false, "DELETE", path, ""); code != 403 {
		t.Errorf("another member deleted it: %d %s", code, body)
	}
	if code, body := send("bob", false, "GET", path, ""); code != 200 {
		t.Errorf("another member cannot read it: %d %s", code, body)
	}
	if code, body := send(owner, false, "PATCH", path, `{"expression":"rate(2 hours)"}`); code != 200 {
		t.Errorf("its owner cannot change it: %d %s", code, body)
	}
	code, body := send("carol", true, "PATCH", path, `{"enabled":false}`)
	if code != 200 || !strings.Contains(body, `"owner":"`+owner+`"`) {
		t.Errorf("an admin's change: %d %s; want 200 with the owner kept", code, body)
	}
	if code, body := send("carol", true, "DELETE", path, ""); code != 204 {
		t.Errorf("an admin cannot delete it: %d %s", code, body)
	}
}
