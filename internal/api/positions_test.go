package api_test

import (
	"testing"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// From an adversarial review: ?parent= and ?after= keep a page's QUEUED runs apart in their queue, but
// fillPositions numbers them as if they followed each other.
func TestQueuePositionsWithParentFilter(t *testing.T) {
	h := setup(t, options{noConsume: true})
	h.createDefinition("a", "true")
	launch := func(body map[string]any) flotilla.Run {
		body["definition"], body["cluster"] = "a", parkedCluster
		var r flotilla.Run
		h.must(202, "POST", "/v1/runs", body).into(t, &r)
		return r
	}
	p := launch(map[string]any{})
	c1 := launch(map[string]any{"parent": p.ID})
	launch(map[string]any{})
	c2 := launch(map[string]any{"parent": p.ID})
	var one flotilla.Run
	h.must(200, "GET", "/v1/runs/"+c2.ID, nil).into(t, &one)
	var page flotilla.Page[flotilla.Run]
	h.must(200, "GET", "/v1/runs?parent="+p.ID, nil).into(t, &page)
	for _, r := range page.Items {
		if r.ID == c2.ID && r.QueuePosition != one.QueuePosition {
			t.Errorf("?parent: child %s at position %d in the list, %d on its own page (c1 %s)", r.ID, r.QueuePosition, one.QueuePosition, c1.ID)
		}
	}
}
